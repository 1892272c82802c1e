"""The advisor: the tuning guide's checks over a frame's figures, as Findings with a Fix.

`evaluate(snap, prev, rates, history)` is the one entry point; Framer calls it once per
snapshot, so the TUI, `kvmtune advise`, `snapshot` and the exporter judge the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import analysis
from ..model import Snapshot
from ..rates import GuestRate
from .findings import SEVERITIES, Finding, Fix, Severity, rank, worst_first

__all__ = ["SEVERITIES", "Advice", "Finding", "Fix", "Severity", "evaluate", "rank", "worst_first"]

DiskHistory = Mapping[str, Mapping[str, tuple[tuple[float | None, float | None], ...]]]


@dataclass(frozen=True)
class Advice:
    guests: Mapping[str, tuple[Finding, ...]] = field(default_factory=dict)   # worst first, per guest
    host: tuple[Finding, ...] = ()


# TRANSITIONAL: today's analysis.py warnings in the new shape, until the checks land.
CRITICAL_CODES = frozenset({"split", "hard-limit-low", "hard-limit-close", "at-limit", "ksm-across-nodes",
                       "locked-no-limit"})


def _convert(f: analysis.Finding, guest: str | None) -> Finding:
    sev: Severity = "critical" if f.code in CRITICAL_CODES else "warning"
    fix = None if f.fix is None else Fix(action=f.fix, target=guest or "host")
    return Finding(f.code, sev, guest, f.text, "", f.section, fix)


def evaluate(snap: Snapshot, prev: Snapshot | None = None, rates: Mapping[str, GuestRate] | None = None,
             history: DiskHistory | None = None) -> Advice:
    rates = rates or {}
    guests = {g.name: tuple(worst_first(_convert(f, g.name) for f in analysis.guest_warnings(
        g, snap.host, rates.get(g.name)))) for g in snap.guests}
    return Advice(guests, tuple(_convert(f, None) for f in analysis.host_warnings(snap.host)))
