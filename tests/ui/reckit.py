"""A recording of the demo host for the replay tests: N samples, one action in the middle."""

from __future__ import annotations

from pathlib import Path


def make_recording(path: Path, samples: int = 40, action_at: int = 20, guests: int | None = None):
    """Record `samples` demo snapshots to `path`, with a KSM change applied before sample
    `action_at` (None: no action); the recorded snapshots, in order."""
    from kvmtune.actions import Executor, KsmSet
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.record.live import LiveRecording
    src = open_demo(seed=1, guests=guests)
    feed = DemoFeed(src)
    log = path.parent / f"{path.name}.actions.log"
    ex = Executor(src, log_path=str(log))
    rec = LiveRecording(path, source=src.label, interval=2.0, log_path=log)
    snaps = []
    try:
        for i in range(samples):
            if i == action_at:
                ex.run(KsmSet({"pages_to_scan": 500}), snaps[-1])
            s = feed.next()
            rec.add(s)
            snaps.append(s)
    finally:
        rec.close()
        feed.close()
    return snaps
