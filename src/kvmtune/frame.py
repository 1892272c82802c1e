"""Frames: what every consumer renders or exports, built from a feed's consecutive snapshots.

A frame holds the snapshot, the previous one, the rates from the one rate function
(rates.py), the derived figures (the guide's findings per guest and for the host), and a
short history of disk and network traffic and of CPU use for sparklines. `Framer.push()` is called once per snapshot
in the order the feed gave them; live, replayed or demo, the frames are made the same way.

While the hypervisor is unreachable a live snapshot has no guests: the frame then shows
the last known guests (`stale`), and `raw` keeps the feed's snapshot exactly as it came
(what a recorder stores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from .advise import Finding, evaluate
from .history import Pairs, Series
from .model import Snapshot
from .rates import GuestRate, guest_rates, host_cpu_percent

HISTORY = 150   # samples kept per disk for the sparklines (5 minutes at 2 s)

DiskSample = tuple[float | None, float | None]   # (read, write) bytes/s; for a NIC (rx, tx)
_NO_CPU, _NO_PAIRS = Series(), Pairs()   # (a guest's, a disk's or NIC's first samples)


@dataclass(frozen=True)
class Frame:
    snap: Snapshot                                   # what to show
    raw: Snapshot                                    # the feed's snapshot, as it came
    prev: Snapshot | None = None                     # the previous frame's snap
    stale: bool = False                              # guests are the last known ones
    rates: Mapping[str, GuestRate] = field(default_factory=dict)
    cpu_pct: Mapping[int, float | None] = field(default_factory=dict)
    findings: Mapping[str, tuple[Finding, ...]] = field(default_factory=dict)   # per guest
    host_findings: tuple[Finding, ...] = ()
    # oldest first (history.py: arrays, not tuples of floats)
    history: Mapping[str, Mapping[str, Sequence[DiskSample]]] = field(default_factory=dict)
    net_history: Mapping[str, Mapping[str, Sequence[DiskSample]]] = field(default_factory=dict)  # by net_key
    cpu_history: Mapping[str, Sequence[float | None]] = field(default_factory=dict)   # the guest's CPU %

    def guest_findings(self, name: str) -> tuple[Finding, ...]:
        return self.findings.get(name, ())


class Framer:
    """Turns consecutive snapshots into frames, keeping the previous one and the history."""

    def __init__(self, history: int = HISTORY, findings: bool = True):
        self.size = history
        self.findings = findings   # False: rates only (a dump to csv or OpenMetrics shows no findings)
        self._last: Snapshot | None = None
        self._history: dict[str, dict[str, Pairs]] = {}
        self._net: dict[str, dict[str, Pairs]] = {}
        self._cpu: dict[str, Series] = {}

    def reset(self) -> None:
        """Forget the past: the next frame has no rates (e.g. after a replay jumps)."""
        self._last = None
        self._history, self._net, self._cpu = {}, {}, {}

    def push(self, raw: Snapshot) -> Frame:
        last = self._last
        stale = raw.disconnected
        snap = raw
        if stale and last is not None and not raw.guests:
            snap = replace(raw, guests=last.guests)   # the last guests, greyed, while reconnecting
        rates = guest_rates(last, snap) if not stale else {}
        history = self._record(snap, rates)
        advice = evaluate(snap, last, rates, history) if self.findings else None
        self._last = snap
        return Frame(snap=snap, raw=raw, prev=last, stale=stale, rates=rates,
                     cpu_pct=host_cpu_percent(last, snap), findings=advice.guests if advice else {},
                     host_findings=advice.host if advice else (), history=history,
                     net_history=self._net, cpu_history=self._cpu)

    def _record(self, snap: Snapshot, rates: Mapping[str, GuestRate]) -> dict[str, dict[str, Pairs]]:
        # new objects per sample: a frame's history never changes after it is made
        n = self.size
        disks, nets, cpus = {}, {}, {}
        for g in snap.guests:
            per, net, cpu = self._history.get(g.name, {}), self._net.get(g.name, {}), self._cpu.get(g.name, _NO_CPU)
            r = rates.get(g.name)
            if r is not None:
                per = dict(per)
                for disk, dr in r.disks.items():
                    per[disk] = per.get(disk, _NO_PAIRS).pushed(dr.rd_bytes_s, dr.wr_bytes_s, n)
                if r.nics:
                    net = dict(net)
                    for key, nr in r.nics.items():
                        net[key] = net.get(key, _NO_PAIRS).pushed(nr.rx_bytes_s, nr.tx_bytes_s, n)
                cpu = cpu.pushed(r.cpu_percent, n)
            disks[g.name], nets[g.name], cpus[g.name] = per, net, cpu
        self._history, self._net, self._cpu = disks, nets, cpus
        return disks
