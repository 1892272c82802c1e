"""Rates from two consecutive Snapshots: the one place where counters become per-second figures.

Everything that shows a rate (CPU %, disk bytes/s and IOPS, KSM scan rate) calls these,
so the TUI, the lab tests and `snapshot` agree. A counter that went backwards (guest
restarted, counter reset) or is missing gives None, never a negative rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .devmodel import NET_COUNTERS
from .model import Disk, Guest, NetIf, Snapshot
from .perfmodel import GuestPerf, PerfCounters
from .vocab import NUMASTAT_KEYS


def per_second(before: int | float | None, after: int | float | None, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0 or after < before:
        return None
    return (after - before) / seconds


@dataclass(frozen=True)
class DiskRate:
    rd_bytes_s: float | None
    wr_bytes_s: float | None
    rd_iops: float | None
    wr_iops: float | None
    fl_iops: float | None = None       # flushes per second
    # latency: the time spent on that kind of request over the interval / the requests in it,
    # in ms (None: no such request in the interval, or not counted)
    rd_ms: float | None = None
    wr_ms: float | None = None
    fl_ms: float | None = None

    @property
    def total_bytes_s(self) -> float | None:
        if self.rd_bytes_s is None or self.wr_bytes_s is None:
            return None
        return self.rd_bytes_s + self.wr_bytes_s

    @property
    def total_iops(self) -> float | None:
        if self.rd_iops is None or self.wr_iops is None:
            return None
        return self.rd_iops + self.wr_iops


NO_DISK_RATE = DiskRate(None, None, None, None)


@dataclass(frozen=True)
class NetRate:
    """An interface's counters per second, in the guest's view (rx: what it received)."""
    rx_bytes_s: float | None = None
    tx_bytes_s: float | None = None
    rx_packets_s: float | None = None
    tx_packets_s: float | None = None
    rx_errs_s: float | None = None
    tx_errs_s: float | None = None
    rx_drop_s: float | None = None
    tx_drop_s: float | None = None


NO_NET_RATE = NetRate()


def net_key(n: NetIf, i: int) -> str:
    """An interface's key in GuestRate.nics: its MAC, else its position."""
    return n.mac or str(i)


@dataclass(frozen=True)
class GuestRate:
    cpu_percent: float | None                 # of one host CPU (100 = one CPU busy)
    vcpu_percent: dict[int, float | None]
    disks: dict[str, DiskRate]
    perf: PerfRate | None = None              # None: no perf counters in both samples
    nics: dict[str, NetRate] = field(default_factory=dict)   # by net_key
    vhost_percent: dict[int, float | None] = field(default_factory=dict)   # by vhost worker tid

    def net_total(self, which: str) -> float | None:
        """The sum over its interfaces of one NetRate figure ("rx_bytes_s"); None: none counted."""
        vals = [v for r in self.nics.values() if (v := getattr(r, which)) is not None]
        return sum(vals) if vals else None


@dataclass(frozen=True)
class CounterRate:
    """perf counters per second (None: not counted, or no earlier sample)."""
    values: dict[str, float | None] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        return self.values.get(name)

    @property
    def task_clock_percent(self) -> float | None:
        """The thread's CPU time as % of one CPU (task-clock ns per second / 1e7)."""
        v = self.values.get("task_clock_ns")
        return None if v is None else v / 1e7

    @property
    def ipc(self) -> float | None:
        """Instructions per cycle, where the PMU counts both."""
        ins, cyc = self.values.get("instructions"), self.values.get("cycles")
        return None if ins is None or not cyc else ins / cyc


@dataclass(frozen=True)
class PerfRate:
    vcpus: dict[int, CounterRate]
    total: CounterRate | None
    exits: dict[str, float | None] | None      # KVM exits per second, by reason


_COUNTERS = tuple(f.name for f in fields(PerfCounters))


def counter_rate(before: PerfCounters | None, after: PerfCounters, seconds: float) -> CounterRate:
    return CounterRate({n: per_second(getattr(before, n) if before is not None else None, getattr(after, n), seconds)
                        for n in _COUNTERS})


def perf_rate(before: GuestPerf | None, after: GuestPerf | None, seconds: float) -> PerfRate | None:
    """Rates of one guest's perf counters; none across a reopening (the counts restart)."""
    if after is None:
        return None
    if before is not None and before.since != after.since:
        before = None
    old = before.vcpus if before is not None else {}
    ex_old = (before.exits if before is not None else None) or {}
    return PerfRate(
        vcpus={i: counter_rate(old.get(i), c, seconds) for i, c in after.vcpus.items()},
        total=None if after.total is None else counter_rate(before.total if before else None, after.total, seconds),
        exits=None if after.exits is None
        else {k: per_second(ex_old.get(k), v, seconds) for k, v in after.exits.items()},
    )


def _same_run(a: Guest, b: Guest) -> bool:
    """The same running instance: a restart changes the pid/id and resets counters."""
    return a.pid == b.pid and a.id == b.id


def guest_rate(before: Guest | None, after: Guest, seconds: float) -> GuestRate:
    if before is None or not _same_run(before, after):
        return GuestRate(None, {v.index: None for v in after.vcpus},
                         {d.target: NO_DISK_RATE for d in after.disks},
                         perf_rate(None, after.perf, seconds),
                         {net_key(n, i): NO_NET_RATE for i, n in enumerate(after.nics)})
    ns = seconds * 1e9
    cpu = per_second(before.cpu_time_ns, after.cpu_time_ns, ns)
    old_v = {v.index: v.cpu_time_ns for v in before.vcpus}
    vcpu: dict[int, float | None] = {}
    for v in after.vcpus:
        r = per_second(old_v.get(v.index), v.cpu_time_ns, ns)
        vcpu[v.index] = None if r is None else r * 100
    old_d = {d.target: d for d in before.disks}
    # a stale side's block counters are an earlier tick's (its interfaces' come from the kernel: current)
    stale = before.stale or after.stale
    disks = {d.target: NO_DISK_RATE if stale else disk_rate(old_d.get(d.target), d, seconds)
             for d in after.disks}
    old_n = {net_key(n, i): n for i, n in enumerate(before.nics)}
    nics = {}
    for i, n in enumerate(after.nics):
        k = net_key(n, i)
        o = old_n.get(k)
        nics[k] = NO_NET_RATE if o is None or o.target != n.target else net_rate(o, n, seconds)
    old_h = {t.tid: t.cpu_time_ns for t in before.vhost_threads}
    vhost: dict[int, float | None] = {}
    for t in after.vhost_threads:
        r = per_second(old_h.get(t.tid), t.cpu_time_ns, ns)
        vhost[t.tid] = None if r is None else r * 100
    return GuestRate(None if cpu is None else cpu * 100, vcpu, disks, perf_rate(before.perf, after.perf, seconds),
                     nics, vhost)


def latency_ms(t0: int | None, t1: int | None, n0: int | None, n1: int | None) -> float | None:
    """Mean time per request over an interval (total-time counters in ns), in ms; None without requests."""
    if t0 is None or t1 is None or n0 is None or n1 is None or n1 <= n0 or t1 < t0:
        return None
    return (t1 - t0) / (n1 - n0) / 1e6


def disk_rate(o: Disk | None, d: Disk, seconds: float) -> DiskRate:
    if o is None:
        return NO_DISK_RATE
    return DiskRate(
        per_second(o.rd_bytes, d.rd_bytes, seconds),
        per_second(o.wr_bytes, d.wr_bytes, seconds),
        per_second(o.rd_reqs, d.rd_reqs, seconds),
        per_second(o.wr_reqs, d.wr_reqs, seconds),
        per_second(o.fl_reqs, d.fl_reqs, seconds),
        latency_ms(o.rd_times_ns, d.rd_times_ns, o.rd_reqs, d.rd_reqs),
        latency_ms(o.wr_times_ns, d.wr_times_ns, o.wr_reqs, d.wr_reqs),
        latency_ms(o.fl_times_ns, d.fl_times_ns, o.fl_reqs, d.fl_reqs),
    )


def net_rate(o: NetIf, n: NetIf, seconds: float) -> NetRate:
    return NetRate(**{f"{k}_s": per_second(getattr(o, k), getattr(n, k), seconds) for k in NET_COUNTERS})


def guest_rates(before: Snapshot | None, after: Snapshot) -> dict[str, GuestRate]:
    """Rates for every guest in `after` (None figures where there is no earlier sample)."""
    seconds = after.time - before.time if before is not None else 0.0
    old = {g.name: g for g in before.guests} if before is not None else {}
    return {g.name: guest_rate(old.get(g.name), g, seconds) for g in after.guests}


def host_cpu_percent(before: Snapshot | None, after: Snapshot) -> dict[int, float | None]:
    """Busy % per host CPU (from Host.cpus busy/total seconds)."""
    old = {c.id: c for c in before.host.cpus} if before is not None else {}
    out: dict[int, float | None] = {}
    for c in after.host.cpus:
        o = old.get(c.id)
        if (o is None or o.busy_s is None or o.total_s is None or c.busy_s is None or c.total_s is None
                or c.total_s <= o.total_s):
            out[c.id] = None
            continue
        out[c.id] = max(0.0, min(100.0, 100 * (c.busy_s - o.busy_s) / (c.total_s - o.total_s)))
    return out


def ksm_scan_rate(before: Snapshot | None, after: Snapshot) -> float | None:
    """Pages scanned per second, where the kernel exposes pages_scanned."""
    if before is None or before.host.ksm is None or after.host.ksm is None:
        return None
    return per_second(before.host.ksm.pages_scanned, after.host.ksm.pages_scanned,
                      after.time - before.time)


def numastat_rates(before: Snapshot | None, after: Snapshot) -> dict[int, dict[str, float | None]]:
    """Per node with counters, each numastat counter per second (pages allocated per second;
    None without an earlier sample or where a counter is missing)."""
    seconds = after.time - before.time if before is not None else 0.0
    old = {n.id: n.numastat for n in before.host.nodes} if before is not None else {}
    out: dict[int, dict[str, float | None]] = {}
    for n in after.host.nodes:
        if n.numastat is None:
            continue
        o = old.get(n.id) or {}
        out[n.id] = {k: per_second(o.get(k), n.numastat.get(k), seconds) for k in NUMASTAT_KEYS}
    return out
