"""The one mapping of a frame to metric families (docs/metrics.md is its contract: names
and labels are added, never renamed or dropped).

`dump --format openmetrics` (openmetrics.py) and the live exporter (promclient.py) both
read `families(frame)`. Names are prefixed kvmtune_, in base units (bytes, seconds; a
hugepage size label is in bytes), counters end in _total on the wire; labels are guest,
vcpu, disk, interface, node, size, kind (which limit, which mode), code and severity where a
family needs them — nothing with more values than the host has guests, CPUs, disks or NICs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .. import cpuset
from ..advise import Finding
from ..analysis import locality
from ..frame import Frame
from ..model import Guest
from ..perfmodel import HARDWARE, KVM_EVENTS, KVM_EXIT_REASONS, KVM_EXITS_TOTAL, KVM_HALT_POLLS, SOFTWARE
from .devfamilies import device_families

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]
Samples = Callable[[Frame], Iterable[Sample]]

@dataclass(frozen=True)
class Family:
    name: str                   # without _total / _info (OpenMetrics' family name)
    type: str                   # "gauge", "counter" or "info"
    help: str
    unit: str = ""              # the name's unit suffix (OpenMetrics' UNIT line)

    @property
    def sample_name(self) -> str:
        return self.name + {"counter": "_total", "info": "_info"}.get(self.type, "")

    def header(self) -> str:
        lines = [f"# TYPE {self.name} {self.type}"]
        if self.unit:
            lines.append(f"# UNIT {self.name} {self.unit}")
        lines.append(f"# HELP {self.name} {self.help.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
        return "\n".join(lines) + "\n"


def _g(g: Guest, *more: tuple[str, str]) -> Labels:
    return (("guest", g.name), *more)


def _per_guest(get: Callable[[Guest], float | None]) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            v = get(g)
            if v is not None:
                yield _g(g), v
    return samples


def _cpu_ratio(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        r = f.rates.get(g.name)
        if r is not None and r.cpu_percent is not None:
            yield _g(g), r.cpu_percent / 100


def _locality(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        v = locality(g, f.snap.host) if g.running else None
        if v is not None:
            yield _g(g), v


def _state(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        yield _g(g, ("kind", g.state)), 1


def _node_memory(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        for n, kib in sorted((g.numa_memory_kib or {}).items()):
            yield _g(g, ("node", str(n))), kib * 1024


def _guest_hugepages(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        per: dict[int, int] = {}
        for size, nodes in (g.hugepages or {}).items():
            for n, count in nodes.items():
                per[n] = per.get(n, 0) + size * 1024 * count
        for n, b in sorted(per.items()):
            yield _g(g, ("node", str(n))), b


def _guest_hugepages_by_size(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        for size, nodes in sorted((g.hugepages or {}).items()):
            for n, count in sorted(nodes.items()):
                yield _g(g, ("node", str(n)), ("size", str(size * 1024))), count


def _numatune(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        if g.numatune is not None:
            yield _g(g, ("kind", g.numatune.mode)), 1


def _numatune_nodes(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        if g.numatune is None or not g.numatune.nodeset:
            continue
        try:
            nodes = cpuset.parse(g.numatune.nodeset)
        except cpuset.CpusetError:
            continue
        for n in nodes:
            yield _g(g, ("node", str(n))), 1


def _vcpu(get: Callable[[Frame, Guest, int], float | None]) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for i in range(len(g.vcpus)):
                v = get(f, g, i)
                if v is not None:
                    yield _g(g, ("vcpu", str(g.vcpus[i].index))), v
    return samples


def _vcpu_node(f: Frame, g: Guest, i: int) -> int | None:
    pcpu = g.vcpus[i].pcpu
    return None if pcpu is None else f.snap.host.node_of_cpu(pcpu)


def _disk(attr: str) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for d in g.disks:
                v = getattr(d, attr)
                if v is not None:
                    yield _g(g, ("disk", d.target)), v
    return samples


def _iotune(suffix: str) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for d in g.disks:
                for kind in ("total", "read", "write"):
                    v = d.iotune.get(f"{kind}_{suffix}")
                    if v is not None:
                        yield _g(g, ("disk", d.target), ("kind", kind)), v
    return samples


def _findings(f: Frame) -> Iterator[Sample]:
    def one(code: str, sev: str, guest: Labels) -> Sample:
        return (*guest, ("code", code), ("severity", sev)), 1

    def codes(found: Iterable[Finding]) -> list[tuple[str, str]]:
        return sorted({(x.code, x.severity) for x in found})   # a code once per guest (at_limit: two disks)
    for code, sev in codes(f.host_findings):
        yield one(code, sev, ())
    for g in f.snap.guests:
        for code, sev in codes(f.guest_findings(g.name)):
            yield one(code, sev, _g(g))


def _node(get: Callable[..., float | None]) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        for n in f.snap.host.nodes:
            v = get(n)
            if v is not None:
                yield (("node", str(n.id)),), v
    return samples


def _node_hugepages(attr: str) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        for n in f.snap.host.nodes:
            for size, pool in sorted(n.hugepages.items()):
                yield (("node", str(n.id)), ("size", str(size * 1024))), getattr(pool, attr)
    return samples


def _host(get: Callable[[Frame], float | None]) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        v = get(f)
        if v is not None:
            yield (), v
    return samples


def _ksm(attr: str, scale: float = 1) -> Samples:
    def get(f: Frame) -> float | None:
        k = f.snap.host.ksm
        v = None if k is None else getattr(k, attr)
        return v if v is None or scale == 1 else v * scale
    return _host(get)


def _mode(attr: str) -> Samples:
    def samples(f: Frame) -> Iterator[Sample]:
        v = getattr(f.snap.host, attr)
        if v:
            yield (("kind", v),), 1
    return samples


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def _kib(get: Callable[[Guest], int | None]) -> Callable[[Guest], float | None]:
    def bytes_(g: Guest) -> float | None:
        v = get(g)
        return None if v is None else v * 1024
    return bytes_


FAMILIES: tuple[tuple[Family, Samples], ...] = (
    # -- guests (the first families are the ones `dump --format openmetrics` has always written)
    (Family("kvmtune_guest_running", "gauge", "1 when the guest is running or paused"),
     _per_guest(lambda g: 1 if g.running else 0)),
    (Family("kvmtune_guest_vcpus", "gauge", "vCPUs of the guest"), _per_guest(lambda g: len(g.vcpus) or g.nvcpus)),
    (Family("kvmtune_guest_cpu_seconds", "counter", "CPU time the guest used", "seconds"),
     _per_guest(lambda g: _seconds(g.cpu_time_ns))),
    (Family("kvmtune_guest_cpu_usage_ratio", "gauge",
            "CPU use since the previous sample, in host CPUs (1 = one CPU busy), as kvmtune shows it", "ratio"),
     _cpu_ratio),
    (Family("kvmtune_guest_memory_configured_bytes", "gauge", "memory of the guest", "bytes"),
     _per_guest(lambda g: g.memory_kib * 1024)),
    (Family("kvmtune_guest_memory_bytes", "gauge",
            "the guest's memory the host holds on a NUMA node (anonymous + hugepages)", "bytes"), _node_memory),
    (Family("kvmtune_guest_node_hugepages_bytes", "gauge", "hugepages the guest holds on a NUMA node", "bytes"),
     _guest_hugepages),
    (Family("kvmtune_guest_ksm_merging_pages", "gauge", "pages of the guest KSM merged"),
     _per_guest(lambda g: None if g.ksm is None else g.ksm.merging_pages)),
    (Family("kvmtune_guest_memtune_hard_limit_bytes", "gauge", "memtune hard limit (absent = unlimited)", "bytes"),
     _per_guest(_kib(lambda g: None if g.memtune is None else g.memtune.hard_limit_kib))),
    (Family("kvmtune_guest_blkio_weight", "gauge", "blkio weight of the guest"), _per_guest(lambda g: g.blkio_weight)),
    (Family("kvmtune_guest_disk_read_bytes", "counter", "bytes read from the disk", "bytes"), _disk("rd_bytes")),
    (Family("kvmtune_guest_disk_written_bytes", "counter", "bytes written to the disk", "bytes"), _disk("wr_bytes")),
    (Family("kvmtune_guest_disk_reads", "counter", "read requests of the disk"), _disk("rd_reqs")),
    (Family("kvmtune_guest_disk_writes", "counter", "write requests of the disk"), _disk("wr_reqs")),
    (Family("kvmtune_guest_disk_limit_bytes_per_second", "gauge",
            "blkdeviotune bytes/s limit of the disk by kind (total, read, write); 0 = no limit"),
     _iotune("bytes_sec")),
    (Family("kvmtune_guest_disk_limit_iops", "gauge",
            "blkdeviotune requests/s limit of the disk by kind (total, read, write); 0 = no limit"),
     _iotune("iops_sec")),
    (Family("kvmtune_node_memory_total_bytes", "gauge", "memory of the NUMA node", "bytes"),
     _node(lambda n: n.mem_total_kib * 1024)),
    (Family("kvmtune_node_memory_free_bytes", "gauge", "free memory of the NUMA node", "bytes"),
     _node(lambda n: n.mem_free_kib * 1024)),
    (Family("kvmtune_node_hugepages_free_bytes", "gauge", "free hugepages of the NUMA node, all sizes", "bytes"),
     _node(lambda n: sum(s * 1024 * p.free for s, p in n.hugepages.items()) if n.hugepages else None)),
    (Family("kvmtune_ksm_pages_sharing", "gauge", "pages KSM shares (the saving)"), _ksm("pages_sharing")),
    (Family("kvmtune_ksm_pages_shared", "gauge", "KSM pages in use"), _ksm("pages_shared")),
    (Family("kvmtune_ksm_full_scans", "counter", "KSM full scans"), _ksm("full_scans")),
    # -- added with the exporter (issue 16)
    (Family("kvmtune_guest_state", "info", "the guest's libvirt state (kind: running, paused, shut off, ...)"),
     _state),
    (Family("kvmtune_guest_locality_ratio", "gauge",
            "share of the guest's memory on the nodes where its vCPUs run (1 = all local)", "ratio"), _locality),
    (Family("kvmtune_guest_hugepages", "gauge", "hugepages of one size (bytes) the guest holds on a NUMA node"),
     _guest_hugepages_by_size),
    (Family("kvmtune_guest_ksm_profit_bytes", "gauge", "what KSM saves on the guest (ksm_process_profit)", "bytes"),
     _per_guest(lambda g: None if g.ksm is None else g.ksm.profit_bytes)),
    (Family("kvmtune_guest_memtune_soft_limit_bytes", "gauge", "memtune soft limit (absent = unlimited)", "bytes"),
     _per_guest(_kib(lambda g: None if g.memtune is None else g.memtune.soft_limit_kib))),
    (Family("kvmtune_guest_memtune_swap_hard_limit_bytes", "gauge",
            "memtune swap_hard_limit (absent = unlimited)", "bytes"),
     _per_guest(_kib(lambda g: None if g.memtune is None else g.memtune.swap_hard_limit_kib))),
    (Family("kvmtune_guest_numatune", "info", "numatune of the guest (kind: strict, preferred, interleave, "
            "restrictive); absent = none"), _numatune),
    (Family("kvmtune_guest_numatune_node", "gauge", "1 for each node in the guest's numatune nodeset"),
     _numatune_nodes),
    (Family("kvmtune_guest_vcpu_cpu", "gauge", "the host CPU the vCPU runs on now"),
     _vcpu(lambda f, g, i: g.vcpus[i].pcpu)),
    (Family("kvmtune_guest_vcpu_node", "gauge", "the host NUMA node of the CPU the vCPU runs on now"),
     _vcpu(_vcpu_node)),
    (Family("kvmtune_guest_vcpu_pinned", "gauge", "1 when the vCPU's affinity is narrower than the guest's default"),
     _vcpu(lambda f, g, i: 1 if g.vcpus[i].pinned else 0)),
    (Family("kvmtune_guest_vcpu_affinity_cpus", "gauge", "how many host CPUs the vCPU may run on"),
     _vcpu(lambda f, g, i: len(g.vcpus[i].affinity))),
    (Family("kvmtune_guest_vcpu_cpu_seconds", "counter", "CPU time of the vCPU thread", "seconds"),
     _vcpu(lambda f, g, i: _seconds(g.vcpus[i].cpu_time_ns))),
    (Family("kvmtune_guest_stale", "gauge", "1 when libvirt did not answer for the guest in time: its state "
            "and disk counters are the last read"), _per_guest(lambda g: 1 if g.stale else 0)),
    (Family("kvmtune_finding", "gauge", "1 for each finding of the tuning guide's checks now (code as kvmtune "
            "shows it; no guest label = a host finding)"), _findings),
    (Family("kvmtune_node_cpus", "gauge", "CPUs of the NUMA node"), _node(lambda n: len(n.cpus))),
    (Family("kvmtune_node_hugepages", "gauge", "hugepages of one size (bytes) in the NUMA node's pool"),
     _node_hugepages("total")),
    (Family("kvmtune_node_hugepages_free", "gauge", "free hugepages of one size (bytes) on the NUMA node"),
     _node_hugepages("free")),
    (Family("kvmtune_node_hugepages_surplus", "gauge", "surplus hugepages of one size (bytes) on the NUMA node"),
     _node_hugepages("surplus")),
    (Family("kvmtune_ksm_run", "gauge", "KSM's run setting (0 stopped, 1 merging, 2 unmerge)"), _ksm("run")),
    (Family("kvmtune_ksm_pages_unshared", "gauge", "pages KSM scans but cannot merge"), _ksm("pages_unshared")),
    (Family("kvmtune_ksm_pages_volatile", "gauge", "pages changing too fast to merge"), _ksm("pages_volatile")),
    (Family("kvmtune_ksm_merge_across_nodes", "gauge", "1 when KSM merges pages of different NUMA nodes"),
     _ksm("merge_across_nodes")),
    (Family("kvmtune_ksm_pages_to_scan", "gauge", "pages KSM scans per wake-up"), _ksm("pages_to_scan")),
    (Family("kvmtune_ksm_sleep_seconds", "gauge", "KSM's sleep between scans", "seconds"),
     _ksm("sleep_millisecs", 1e-3)),
    (Family("kvmtune_ksm_general_profit_bytes", "gauge", "what KSM saves on the host (general_profit)", "bytes"),
     _ksm("general_profit")),
    (Family("kvmtune_thp_enabled", "info", "transparent hugepages' enabled mode (kind: always, madvise, never)"),
     _mode("thp_enabled")),
    (Family("kvmtune_thp_defrag", "info", "transparent hugepages' defrag mode (kind)"), _mode("thp_defrag")),
    (Family("kvmtune_numa_balancing", "gauge", "kernel.numa_balancing (0 = off)"),
     _host(lambda f: f.snap.host.numa_balancing)),
    (Family("kvmtune_hypervisor_connected", "gauge", "0 while the hypervisor does not answer (guests are the last "
            "known ones)"), _host(lambda f: 0 if f.stale else 1)),
    (Family("kvmtune_snapshot_errors", "gauge", "figures the last collection could not read (kvmtune snapshot "
            "lists them)"), _host(lambda f: len(f.snap.errors))),
)


# -- perf counters (`--perf`; issue 13): each counter per guest (every QEMU thread) and per
# vCPU thread. A counter the host does not count (no PMU) has no sample, never a 0. A
# reopening starts the counts again from 0, which Prometheus takes for a counter reset.

def _perf_name(field: str) -> tuple[str, str, float]:
    """(name part, unit, scale) of a PerfCounters field: task_clock_ns is seconds."""
    return ("task_clock_seconds", "seconds", 1e-9) if field == "task_clock_ns" else (field, "", 1.0)


def _perf_total(field: str) -> Samples:
    _, _, scale = _perf_name(field)

    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            v = None if g.perf is None or g.perf.total is None else getattr(g.perf.total, field)
            if v is not None:
                yield _g(g), v * scale if scale != 1 else v
    return samples


def _perf_vcpu(field: str) -> Samples:
    _, _, scale = _perf_name(field)

    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for i, c in sorted((g.perf.vcpus if g.perf is not None else {}).items()):
                v = getattr(c, field)
                if v is not None:
                    yield _g(g, ("vcpu", str(i))), v * scale if scale != 1 else v
    return samples


def _kvm_exits_total(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        n = (g.perf.exits or {}).get(KVM_EXITS_TOTAL) if g.perf is not None else None
        if n is not None:
            yield _g(g), n


def _kvm_kinds(kinds: tuple[str, ...]) -> Samples:
    """The guest's KVM counters of one group (perfmodel), by kind."""
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for kind, n in sorted((g.perf.exits or {}).items() if g.perf is not None else ()):
                if kind in kinds:
                    yield _g(g, ("kind", kind)), n
    return samples


def _perf_families() -> Iterator[tuple[Family, Samples]]:
    for field in (*SOFTWARE, *HARDWARE):
        name, unit, _ = _perf_name(field)
        what = field.replace("_ns", "").replace("_", " ")
        yield (Family(f"kvmtune_guest_perf_{name}", "counter", f"perf {what} of every thread of the guest's "
                      "QEMU process since counting began", unit), _perf_total(field))
        yield (Family(f"kvmtune_guest_vcpu_perf_{name}", "counter", f"perf {what} of the vCPU thread since "
                      "counting began", unit), _perf_vcpu(field))
    yield (Family("kvmtune_guest_kvm_exits", "counter", "KVM exits of the guest (every reason) since the VM "
                  "started (KVM's own counters); none under TCG"), _kvm_exits_total)
    yield (Family("kvmtune_guest_kvm_exit_reasons", "counter", "KVM exits of the guest by reason (kind) since the "
                  "VM started; none under TCG"), _kvm_kinds(KVM_EXIT_REASONS))
    yield (Family("kvmtune_guest_kvm_halt_polls", "counter", "KVM halt polling of the guest's vCPUs (kind: "
                  "attempted, successful, invalid polls and wakeups; not exits) since the VM started"),
           _kvm_kinds(KVM_HALT_POLLS))
    yield (Family("kvmtune_guest_kvm_events", "counter", "other KVM events of the guest (kind: L1D flushes, "
                  "emulated instructions, async page faults, preemptions reported; not exits)"),
           _kvm_kinds(KVM_EVENTS))


FAMILIES += (*_perf_families(), *device_families(Family, _disk))


def families(frame: Frame) -> Iterator[tuple[Family, list[Sample]]]:
    """Every family with its samples for one frame (families with none included: a HELP stays)."""
    for fam, samples in FAMILIES:
        yield fam, list(samples(frame))
