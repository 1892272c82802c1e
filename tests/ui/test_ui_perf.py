"""The perf pane (7) on the demo host, through the real keys: off until P, then the
counters per vCPU thread, the guest's total, the hardware counters and the KVM exits;
P again closes every counter."""

from __future__ import annotations

import pytest
from textual.widgets import Static
from uikit import demo_app, next_tick, ready

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def pane(app) -> str:
    return str(app.query_one("#pane-perf", Static).content)


async def test_p_turns_perf_on_and_off_and_pane_7_shows_it():
    app = demo_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await ready(pilot, app)
        await pilot.press("7")
        assert "perf counters are off" in pane(app) and "--perf" in pane(app)
        await pilot.press("P")
        assert "perf counters on" in app.status_text
        await next_tick(pilot, app)
        await next_tick(pilot, app)
        text = pane(app)
        g = app.selected_guest()
        assert g.perf is not None and app.feed.collector.perf.open_threads > 0
        assert "perf counters per vCPU thread" in text and "guest total" in text
        for v in g.vcpus:       # a row per vCPU: its tid and its allowed CPUs beside the counters
            assert f"{v.tid}" in text
        assert "IPC" in text and "DRAM local/s" in text and "no PMU" not in text
        assert "KVM exits" in text and "halt_exits" in text and "total " in text
        await pilot.press("P")
        assert "perf counters off" in app.status_text
        await next_tick(pilot, app)
        assert app.feed.collector.perf.open_threads == 0 and app.selected_guest().perf is None
        assert "perf counters are off" in pane(app)


async def test_perf_on_and_a_guest_not_running_says_so_not_press_p():
    from uikit import select
    app = demo_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await ready(pilot, app)
        await pilot.press("7")
        await pilot.press("P")
        await next_tick(pilot, app)
        off = next(g for g in app.snap.guests if not g.running)
        await select(pilot, app, off.name)
        text = pane(app)
        assert "not running: nothing to count" in text and "press" not in text
