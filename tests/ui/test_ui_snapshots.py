"""SVG snapshots of the guest table and each detail pane (pytest-textual-snapshot).

The demo host is deterministic for a seed and advances a simulated clock per poll, and
the app polls only when told (interval 1 h), so every picture is taken after exactly two
snapshots: the clock is frozen. Update after an intended change with
`pytest tests/ui/test_ui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from uikit import demo_app, ready

from kvmtune.ui.panes import PANES

pytestmark = pytest.mark.timeout(120)


def _before(keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)
        for k in keys:
            await pilot.press(k)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("index", range(len(PANES)), ids=[k for k, _ in PANES])
def test_table_and_pane_80x24(snap_compare, index):
    # build-runner: split over two nodes, pinned, with disks — every pane has something to show
    keys = ("down", "down", str(index + 1))
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_before(keys))


# every pane at the three sizes the issue names: most lines follow the width (bars, the CPU
# map, sparklines, the perf table, the settings' wrapping)
@pytest.mark.parametrize("index", range(len(PANES)), ids=[k for k, _ in PANES])
def test_table_and_pane_120x40(snap_compare, index):
    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=_before(("down", "down", str(index + 1))))


@pytest.mark.parametrize("index", range(len(PANES)), ids=[k for k, _ in PANES])
def test_table_and_pane_200x50(snap_compare, index):
    # wide: the selected pane and, beside it, NUMA memory (the vCPUs beside pane 1)
    keys = ("down", "down", str(index + 1))
    assert snap_compare(demo_app(), terminal_size=(200, 50), run_before=_before(keys))


def test_pane_zoomed_80x24(snap_compare):
    # f: the vCPU pane on the full screen, scrolled a page down
    keys = ("down", "down", "2", "f", "pagedown")
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_before(keys))


def test_help_80x24(snap_compare):
    # the help wraps to the width: a key column, every column of the table explained
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_before(("question_mark",)))


def test_sort_picker_80x24(snap_compare):
    # '>' on the table sorted by CPU% (busiest first): the Sort-by list, CPU% marked
    keys = ("s", "s", "s", "greater_than_sign")
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_before(keys))


def test_read_only_80x24(snap_compare):
    # the footer without the action keys: the ones that work take their room
    assert snap_compare(demo_app(read_only=True), terminal_size=(80, 24), run_before=_before(("down", "down")))


def test_replay_80x24(snap_compare, tmp_path, monkeypatch):
    # a replay of a demo recording, on its recorded action: the timeline, REPLAY, the
    # recorded time (in UTC here, so the picture is the same in every time zone)
    import time

    from reckit import make_recording
    from uikit import wait_for

    from kvmtune.record.replay import ReplayFeed
    from kvmtune.record.store import Recording
    from kvmtune.ui.app import KvmtuneApp
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    path = tmp_path / "demo.kvmrec"
    make_recording(path, samples=40, action_at=20)
    app = KvmtuneApp(ReplayFeed(Recording(path)), None, interval=2.0)

    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app, ticks=1)
        await pilot.press("right_parenthesis")
        await wait_for(pilot, lambda: app.replay.position == 20 and not app._polling, what="the action")
        await pilot.pause()
    try:
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
