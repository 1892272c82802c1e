"""The settings budget: a poll reads guests' settings for at most so long; the others show
with `settings_pending` (no findings, no host findings yet) and are read on the next polls.
On the demo host, whose libvirt reads go through the same collector as a real one's."""

from __future__ import annotations

import json

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.frame import Framer
from kvmtune.model import Snapshot


def _pending(snap: Snapshot) -> list[str]:
    return [g.name for g in snap.guests if g.settings_pending]


def test_a_tiny_budget_reads_one_guest_a_poll_until_every_one_is_read():
    feed = DemoFeed(open_demo(seed=1))
    try:
        feed.budget_settings(1e-9)   # the first read of a poll spends it: one guest a poll
        framer = Framer()
        snap = feed.next()
        n = len(snap.guests)
        assert len(_pending(snap)) == n - 1
        frame = framer.push(snap)
        assert frame.host_findings == ()   # the host's findings wait for every guest's settings
        assert all(frame.guest_findings(g) == () for g in _pending(snap))
        pending = _pending(snap)
        g = snap.guest(pending[0])
        assert g.disks == () and all(not v.pinned for v in g.vcpus)   # nothing read, nothing claimed
        assert json.loads(snap.dumps())["guests"][snap.guests.index(g)]["settings_pending"] is True
        assert Snapshot.loads(snap.dumps()).guest(g.name).settings_pending   # it round-trips
        for i in range(2, n + 1):
            snap = feed.next()
            assert len(_pending(snap)) == n - i, i
        frame = framer.push(snap)
        assert frame.host_findings != ()   # the demo host has host findings once all are read
        db = snap.guest("db-primary")
        assert db.disks and all(v.pinned for v in db.vcpus)
    finally:
        feed.close()


def test_without_a_budget_every_guest_is_read_on_the_first_poll():
    feed = DemoFeed(open_demo(seed=1))
    try:
        snap = feed.next()
        assert _pending(snap) == []
        assert "settings_pending" in json.loads(snap.dumps())["guests"][0]
    finally:
        feed.close()
