"""LiveRecording: snapshots and the actions logged meanwhile, by any process, on the demo host."""

from __future__ import annotations

from pathlib import Path

from kvmtune.actions import Executor
from kvmtune.actions.blkio import BlkioTune
from kvmtune.demo import DemoFeed, open_demo
from kvmtune.record.live import LiveRecording
from kvmtune.record.store import Recording


def test_an_action_is_filed_with_the_sample_taken_after_it(tmp_path: Path) -> None:
    feed = DemoFeed(open_demo(seed=2))
    log = tmp_path / "actions.log"
    ex = Executor(feed.source, log_path=str(log))
    rec = LiveRecording(tmp_path / "r.kvmrec", source=feed.label, interval=2.0, log_path=log)
    try:
        assert rec.pending() == set()
        rec.add(feed.next())
        snap = feed.next()
        rec.add(snap)
        name = snap.guests[0].name
        assert ex.run(BlkioTune(name, weight=777), snap).status == "applied"
        assert rec.pending() == {name}          # before the next collection: the guest to re-read
        rec.before_collect(feed)                 # (the same call, as kvmtune record and the TUI make it)
        rec.add(feed.next())                     # filed with this one, which shows it
        assert rec.pending() == set()
        assert ex.run(BlkioTune(name, weight=555), snap).status == "applied"
    finally:
        rec.close()                              # logged after the last sample: filed with it
        feed.close()
    r = Recording(tmp_path / "r.kvmrec")
    events = r.events(("action",))
    assert [(r.index_at(e.time), e.data["parameters"]["weight"]) for e in events] == [(2, 777), (2, 555)]
    assert r.snapshot(2).guest(name).blkio_weight == 777
