"""The advisor: the tuning guide's checks over a frame's figures, as Findings with a Fix.

`evaluate(snap, prev, rates, history)` is the one entry point; Framer calls it once per
snapshot, so the TUI, `kvmtune advise`, `snapshot` and the exporter judge the same way.
The checks live by chapter (cpu 3.x, host 4 + 8.5, net 5.x, storage 6.x, memory 7.x,
numa 8.x); CODES (codes.py) lists every code they can emit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..model import Guest, Snapshot
from ..rates import GuestRate
from . import cpu, host, memory, net, numa, storage
from .base import Ctx, DiskHistory
from .codes import CODES, Code
from .findings import SEVERITIES, Finding, Fix, Severity, rank, worst_first

__all__ = ["CODES", "SEVERITIES", "Advice", "Code", "Finding", "Fix", "Severity", "evaluate", "rank",
           "worst_first"]

GuestCheck = Callable[[Ctx, Guest], Iterable[Finding]]
HostCheck = Callable[[Ctx], Iterable[Finding]]

GUEST_CHECKS: tuple[GuestCheck, ...] = (*numa.GUEST, *memory.GUEST, *cpu.GUEST, *storage.GUEST, *net.GUEST,
                                        *host.GUEST)
HOST_CHECKS: tuple[HostCheck, ...] = (*cpu.HOST, *host.HOST, *net.HOST, *memory.HOST, *numa.HOST)


@dataclass(frozen=True)
class Advice:
    guests: Mapping[str, tuple[Finding, ...]] = field(default_factory=dict)   # worst first, per guest
    host: tuple[Finding, ...] = ()


def evaluate(snap: Snapshot, prev: Snapshot | None = None, rates: Mapping[str, GuestRate] | None = None,
             history: DiskHistory | None = None) -> Advice:
    """Every finding on the snapshot: per running guest (worst first) and for the host.
    Rate- and history-based checks say nothing without rates or history (`prev` is what the
    rates were computed from: without it a rate's figures are None)."""
    ctx = Ctx(snap, rates or {}, history or {})
    # a guest whose settings are not read yet has no findings (no pins read is not "unpinned"),
    # and the host's, which sum over the guests' settings, wait until every guest's are read
    guests = {g.name: tuple(worst_first(f for check in GUEST_CHECKS for f in check(ctx, g)))
              if g.running and not g.settings_pending else () for g in snap.guests}
    if any(g.settings_pending for g in snap.guests):
        return Advice(guests)
    return Advice(guests, tuple(worst_first(f for check in HOST_CHECKS for f in check(ctx))))
