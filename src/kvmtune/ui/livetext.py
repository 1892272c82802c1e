"""LiveText: a Static whose text is replaced at every refresh (the header, the panes)."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual.content import Content
from textual.widgets import Static

# What a text's height follows from at a width: its number of lines and those wider than the
# width, which wrap (a line that fits is one line, whatever it says)
_Shape = tuple[int, tuple[str, ...]]


class LiveText(Static):
    """`show(text)` replaces the text, laying the screen out again only when the height may
    change. Static.update lays out the whole screen each time (the header's and the panes'
    heights are their text's): 4-5 ms of a refresh at 1000 guests, for text as high as
    before: as many lines, the same ones too wide (a finding in the header, wrapped)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._shown: tuple[str, _Shape | None, int] | None = None   # the text, its shape, the width

    def show(self, text: str) -> None:
        last = self._shown
        if last is not None and self.content is last[0] and text == last[0]:
            return   # the same text as shown: nothing to parse, lay out or paint
        self.update(text, layout=False)
        if not self.display:   # (hidden, as the header under a zoomed pane: laid out when shown)
            self._shown = None
            return
        width = self.size.width
        shape = self._shape(width)
        if last is None or shape is None or (shape, width) != last[1:]:
            self.refresh(layout=True)
        self._shown = (text, shape, width)

    def _shape(self, width: int) -> _Shape | None:
        visual = self.visual
        if not isinstance(visual, Content) or width <= 0:
            return None
        lines = visual.plain.split("\n")
        return len(lines), tuple(line for line in lines if cell_len(line) > width)

    def notify_style_update(self) -> None:
        self._shown = None   # a new theme or style: the next show() paints, even the same text
        super().notify_style_update()
