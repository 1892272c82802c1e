"""Keys and their discoverability at 80x24: the footer fits, the help explains every column and
key and scrolls, the palette reaches every action, Ctrl+C quits, sorting as top and htop."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList, Static
from textual.widgets._footer import FooterKey
from uikit import demo_app, idle, next_tick, ready, select, wait_for

from kvmtune.ui import helptext, palette
from kvmtune.ui.footer import FitFooter
from kvmtune.ui.forms import ActionForm
from kvmtune.ui.keys import ACTION_KEYS, BINDINGS, FOOTER_ORDER
from kvmtune.ui.screens import HelpScreen
from kvmtune.ui.sorting import SortPicker
from kvmtune.ui.table import COLUMNS, SORT_KEYS, GuestTable

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def footer_keys(app) -> list[FooterKey]:
    return list(app.screen.query(FooterKey))


def assert_footer_fits(app, width: int) -> None:
    keys = footer_keys(app)
    assert keys
    palette_key = [k for k in keys if k.has_class("-command-palette")]
    assert len(palette_key) == 1
    right = palette_key[0].region
    assert right.right <= width
    for k in keys:
        r = k.region
        assert r.width > 0 and r.x >= 0 and r.right <= width, (k.key, r)
        if k is not palette_key[0]:
            assert r.right <= right.x, f"{k.key_display} under the palette key"


async def test_footer_fits_80_columns_most_used_keys_first_and_follows_resizes():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.1)
        assert_footer_fits(app, 80)
        shown = [b.id for b in app.query_one(FitFooter).shown]
        assert shown[:4] == ["quit", "help", "filter", "sort_menu"]
        assert shown == [i for i in FOOTER_ORDER if i in shown]   # most used first, in order
        assert "pin" in shown and "move" in shown and "undo" in shown
        assert "theme" not in shown                               # behind `?` at this width
        await pilot.resize_terminal(200, 50)
        await wait_for(pilot, lambda: len(app.query_one(FitFooter).shown) > len(shown), what="a wider footer")
        await pilot.pause(0.1)
        assert_footer_fits(app, 200)
        wide = {b.id for b in app.query_one(FitFooter).shown}
        for key in ("host", "filter", "undo", "log", "theme", "ksm_toggle", "ksm_settings", "hugepages", "weight"):
            assert key in wide, key
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: len(app.query_one(FitFooter).shown) == len(shown), what="the footer to shrink")
        await pilot.pause(0.1)
        assert_footer_fits(app, 80)


async def test_read_only_footer_leaves_out_the_disabled_keys():
    app = demo_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.1)
        assert_footer_fits(app, 80)
        shown = {b.id for b in app.query_one(FitFooter).shown}
        assert not shown & set(ACTION_KEYS), shown & set(ACTION_KEYS)
        assert {"quit", "help", "filter", "host", "log"} <= shown    # their room goes to keys that work
        assert not {k.key for k in footer_keys(app)} & set(ACTION_KEYS.values())
        await pilot.press("p")
        assert "read-only" in app.status_text and len(app.screen_stack) == 1


async def test_help_explains_every_column_and_key_fits_80_columns_and_scrolls_to_its_end():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        box, body = help_screen.query_one("#help"), help_screen.query_one("#help-body", Static)
        plain = help_screen.plain
        # no line wider than the box: the body is as many rows as lines (nothing wrapped again)
        assert box.region.right <= 80 and body.size.width <= 75
        assert max(len(line) for line in plain) <= body.size.width
        assert body.size.height == len(plain)
        for c in COLUMNS:                                  # every column explained
            assert any(line.startswith(f"  {c.label} ") and c.help.split()[0] in line for line in plain), c.label
        # every binding that says what it does is in the help, with its key
        rows = {i: r for s in help_screen.sections for r in s.rows for i in r.ids}
        for b in BINDINGS:
            if b.description:
                row = rows.get(b.id)
                assert row is not None, b.id
                assert helptext.key_name(b) in row.keys.split() or row.keys.startswith("1…"), (b.id, row.keys)
                assert any(line.startswith(f"  {row.keys}") for line in plain), row.keys
        # scrolls from the keyboard, to its last line
        assert box.max_scroll_y > 0 and box.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause(0.1)
        assert box.scroll_y > 0
        await pilot.press("end")
        await wait_for(pilot, lambda: box.scroll_y == box.max_scroll_y, what="the end of the help")
        assert box.scroll_y + box.scrollable_content_region.height >= len(plain)
        await pilot.press("home")
        await wait_for(pilot, lambda: box.scroll_y == 0, what="the top of the help")
        await pilot.resize_terminal(120, 30)                  # wider: wrapped again, to the new width
        await wait_for(pilot, lambda: body.size.width == 79, what="the help to follow the resize")
        await pilot.pause()
        assert len(help_screen.plain) < len(plain) and body.size.height == len(help_screen.plain)
        assert max(len(line) for line in help_screen.plain) <= 79
        await pilot.press("escape")
        assert len(app.screen_stack) == 1


async def test_palette_reaches_every_key_every_sort_column_and_pane():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        commands = list(app.get_system_commands(app.screen))
        titles = [c.title for c in commands]
        replay_only = {b.id for b in BINDINGS if helptext.HELP_TEXT.get(b.id or "", "").startswith("replay")}
        for b in BINDINGS:
            if b.id in palette.SKIP or b.id in replay_only or not b.description:
                continue
            key = helptext.key_name(b)
            assert any(t.endswith(")") and key in t.rsplit("(", 1)[1][:-1].split() for t in titles), (b.id, key)
        for what in ("Transparent hugepages", "Automatic NUMA balancing", "Pin an I/O thread",
                     "Pane 2: vCPUs (2)", "Sort: pick the column"):
            assert any(t.startswith(what) for t in titles), what
        for c in COLUMNS:
            assert any(t.startswith(f"Sort by {c.label}: ") for t in titles), c.label
        # a sort entry sorts, in the column's own first order
        cmd = next(c for c in commands if c.title.startswith("Sort by Wr/s"))
        cmd.callback()
        await pilot.pause()
        assert app.sort_key == "wr" and app.sort_reverse
        # the palette itself: type, Enter, and the THP form opens
        await pilot.press("ctrl+p", *"transparent", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionForm), what="the THP form")
        assert "transparent hugepages" in app.screen.title_text


async def test_thp_numa_balancing_and_iothreadpin_forms_apply():
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert app.snap.host.thp_enabled == "madvise" and app.snap.host.numa_balancing == 1
        await pilot.press("T", "right", "enter")              # madvise -> never
        await idle(pilot, app)
        assert "applied" in app.status_text, app.status_text
        await pilot.press("N", "enter")                       # on -> off
        await idle(pilot, app)
        assert "applied" in app.status_text, app.status_text
        await next_tick(pilot, app)
        assert app.snap.host.thp_enabled == "never" and app.snap.host.numa_balancing == 0
        await select(pilot, app, "db-primary")
        await pilot.press("i", "shift+tab")                   # picker -> the CPU list
        await pilot.press("ctrl+u", *"40-41", "enter")
        await idle(pilot, app)
        assert "applied" in app.status_text, app.status_text
        await next_tick(pilot, app)
        assert app.snap.guest("db-primary").iothreads[0].affinity == (40, 41)
        kinds = [e["action"] for e in app.executor.entries()]
        assert kinds == ["thp", "numa_balancing", "iothreadpin"]
        await select(pilot, app, "web-01")                    # no I/O threads: says so, no form
        await pilot.press("i")
        assert len(app.screen_stack) == 1 and "no I/O threads" in app.status_text


async def test_ctrl_c_quits_as_q_does_even_from_a_form():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+c")
        assert app.return_code == 0
    assert not app.is_running
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("m")                                 # a form with a text field focused
        assert isinstance(app.screen, ActionForm)
        await pilot.press("ctrl+c")
        assert app.return_code == 0
    assert not app.is_running


def column_values(app, key: str) -> list:
    return [app.rows[n][key][1] for n in app.query_one(GuestTable)._order]


def header_label(app, key: str) -> str:
    return str(app.query_one(GuestTable).columns[key].label)


async def test_numeric_columns_sort_descending_first_and_the_header_marks_the_order():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        assert header_label(app, "name") == "Name▲"
        await pilot.press("s", "s", "s")                       # name -> state -> vC -> CPU%
        assert app.sort_key == "cpu" and app.sort_reverse
        cpu = column_values(app, "cpu")
        assert cpu == sorted(cpu, reverse=True) and cpu[0] > cpu[-1]   # the busiest on top
        assert header_label(app, "cpu") == "CPU%▼" and header_label(app, "name") == "Name"
        assert "sorted by CPU% ▼ descending" in app.status_text
        await pilot.press("S")
        assert header_label(app, "cpu") == "CPU%▲" and column_values(app, "cpu") == sorted(cpu)
        await pilot.press("s")                                 # Mem: the biggest first
        mem = column_values(app, "mem")
        assert app.sort_key == "mem" and mem == sorted(mem, reverse=True)
        while app.sort_key != "local":
            await pilot.press("s")
        local = column_values(app, "local")                    # Local: the worst (least local) first
        assert not app.sort_reverse and local == sorted(local) and header_label(app, "local") == "Local▲"
        await pilot.press("s")                                 # P: one cell wide, the column grows for ▼
        assert header_label(app, "pin") == "P▼" and app.query_one(GuestTable).columns["pin"].width == 2
        await next_tick(pilot, app)
        assert header_label(app, "pin") == "P▼"                # a refresh keeps the mark


async def test_sort_picker_picks_a_column_directly_and_again_reverses():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("greater_than_sign")
        picker = app.screen
        assert isinstance(picker, SortPicker)
        options = picker.query_one(OptionList)
        assert options.option_count == len(COLUMNS) and options.highlighted == 0
        await pilot.press(*["down"] * SORT_KEYS.index("wr"), "enter")
        assert len(app.screen_stack) == 1
        assert app.sort_key == "wr" and app.sort_reverse and header_label(app, "wr") == "Wr/s▼"
        await pilot.press("f6")                                # F6 as in htop; the sorted one is highlighted
        assert isinstance(app.screen, SortPicker)
        assert app.screen.query_one(OptionList).highlighted == SORT_KEYS.index("wr")
        await pilot.press("enter")
        assert app.sort_key == "wr" and not app.sort_reverse
        await pilot.press("less_than_sign", "down", "escape")  # Esc: nothing changes
        assert len(app.screen_stack) == 1 and app.sort_key == "wr" and not app.sort_reverse


async def test_home_end_page_up_and_down_move_the_selection():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        t = app.query_one(GuestTable)
        assert t.cursor_row == 0 and t.max_scroll_y > 0        # not every guest fits
        await pilot.press("end")
        assert t.cursor_row == t.row_count - 1 and t.selected == t._order[-1]
        assert app.selected_guest().name == t._order[-1]
        await pilot.press("home")
        assert t.cursor_row == 0 and t.scroll_y == 0
        await pilot.press("pagedown")
        assert t.cursor_row > 1
        await pilot.press("pageup")
        assert t.cursor_row == 0
