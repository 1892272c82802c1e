"""Pane text for hand-made snapshots: cases the demo host does not produce."""

from dataclasses import replace
from pathlib import Path

from kvmtune.frame import Framer
from kvmtune.model import Snapshot
from kvmtune.ui import panes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snapshot-2node.json"


def test_idle_vcpu_outside_its_new_pin_is_explained():
    snap = Snapshot.loads(FIXTURE.read_text())
    web1 = snap.guest("web1")
    # vCPU 1 was pinned to CPU 6 but has not run since: the kernel still reports CPU 1.
    stale = replace(web1, vcpus=(web1.vcpus[0], replace(web1.vcpus[1], affinity=(6,))))
    frame = Framer().push(snap)
    text = panes.vcpu_pane(frame, stale)
    lines = [ln for ln in text.splitlines() if ln.startswith("1 ")]
    assert lines and "last ran there before the pin" in lines[0]
    fresh = panes.vcpu_pane(frame, web1)
    assert "last ran there" not in fresh
