"""The detail panes at 80x24: every pane scrolls from the keyboard to its last line and says
what is out of sight; `f` zooms the pane to the full screen and back; at wide terminals a
second pane shows beside the selected one. On the demo host, read off the screen as drawn."""

from __future__ import annotations

import pytest
from uikit import demo_app, next_tick, ready, select

from kvmtune.ui.panes import PANES
from kvmtune.vocab import VCPU_STATES

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def screen_lines(app) -> list[str]:
    """The screen as the terminal shows it, one string per row."""
    update = app.screen._compositor.render_full_update()
    return ["".join(s.text for s in row if s is not None) for row in update.strips]


def pane_shown(app, key: str) -> str:
    """The rows of the screen where pane `key` shows (its viewport)."""
    r = app.query_one("#advice-list" if key == "advice" else f"#scroll-{key}").region
    return "\n".join(screen_lines(app)[r.y:r.y + r.height])


def pane_lines(app, key: str) -> list[str]:
    """Every line of pane `key`'s text as wrapped at its width (what scrolling must reach)."""
    from textual.visual import Visual
    st = app.query_one(f"#pane-{key}")
    strips = Visual.to_strips(st, st.visual, st.size.width, None, st.visual_style)
    return [s.text.rstrip() for s in strips]


def last_line(app, key: str) -> str:
    if key == "advice":   # the list of findings: its last option's last line
        lst = app.query_one("#advice-list")
        return str(lst.get_option_at_index(lst.option_count - 1).prompt).splitlines()[-1].strip()[:40]
    return next(x for x in reversed(pane_lines(app, key)) if x.strip()).strip()[:40]


def more(app) -> str:
    w = app.query_one("#pane-more")
    return str(w.content) if w.display else ""


async def scroll_to_end(pilot, app, key: str = "ctrl+d", limit: int = 40) -> int:
    """Press `key` until the pane says nothing is below; returns how many presses it took."""
    for n in range(limit):
        if "more line" not in more(app):
            return n
        await pilot.press(key)
        await pilot.pause()
    raise AssertionError(f"still more below after {limit} presses: {more(app)!r}")


async def test_every_pane_scrolls_to_its_last_line_at_80x24():
    # one app for the eight panes (the ui tier stays fast); each pane starts at its top
    app = demo_app()
    app.feed.collector.perf.enable(True)   # pane 7 with its (simulated) counters: the longest pane
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "build-runner")   # every pane has something to show
        for index, (key, _) in enumerate(PANES):
            await pilot.press(str(index + 1))
            await pilot.pause()
            end = last_line(app, key)
            if key == "net":   # build-runner's one interface fits: no line under the pane
                assert end in pane_shown(app, key) and "more line" not in more(app)
                continue
            assert end not in pane_shown(app, key), key   # it does not fit: the pane must scroll
            assert "more line" in more(app), key           # ... and says so
            assert await scroll_to_end(pilot, app) > 0
            assert end in pane_shown(app, key), key
            assert "above" in more(app) and "more line" not in more(app), key
            await pilot.press("shift+up")                  # a line back up: more below again
            await pilot.pause()
            assert "↓ 1 more line" in more(app), key
            await pilot.press("shift+down")
            await pilot.pause()
            assert end in pane_shown(app, key), key
            assert app.focused is not None and app.focused.id == "guests"   # ↑ ↓ still select guests
        await pilot.press("1")                              # back on pane 1: at its top again
        await pilot.pause()
        assert "above" not in more(app)


async def test_vcpu_pane_shows_the_vcpu_table_first_and_the_load_where_a_vcpu_runs():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "db-primary")
        await pilot.press("2")
        await pilot.pause()
        lines = pane_lines(app, "vcpu")
        assert lines[0].startswith("db-primary  8 vCPUs  pinned 8 of 8") and lines[1].startswith("vCPU state")
        assert lines.index(next(x for x in lines if x.startswith("host CPUs"))) > 8
        shown = "\n".join(screen_lines(app))
        assert "vCPU state" in shown and "tid  CPU node   time    % pin affinity" in shown
        assert "host CPUs" not in shown
        # the map keeps each CPU's load glyph where a vCPU runs (no "v" in place of it)
        assert not any("v" in x.split(" ", 2)[-1] for x in lines if x.startswith("N"))


async def test_shift_down_reads_every_vcpu_of_db_primary_with_the_filter_on():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("slash", *"db-primary", "enter", "2")
        await pilot.pause()
        assert app.selected_guest().name == "db-primary"
        seen: set[int] = set()
        for _ in range(12):
            for row in screen_lines(app):
                parts = row.split()
                if len(parts) >= 4 and parts[0].isdigit() and parts[1] in VCPU_STATES and parts[2].isdigit():
                    seen.add(int(parts[0]))
            if "more line" not in more(app):
                break
            await pilot.press("shift+down")
            await pilot.pause()
        assert seen == set(range(8))
        y = app.query_one("#scroll-vcpu").scroll_y
        await next_tick(pilot, app)                  # a refresh keeps where the pane was scrolled to
        assert app.query_one("#scroll-vcpu").scroll_y == y > 0 and "above" in more(app)


async def test_f_zooms_the_pane_to_the_full_screen_and_back():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "build-runner")
        await pilot.press("2")
        await pilot.pause()
        before = app.query_one("#scroll-vcpu").size.height
        assert app.query_one("#guests").display
        await pilot.press("f")
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert "Name" not in shown and "hv-demo-01" not in shown    # no header, no table
        assert app.query_one("#scroll-vcpu").size.height >= before + 10
        assert "Esc back" in more(app)
        # zoomed, the pane has the focus: the plain arrows and End scroll it
        assert app.focused is app.query_one("#scroll-vcpu")
        await pilot.press("end")
        await pilot.pause()
        assert last_line(app, "vcpu") in pane_shown(app, "vcpu")
        await pilot.press("5")                                      # another pane, still zoomed
        await pilot.pause()
        assert app.focused is app.query_one("#scroll-block")
        await pilot.press("slash", "b", "u", "enter")              # a filter typed while zoomed
        await pilot.pause()
        assert app.zoomed and app.name_filter == "bu"
        assert app.focused is app.query_one("#scroll-block")        # Enter gives the pane its keys back
        await pilot.press("escape")                                 # back
        await pilot.pause()
        assert app.query_one("#guests").display and app.focused.id == "guests"
        assert "build-runner" in "\n".join(screen_lines(app))
        await pilot.press("f", "f")                                 # f toggles too
        await pilot.pause()
        assert not app.zoomed and app.query_one("#guests").display
        await pilot.press("question_mark")                          # and the help names the keys
        await pilot.pause()
        from textual.widgets import Static
        text = "\n".join(str(w.content) for w in app.screen.query(Static))
        assert "⇧↓" in text and "^d" in text and "the detail pane on the full screen" in text


async def test_wide_terminal_shows_a_second_pane_beside_and_fills_the_height():
    app = demo_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "build-runner")
        await pilot.press("2")
        await pilot.pause()
        assert app.query_one("#side").display
        shown = "\n".join(screen_lines(app))
        assert "vCPU state" in shown and "locality" in shown    # vCPUs, NUMA memory beside them
        await pilot.press("1")
        await pilot.pause()
        assert "2 vCPUs" in str(app.query_one("#side-title").content)
        await pilot.resize_terminal(120, 40)   # narrower: one pane, and the header and table follow
        await pilot.pause(0.3)
        assert not app.query_one("#side").display
        assert app.query_one("#pane-numa").size.width > 100
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        lines = screen_lines(app)
        assert "Huge" not in next(x for x in lines if "Name" in x)   # the 80-column table
        assert "more line" in more(app)
