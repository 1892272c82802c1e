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


def test_table_160x50(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(160, 50), run_before=_before(("down", "down", "2")))
