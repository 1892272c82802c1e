"""perf counters in the Snapshot: per vCPU thread and per guest, cumulative, plus KVM exits.

`Guest.perf` is None when perf collection is off. Otherwise a GuestPerf holds counts since
`since` (when its counters were opened: a rate needs two samples with the same `since`).
A counter that is not counted on this host is None, never 0; `hardware` and
`unavailable` say why. JSON (the v1 contract's "perf" key of a guest) is each dataclass's
fields, maps keyed by text, as record/codec.plain writes any model value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

SOFTWARE = ("task_clock_ns", "context_switches", "cpu_migrations", "page_faults", "major_faults")
HARDWARE = ("cycles", "instructions", "cache_misses", "llc_loads", "llc_load_misses",
            "node_loads", "node_load_misses")

# KVM's per-VM counters (GuestPerf.exits' keys), by what they count: the total of exits;
# exits by reason (they add up to at most the total); halt polling and wakeups, which are
# not exits; other events the guide explains exits with (not exits either). Summing across
# these groups double counts.
KVM_EXITS_TOTAL = "exits"
KVM_EXIT_REASONS = ("halt_exits", "io_exits", "mmio_exits", "irq_exits", "irq_window_exits",
                    "nmi_window_exits", "request_irq_exits", "signal_exits", "hypercalls")
KVM_HALT_POLLS = ("halt_successful_poll", "halt_attempted_poll", "halt_poll_invalid", "halt_wakeup")
KVM_EVENTS = ("l1d_flush", "insn_emulation", "pf_taken", "preemption_reported")


@dataclass(frozen=True)
class PerfCounters:
    """Cumulative counts of one thread (or the sum over a guest's threads); None = not counted.

    The fields are SOFTWARE then HARDWARE, in that order (the collector builds these from
    the counts it reads in that order)."""
    task_clock_ns: int | None = None
    context_switches: int | None = None
    cpu_migrations: int | None = None
    page_faults: int | None = None
    major_faults: int | None = None
    cycles: int | None = None
    instructions: int | None = None
    cache_misses: int | None = None
    llc_loads: int | None = None
    llc_load_misses: int | None = None
    node_loads: int | None = None          # DRAM reads from the thread's own node
    node_load_misses: int | None = None    # ... from another node (remote)


@dataclass(frozen=True)
class GuestPerf:
    since: float                                     # when counting began (snapshot clock)
    vcpus: Mapping[int, PerfCounters] = field(default_factory=dict)   # by vCPU index
    total: PerfCounters | None = None                # every thread of the QEMU process
    accel: str | None = None                         # "kvm" or "tcg", from the vCPU threads' names
    unavailable: str | None = None                   # why nothing is counted (and how to enable it)
    hardware: str | None = None                      # why the hardware counters are missing
    exits: Mapping[str, int] | None = None           # KVM exits by reason, cumulative
    exits_note: str | None = None                    # why there are no exit figures


def _counters(d: Any) -> PerfCounters:
    names = {f.name for f in fields(PerfCounters)}
    return PerfCounters(**{k: (None if v is None else int(v)) for k, v in dict(d).items() if k in names})


def to_json(p: GuestPerf | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "since": p.since,
        "vcpus": {str(i): _plain(c) for i, c in p.vcpus.items()},
        "total": None if p.total is None else _plain(p.total),
        "accel": p.accel, "unavailable": p.unavailable, "hardware": p.hardware,
        "exits": None if p.exits is None else dict(p.exits),
        "exits_note": p.exits_note,
    }


def from_json(d: Mapping[str, Any] | None) -> GuestPerf | None:
    if d is None:
        return None
    exits = d.get("exits")
    return GuestPerf(
        since=float(d["since"]),
        vcpus={int(i): _counters(c) for i, c in (d.get("vcpus") or {}).items()},
        total=None if d.get("total") is None else _counters(d["total"]),
        accel=d.get("accel"), unavailable=d.get("unavailable"), hardware=d.get("hardware"),
        exits=None if exits is None else {str(k): int(v) for k, v in exits.items()},
        exits_note=d.get("exits_note"),
    )


def _plain(c: PerfCounters) -> dict[str, int | None]:
    return {f.name: getattr(c, f.name) for f in fields(c)}
