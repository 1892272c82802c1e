"""LiveText (the header, the panes): its height follows its text, and the screen is laid out
again only when that height may change."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from kvmtune.ui.livetext import LiveText

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


class OneText(App[None]):
    CSS = "LiveText { width: 20; height: auto; }"

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield LiveText(id="t")


def layouts(w: LiveText) -> list[bool]:
    """Record each refresh the widget asks for, True for one with a layout."""
    asked: list[bool] = []
    refresh = w.refresh

    def spy(*a, **kw):
        asked.append(bool(kw.get("layout")))
        return refresh(*a, **kw)
    w.refresh = spy   # type: ignore[method-assign]
    return asked


async def test_the_height_follows_the_text_and_the_layout_runs_only_when_it_may_change():
    app = OneText()
    async with app.run_test(size=(40, 20)) as pilot:
        w = app.query_one(LiveText)
        w.show("a\nb")
        await pilot.pause()
        assert w.size.height == 2
        asked = layouts(w)
        w.show("c\nd")                      # as many lines, none too wide: no layout
        await pilot.pause()
        assert asked == [False] and w.size.height == 2
        assert str(w.render()).splitlines() == ["c", "d"]
        w.show("c\nd")                      # the same text: nothing at all
        assert asked == [False]
        w.show("a\nb\nc")                   # a line more: laid out, one line higher
        await pilot.pause()
        assert True in asked and w.size.height == 3
        long = "word " * 10                 # 50 cells in 20: wraps
        asked.clear()
        w.show(f"a\n{long}\nc")
        await pilot.pause()
        assert True in asked and w.size.height > 3
        high = w.size.height
        asked.clear()
        w.show(f"x\n{long}\nz")             # the same wide line, the others still fit: no layout
        await pilot.pause()
        assert asked == [False] and w.size.height == high
        asked.clear()
        w.show(f"x\n{long}{long}\nz")       # another wide line: laid out, higher again
        await pilot.pause()
        assert True in asked and w.size.height > high


async def test_hidden_it_asks_for_no_layout_and_shown_again_it_has_its_texts_height():
    """The header is hidden under a zoomed pane and still told each tick's text: no layout
    for it then (its width is 0: every line would count as too wide), the right height after."""
    app = OneText()
    async with app.run_test(size=(40, 20)) as pilot:
        w = app.query_one(LiveText)
        w.show("a")
        await pilot.pause()
        w.display = False
        await pilot.pause()
        asked = layouts(w)
        w.show("a\nb\nc")
        w.show("a\nb\nc\nd")
        await pilot.pause()
        assert True not in asked
        w.display = True
        await pilot.pause()
        assert w.size.height == 4
        w.show("e\nf\ng\nh")           # the first text after: laid out (its shape was not kept)
        w.show("i\nj\nk\nl")           # then as before: no layout for text as high
        await pilot.pause()
        assert asked[-2:] == [True, False] and w.size.height == 4
