"""The app on the demo host, driven by the real keys (Pilot)."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from dataclasses import replace

import pytest
from textual.widgets import Input, Static, TabbedContent
from uikit import demo_app, idle, next_tick, ready, select, wait_for

from kvmtune import analysis
from kvmtune.ui.app import KvmtuneApp
from kvmtune.ui.forms import ActionForm, CpuPicker
from kvmtune.ui.panes import PANES
from kvmtune.ui.screens import ConfirmScreen, HelpScreen, HostScreen, LogScreen
from kvmtune.ui.table import GuestTable

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def table(app) -> GuestTable:
    return app.query_one(GuestTable)


async def confirm_if_asked(pilot, app) -> None:
    await wait_for(pilot, lambda: not app._busy, what="the action")
    await pilot.pause()
    if isinstance(app.screen, ConfirmScreen):
        await pilot.press("y")
        await wait_for(pilot, lambda: not app._busy, what="the confirmed action")
    await pilot.pause()


async def test_starts_with_header_table_and_six_panes():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        assert table(app).row_count == len(app.snap.guests) > 0
        header = str(app.query_one("#header", Static).content)
        assert app.snap.host.hostname in header and "N0" in header
        tabs = app.query_one(TabbedContent)
        for i, (key, _) in enumerate(PANES):
            await pilot.press(str(i + 1))
            assert tabs.active == f"tab-{key}"
            assert str(app.query_one(f"#pane-{key}", Static).content).strip()
        await pilot.press("tab")
        assert tabs.active == "tab-numa"
        assert app.return_code is None and app.is_running
        await pilot.press("q")
        assert app.return_code == 0                     # q asked the app to exit, with 0
    assert app.return_code == 0 and not app.is_running  # and it did: run_test ended with it


async def test_selection_and_scroll_survive_refreshes():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        t = table(app)
        assert t.scroll_y == 0 and t.max_scroll_y > 0      # at 80x24 not every guest fits
        await pilot.press(*["down"] * (t.row_count - 1))  # to the last guest: the table scrolls
        chosen = t.selected
        assert chosen == t._order[-1]
        assert t.scroll_y == t.max_scroll_y > 0
        await next_tick(pilot, app)
        await next_tick(pilot, app)
        assert t.selected == chosen and t.scroll_y == t.max_scroll_y
        await pilot.press(*["up"] * (t.row_count - 1))    # and back up to the first
        assert t.selected == t._order[0] and t.scroll_y == 0


async def test_the_tables_cells_read_back_as_the_last_refresh_shows_them():
    """get_cell / get_row give the texts of the last refresh (the table keeps them itself,
    not in DataTable's row data): a guest's CPU % changes between ticks, and reads back new."""
    from kvmtune.ui.table import row_values
    app = demo_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot, app)
        t = table(app)
        seen = []
        for _ in range(3):
            await next_tick(pilot, app)
            want = row_values(app.frame.snap.guest("web-01"), app.frame)
            assert t.get_cell("web-01", "cpu") == want["cpu"][0]
            assert t.get_row("web-01") == [want[c.key][0] for c in t._cols]
            seen.append(t.get_cell("web-01", "cpu"))
        assert len(set(seen)) > 1, seen


async def test_sort_keys_and_filter():
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        names = [g.name for g in app.snap.guests]
        assert table(app)._order == sorted(names)
        await pilot.press("S")
        assert table(app)._order == sorted(names, reverse=True)
        await pilot.press("S", "s", "s")        # state, then vCPUs: the most first
        assert app.sort_key == "vcpus" and app.sort_reverse
        vc = [len(app.snap.guest(n).vcpus) for n in table(app)._order]
        assert vc == sorted(vc, reverse=True)
        await pilot.press("S")
        vc = [len(app.snap.guest(n).vcpus) for n in table(app)._order]
        assert vc == sorted(vc)
        await pilot.press("slash", "w", "e", "b")
        assert app.name_filter == "web"
        assert table(app)._order and all("web" in n for n in table(app)._order)
        await pilot.press("enter")
        await next_tick(pilot, app)
        assert all("web" in n for n in table(app)._order)      # the filter holds across refreshes
        await pilot.press("slash", "escape")
        assert app.name_filter == "" and table(app).row_count == len(names)


async def test_pin_through_the_picker_shows_in_next_snapshot_and_audit_log(state_home):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        name = "dns-01"
        await select(pilot, app, name)
        before = app.snap.guest(name).vcpus[0].affinity
        await pilot.press("p")
        assert isinstance(app.screen, ActionForm)
        picker = app.screen.query_one(CpuPicker)
        assert picker.has_focus
        await pilot.press("right", "right", "space")          # CPU in the 3rd picker slot
        want = picker.order[2]
        assert app.screen.query_one("#f-cpus", Input).value == str(want)
        assert "virsh vcpupin dns-01" in str(app.screen.query_one("#command", Static).content)
        await pilot.press("enter")
        await confirm_if_asked(pilot, app)
        assert "applied" in app.status_text
        await idle(pilot, app)
        await next_tick(pilot, app)
        g = app.snap.guest(name)
        assert all(v.affinity == (want,) and v.pinned for v in g.vcpus), (before, g.vcpus)
        entries = app.executor.entries()
        assert entries[-1]["action"] == "vcpupin" and entries[-1]["result"] == "applied"
        assert entries[-1]["target"] == name
        assert (state_home / "kvmtune" / "demo" / "seed-1" / "actions.log").is_file()   # the demo's own log
        assert not (state_home / "kvmtune" / "actions.log").exists()                  # not the real hosts'
        assert table(app)._cells[name][7][0] == "P"               # the pinned marker


async def test_move_puts_vcpus_emulator_and_numatune_on_one_node_and_undo_restores():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        name = "build-runner"                       # split over nodes 2-3 in the demo
        await select(pilot, app, name)
        g0 = app.snap.guest(name)
        node = analysis.best_node(g0, app.snap.host, app.snap)
        await pilot.press("M")
        assert isinstance(app.screen, ActionForm)
        assert app.screen.query_one("#f-nodes", Input).value == str(node)
        await pilot.press("enter")
        await confirm_if_asked(pilot, app)
        assert "applied" in app.status_text, app.status_text
        await idle(pilot, app)
        await next_tick(pilot, app)
        g = app.snap.guest(name)
        cpus = set(app.snap.host.node(node).cpus)
        assert all(set(v.affinity) <= cpus for v in g.vcpus)
        assert set(g.emulator_affinity) <= cpus
        assert g.numatune is not None and g.numatune.nodeset == str(node)
        await pilot.press("z")
        await confirm_if_asked(pilot, app)
        assert app.status_text.startswith("undo: applied"), app.status_text
        await idle(pilot, app)
        await next_tick(pilot, app)
        g = app.snap.guest(name)
        assert [v.affinity for v in g.vcpus] == [v.affinity for v in g0.vcpus]
        assert g.emulator_affinity == g0.emulator_affinity
        if g0.numatune is not None:
            assert g.numatune == g0.numatune
        # else: libvirt can neither remove a live numatune nor change a strict one while the
        # guest runs, so the undo keeps the move's (the actions' documented behaviour)


async def test_read_only_refuses_and_leaves_the_action_keys_out():
    app = demo_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        aff = [v.affinity for v in app.snap.guests[0].vcpus]
        for key in ("p", "M", "z", "k"):
            await pilot.press(key)
            assert len(app.screen_stack) == 1
            assert "read-only" in app.status_text
        assert app.check_action("pin", ()) is False         # not in the footer (the help says why)
        assert "READ-ONLY" in str(app.query_one("#header", Static).content)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Tuning (off: read-only)" in app.screen.plain
        await pilot.press("escape")
        await next_tick(pilot, app)
        assert [v.affinity for v in app.snap.guests[0].vcpus] == aff
        assert app.executor.entries() == []
        # even a direct call is refused by the executor
        from kvmtune.actions import VcpuPin
        r = app.executor.run(VcpuPin(app.snap.guests[0].name, 0, (1,)), app.snap)
        assert r.status == "refused"


async def test_invalid_input_applies_nothing():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        name = "dns-01"
        await select(pilot, app, name)
        aff = app.snap.guest(name).vcpus[0].affinity
        await pilot.press("p", "shift+tab")                  # picker -> the CPU list field
        assert app.screen.query_one("#f-cpus", Input).has_focus
        await pilot.press(*"999")
        problems = str(app.screen.query_one("#problems", Static).content)
        assert "999" in problems
        await pilot.press("enter")
        assert isinstance(app.screen, ActionForm)             # still open: nothing applied
        await pilot.press("ctrl+u", *"1-x")
        assert "not a number" in str(app.screen.query_one("#problems", Static).content)
        await pilot.press("enter", "escape")
        assert len(app.screen_stack) == 1 and app.status_text == "cancelled"
        await pilot.press("m")                               # memtune: a hard_limit that is no size
        await pilot.press(*"lots", "enter")
        assert isinstance(app.screen, ActionForm)
        assert "not a size" in str(app.screen.query_one("#problems", Static).content)
        await pilot.press("escape")
        await next_tick(pilot, app)
        assert app.snap.guest(name).vcpus[0].affinity == aff
        assert app.executor.entries() == []


async def test_dry_run_changes_nothing_and_says_what_it_would_run():
    app = demo_app(dry_run=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "dns-01")
        aff = app.snap.guest("dns-01").vcpus[0].affinity
        await pilot.press("p", "space", "enter")
        await idle(pilot, app)
        assert "dry run" in app.status_text and "virsh vcpupin" in app.status_text
        await next_tick(pilot, app)
        assert app.snap.guest("dns-01").vcpus[0].affinity == aff


async def test_help_host_view_log_and_theme():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "H")
        assert isinstance(app.screen, HostScreen)
        await pilot.pause(0.1)
        body = str(app.screen.query_one("#host-body", Static).content)
        assert "node 0" in body and "node 3" in body
        await pilot.press("escape", "L")
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape")
        first = app.theme
        await pilot.press("t")
        assert app.theme != first and app.theme.startswith("kvmtune-")
        await pilot.press("t", "t")
        assert app.theme == first


async def test_keys_inside_a_form_do_not_trigger_app_actions():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        await pilot.press("q", "M", "H")              # in the picker: no quit, no new screens
        assert isinstance(app.screen, ActionForm) and len(app.screen_stack) == 2
        await pilot.press("escape")
        assert len(app.screen_stack) == 1


class SlowFeed:
    """Wraps a feed; counts how many polls overlap."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay
        self.label, self.source = inner.label, inner.source
        self.running = self.max_running = self.calls = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.max_running = max(self.max_running, self.running)
        try:
            time.sleep(self.delay)
            return self.inner.next()
        finally:
            with self.lock:
                self.running -= 1

    def close(self):
        self.inner.close()


async def test_polls_never_overlap_even_when_slower_than_the_interval():
    from kvmtune.demo import DemoFeed, open_demo
    slow = SlowFeed(DemoFeed(open_demo(seed=1)), 0.2)
    app = KvmtuneApp(slow, None, interval=0.01)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: slow.calls >= 4, what="four polls")
        for _ in range(5):
            app.start_poll()                          # a burst of "refresh now" requests
        await wait_for(pilot, lambda: slow.calls >= 7, what="more polls")
        assert slow.max_running == 1
        assert app.check_action("pin", ()) is False   # no executor: no action keys


class Flaky:
    """A feed that fails, or loses libvirt, when told to."""

    def __init__(self, inner):
        self.inner, self.mode = inner, "ok"
        self.label, self.source = inner.label, inner.source

    def next(self):
        snap = self.inner.next()
        if self.mode == "raise":
            raise RuntimeError("boom")
        if self.mode == "disconnected":
            return replace(snap, guests=(), disconnected=True)
        return snap

    def close(self):
        self.inner.close()


async def test_disconnected_keeps_last_guests_greyed_and_errors_are_one_line():
    from kvmtune.demo import DemoFeed, open_demo
    flaky = Flaky(DemoFeed(open_demo(seed=1)))
    app = KvmtuneApp(flaky, None, interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        n = table(app).row_count
        flaky.mode = "disconnected"
        await next_tick(pilot, app)
        assert "DISCONNECTED" in str(app.query_one("#header", Static).content)
        assert table(app).row_count == n and table(app).has_class("stale")
        flaky.mode = "raise"
        app.start_poll()
        await wait_for(pilot, lambda: "collection failed: boom" in app.status_text, what="the error")
        flaky.mode = "ok"
        await next_tick(pilot, app)
        assert not table(app).has_class("stale")
        assert "DISCONNECTED" not in str(app.query_one("#header", Static).content)


async def test_the_app_runs_on_any_feed_object():
    """The seam: a feed a test provides (snapshots from a JSON file, no host, no executor)."""
    from pathlib import Path

    from kvmtune.model import Snapshot
    base = Snapshot.loads((Path(__file__).parents[1] / "fixtures" / "snapshot-2node.json").read_text())

    class JsonFeed:
        label, source = "fixture", None

        def __init__(self):
            self.n = 0

        def next(self):
            self.n += 1
            return replace(base, time=base.time + 2 * self.n)

        def close(self):
            pass

    feed = JsonFeed()
    app = KvmtuneApp(feed, None, interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert table(app).row_count == len(base.guests) and feed.n == 2
        assert {g.name for g in app.snap.guests} == {g.name for g in base.guests}
        assert base.host.hostname in str(app.query_one("#header", Static).content)
        await pilot.press("p")
        assert len(app.screen_stack) == 1                  # no executor: no forms


async def test_command_palette_reaches_the_actions():
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for what in ("Pin", "Move", "Undo", "Host view", "The audit log", "Next colour theme"):
            assert any(t.startswith(what) for t in titles), (what, titles)
        await pilot.press("ctrl+p")
        await pilot.press(*"host view")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HostScreen), what="the host view")


async def test_status_messages_expire_and_the_log_screen_has_them_in_full(monkeypatch):
    from kvmtune.ui import status
    monkeypatch.setitem(status.EXPIRE_S, "info", 0.3)
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        long = "a long message: " + " ".join(f"word{i}" for i in range(40)) + " THE-END"
        app.set_status(long)
        await pilot.pause()
        shown = str(app.query_one("#status", Static).content)
        assert shown.endswith("… (L: in full)") and "THE-END" not in shown and len(shown) <= 78
        assert app.status_text == long
        await pilot.pause(0.6)
        assert app.status_text == "" and str(app.query_one("#status", Static).content) == ""
        app.set_status("same again", "warning")
        app.set_status("same again", "warning")
        await pilot.press("L")
        assert isinstance(app.screen, LogScreen)
        body = str(app.screen.query_one("#log-body", Static).content)
        assert "THE-END" in body and "same again" in body and "(×2)" in body
        assert body.index("same again") < body.index("THE-END")   # newest first


async def test_the_first_screen_shows_every_guest_before_their_settings_are_read(monkeypatch):
    """A poll reads settings for so long only (SETTINGS_BUDGET_S; here one guest a poll): the
    first screen lists every guest, the ones still unread say so, and the polls right after it
    read the rest without waiting for the interval (an hour here)."""
    from kvmtune.ui import app as app_module
    monkeypatch.setattr(app_module, "SETTINGS_BUDGET_S", (1e-9, 1e-9))
    app = demo_app(settings_budget=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1, what="the first snapshot")
        # (read in one step: the next polls follow at once and may read more meanwhile)
        frame, rows, pending = app.frame, app.rows, app.pending
        header = str(app.query_one("#header", Static).content)
        n = len(frame.snap.guests)
        assert table(app).row_count == n and 0 < pending < n
        assert f"settings {n - pending}/{n}" in header
        unread = next(g for g in frame.snap.guests if g.settings_pending)
        assert "reading its settings from libvirt" in app.pane_text("numa", frame, unread, 100)
        assert rows[unread.name]["pin"][0] == "…"
        await wait_for(pilot, lambda: app.pending == 0, timeout=60, what="every guest's settings")
        await wait_for(pilot, lambda: not app._polling, what="the polls to stop")
        ticks = app.ticks
        await pilot.pause(0.3)
        assert app.ticks == ticks                    # then back to the interval: no more polls
        assert "settings " not in str(app.query_one("#header", Static).content)


async def test_the_header_ages_the_shown_sample_until_the_next_one():
    """The age counts from when the poll began to collect the sample, grows while no new one
    comes (redrawn twice a second), turns yellow past two intervals, and a new sample resets it."""
    now = [100.0]
    app = demo_app(interval=3600.0, clock=lambda: now[0])

    def header() -> str:
        return str(app.query_one("#header", Static).content)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert "every 3600s  age 0.0s" in header()
        now[0] += 7.25
        await wait_for(pilot, lambda: "age 7.2s" in header(), what="the age to grow")
        now[0] += 7200
        await wait_for(pilot, lambda: "age 2h00m" in header(), what="a late sample's age")
        await next_tick(pilot, app)
        assert "age 0.0s" in header()


async def test_a_refresh_leaves_the_frame_it_replaces_to_the_next_poll():
    """Freeing the last snapshot of every guest and its rows was ~10 ms of each refresh at
    1000 guests: the poll's thread does it (the frame is still alive right after the show,
    and gone once the next poll began)."""
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        old = weakref.ref(app.frame)
        app.let_go = lambda: None   # the next poll keeps it: shown, and then retired
        await next_tick(pilot, app)
        gc.collect()
        assert old() is not None and app.frame is not old()
        del app.let_go               # the app's own again: the next poll frees it
        await next_tick(pilot, app)
        gc.collect()
        assert old() is None
        assert len(app._retired) == 1   # (the frame this tick replaced, for the next poll)


async def test_the_tables_rows_paint_as_datatable_paints_them():
    """GuestTable paints a body row by its own path (tablepaint.py): the same segments, text
    and styles, as DataTable's for every row on screen, with the cursor and the mouse's hover
    on it or elsewhere."""
    from textual.coordinate import Coordinate
    from textual.widgets import DataTable
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        t = table(app)
        base = t.rich_style
        compared = 0
        for index in range(min(t.row_count, 12)):
            key = t._row_locations.get_key(index)
            for cursor in (Coordinate(index, 0), Coordinate((index + 1) % t.row_count, 0)):
                for hover in (Coordinate(index, 2), Coordinate(-1, 0)):
                    for shown in (True, False):
                        t._show_hover_cursor = shown
                        ours = t._render_line_in_row(key, 0, base, cursor, hover)
                        t._row_render_cache.clear()
                        theirs = DataTable._render_line_in_row(t, key, 0, base, cursor, hover)
                        assert ours == theirs, (index, cursor, hover, shown)
                        compared += 1
        assert compared == 8 * min(t.row_count, 12)
