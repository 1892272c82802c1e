"""The sparklines' kept samples (history.py): what a tuple of pairs held, in arrays."""

from __future__ import annotations

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.frame import Framer
from kvmtune.history import Pairs, Series


def test_pushed_keeps_the_last_samples_and_none():
    p, s = Pairs(), Series()
    want: list[tuple[float | None, float | None]] = []
    for i in range(7):
        x, y = (None, 2.5) if i == 2 else (float(i), None if i == 4 else -1.0)
        p, s = p.pushed(x, y, 5), s.pushed(x, 5)
        want = (want + [(x, y)])[-5:]
    assert list(p) == want and len(p) == 5 and p[-1] == want[-1] and p[0] == want[0]
    assert list(p[-3:]) == want[-3:] and isinstance(p[-3:], Pairs)
    assert list(s) == [x for x, _ in want] and s[0] is None and list(s[1:3]) == [x for x, _ in want][1:3]
    assert list(Pairs().pushed(1.0, 2.0, 1)) == [(1.0, 2.0)]


def test_a_frames_history_is_the_rates_it_saw_and_never_changes_after():
    """Over demo ticks: each disk's and NIC's samples are its rates in order, the guest's CPU
    its cpu_percent; a frame made earlier keeps what it had (a new object per push)."""
    src = open_demo(seed=1)
    feed, framer = DemoFeed(src), Framer(history=4)
    try:
        frames = [framer.push(feed.next()) for _ in range(7)]
    finally:
        feed.close()
    g = frames[-1].snap.guests[0].name
    disks = {d: [(r.disks[d].rd_bytes_s, r.disks[d].wr_bytes_s) for r in (f.rates[g] for f in frames)]
             for d in frames[-1].rates[g].disks}
    for d, want in disks.items():
        assert list(frames[-1].history[g][d]) == want[-4:]
        assert list(frames[3].history[g][d]) == want[:4]   # as it was when made
    assert list(frames[-1].cpu_history[g]) == [f.rates[g].cpu_percent for f in frames][-4:]
    nics = frames[-1].rates[g].nics
    assert nics and all(list(frames[-1].net_history[g][k]) ==
                        [(f.rates[g].nics[k].rx_bytes_s, f.rates[g].nics[k].tx_bytes_s) for f in frames][-4:]
                        for k in nics)
