"""The footer at any width: the keys that work here, most used first (keys.FOOTER_ORDER), as
many as fit beside the palette's key; the rest are behind `?` (the help lists every key). A key
that is off (read-only, replay) is not shown: pressing it says why in the status line."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from .keys import FOOTER_ORDER


def key_cells(key: str, description: str) -> int:
    """A compact FooterKey's width: key, space, description, and its right margin."""
    return cell_len(key) + 1 + cell_len(description) + 1


PALETTE_CELLS = 1   # the palette key's left border, beside key_cells


class FitFooter(Footer):
    def __init__(self, **kw: Any) -> None:
        super().__init__(compact=True, **kw)
        self.shown: list[Binding] = []   # what the last compose put in (tests read it)
        self._width = 0

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        width = self._width = self.app.size.width
        palette = active.get(self.app.COMMAND_PALETTE_BINDING) if self.app.ENABLE_COMMAND_PALETTE else None
        room = width
        if palette is not None:
            room -= key_cells(self.app.get_key_display(palette[1]), palette[1].description) + PALETTE_CELLS
        rank = {name: i for i, name in enumerate(FOOTER_ORDER)}
        seen: dict[str, Binding] = {}   # one key per action
        for _, b, enabled, _tip in active.values():
            if b.show and enabled and b.action not in seen:
                seen[b.action] = b
        order = sorted(seen.values(), key=lambda b: rank.get(b.id or "", len(rank)))
        self.shown = []
        for b in order:
            cells = key_cells(self.app.get_key_display(b), b.description)
            if cells > room:
                break   # strictly by rank: the keys kept are the most used ones
            room -= cells
            self.shown.append(b)
            yield FooterKey(b.key, self.app.get_key_display(b), b.description, b.action,
                            tooltip=b.tooltip).data_bind(compact=Footer.compact)
        if palette is not None:
            b = palette[1]
            yield FooterKey(b.key, self.app.get_key_display(b), b.description, b.action,
                            classes="-command-palette", tooltip=b.tooltip or b.description)

    def on_resize(self, event: Resize) -> None:
        if self.app.size.width != self._width and self._bindings_ready:
            self.call_after_refresh(self.recompose)
