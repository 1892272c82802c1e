"""What the figures mean: locality, node summaries and the tuning guide's warnings.

Plain functions over Snapshots (no Textual), so the TUI, `snapshot` and tests share
them. Section numbers in warnings refer to the RHEL 7 Virtualization Tuning Guide. A
warning names its fix as an action kind (`fix`); each front end says how to apply it
(the TUI shows the key). Number formatting lives in fmt.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import cpuset
from .fmt import fmt_kib
from .model import Guest, Host, Snapshot
from .rates import DiskRate, GuestRate
from .vocab import PAGE_KIB

# A node holding less than this share of a guest's memory does not make it "split":
# QEMU's own allocations and page cache leave a little on other nodes on any host.
SPLIT_MIN_SHARE = 0.10
# Locality below this is worth a warning (the guide: NUMA misses cost 10 % or more).
LOW_LOCALITY = 0.80
# Memory use at or above this share of memtune hard_limit: the kernel may kill the guest.
HARD_LIMIT_CLOSE = 0.90
# A throttled disk at or above this share of its limit is "at limit".
AT_LIMIT = 0.95


# -- placement ---------------------------------------------------------------------------

def nodes_of_cpus(host: Host, cpus: Iterable[int]) -> set[int]:
    out = set()
    for c in cpus:
        n = host.node_of_cpu(c)
        if n is not None:
            out.add(n)
    return out


def vcpu_nodes(guest: Guest, host: Host) -> set[int]:
    """Nodes where the guest's vCPUs run now (their allowed set where the current CPU is unknown)."""
    out: set[int] = set()
    for v in guest.vcpus:
        out |= nodes_of_cpus(host, (v.pcpu,) if v.pcpu is not None else v.affinity)
    return out


def guest_memory_kib(guest: Guest) -> int:
    """The guest's RAM as the host holds it (sum over nodes), or its configured size."""
    if guest.numa_memory_kib:
        return sum(guest.numa_memory_kib.values())
    return guest.memory_kib


def locality(guest: Guest, host: Host) -> float | None:
    """Share (0..1) of the guest's memory on the nodes where its vCPUs run; None if unknown."""
    mem = guest.numa_memory_kib
    if not mem:
        return None
    total = sum(mem.values())
    nodes = vcpu_nodes(guest, host)
    if total <= 0 or not nodes:
        return None
    return sum(v for n, v in mem.items() if n in nodes) / total


def memory_nodes(guest: Guest, min_share: float = 0.0) -> list[tuple[int, int, float]]:
    """(node, KiB, share) for each node holding at least `min_share` of the guest's memory."""
    mem = guest.numa_memory_kib or {}
    total = sum(mem.values())
    if total <= 0:
        return []
    return [(n, kib, kib / total) for n, kib in sorted(mem.items())
            if kib > 0 and kib / total >= min_share]


def fitting_nodes(guest: Guest, host: Host) -> list[int]:
    """Nodes that could hold the whole guest: enough memory and at least one CPU per vCPU."""
    need_cpus = len(guest.vcpus) or (guest.nvcpus or 1)
    return [n.id for n in host.nodes
            if n.mem_total_kib >= guest.memory_kib and len(n.cpus) >= need_cpus]


def best_node(guest: Guest, host: Host) -> int | None:
    """Where to move a guest: the fitting node already holding most of its memory, else the freest."""
    fit = fitting_nodes(guest, host)
    if not fit:
        return None
    mem = guest.numa_memory_kib or {}

    def free_kib(n: int) -> int:
        node = host.node(n)
        assert node is not None  # fitting_nodes() returns ids taken from host.nodes
        return node.mem_free_kib

    return max(fit, key=lambda n: (mem.get(n, 0), free_kib(n)))


def pins_of_others(snap: Snapshot, name: str) -> dict[str, tuple[int, ...]]:
    """guest -> the CPUs its pinned vCPUs may run on, for every running guest but `name`."""
    out = {}
    for g in snap.guests:
        if g.name != name and g.running:
            cpus = {c for v in g.vcpus if v.pinned for c in v.affinity}
            if cpus:
                out[g.name] = tuple(sorted(cpus))
    return out


def confined_vcpus(snap: Snapshot, cpus: Iterable[int], except_name: str) -> dict[str, int]:
    """guest -> how many of its pinned vCPUs may run only on `cpus` (running guests but one)."""
    within = set(cpus)
    out = {}
    for g in snap.guests:
        if g.name != except_name and g.running:
            n = sum(1 for v in g.vcpus if v.pinned and v.affinity and set(v.affinity) <= within)
            if n:
                out[g.name] = n
    return out


def nodes_label(guest: Guest) -> str:
    """The nodes its memory is on, as a node list ("0", "0-1"); "-" when unknown."""
    nodes = [n for n, _, _ in memory_nodes(guest, 0.01)]
    return cpuset.format(nodes) if nodes else "-"


def is_pinned(guest: Guest) -> bool:
    return any(v.pinned for v in guest.vcpus)


# -- warnings ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    code: str      # stable id, for tests and filters
    text: str      # one line for a user: what is wrong and what to do
    section: str   # the guide's section
    fix: str | None = None   # the action kind that fixes it ("move", "numatune", ...)


def guest_warnings(guest: Guest, host: Host, rate: GuestRate | None = None) -> list[Finding]:
    """The guide's warnings for one guest, most important first."""
    out: list[Finding] = []
    if not guest.running:
        return out
    multi = len(host.nodes) > 1
    split = memory_nodes(guest, SPLIT_MIN_SHARE)
    fit = fitting_nodes(guest, host)
    if multi and len(split) > 1 and fit:
        out.append(Finding(
            "split", f"memory split over nodes {cpuset.format(n for n, _, _ in split)} though it "
            f"fits on node {fit[0]}: move it — vcpupin + numatune strict on one node", "8.4.1", "move"))
    loc = locality(guest, host)
    if multi and loc is not None and loc < LOW_LOCALITY:
        out.append(Finding(
            "remote", f"only {loc:.0%} of its memory is local to its vCPUs: NUMA misses "
            "cost 10 % or more", "8.4.1"))
    pinned = [v for v in guest.vcpus if v.pinned]
    if pinned and guest.numatune is None:
        out.append(Finding(
            "pinned-no-numatune", "vCPUs pinned without numatune: set both together", "8.4.1",
            "numatune"))
    if multi and pinned:
        if any(len(nodes_of_cpus(host, v.affinity)) > 1 for v in pinned):
            out.append(Finding("vcpu-across-nodes",
                               "a vCPU is pinned to CPUs on more than one node", "8.4.1"))
        elif len(nodes_of_cpus(host, [c for v in pinned for c in v.affinity])) > 1:
            out.append(Finding("vcpus-across-nodes",
                               "its vCPUs are pinned to different nodes", "8.4.1"))
    if multi and guest.numatune is not None and guest.numatune.mode == "strict" and pinned:
        try:
            mem_nodes = set(cpuset.parse(guest.numatune.nodeset or ""))
        except cpuset.CpusetError:
            mem_nodes = set()
        cpu_nodes = nodes_of_cpus(host, [c for v in pinned for c in v.affinity])
        if mem_nodes and cpu_nodes and not cpu_nodes <= mem_nodes:
            out.append(Finding(
                "numatune-elsewhere", f"numatune strict on node(s) {cpuset.format(mem_nodes)} but "
                f"vCPUs pinned to node(s) {cpuset.format(cpu_nodes)}", "8.4.1"))
    if multi and pinned and guest.emulator_affinity:
        emu = nodes_of_cpus(host, guest.emulator_affinity)
        cpu_nodes = nodes_of_cpus(host, [c for v in pinned for c in v.affinity])
        if emu and cpu_nodes and not emu <= cpu_nodes:
            out.append(Finding("emulator-elsewhere",
                               "emulator threads run off the vCPUs' node: pin them too", "8.4.4",
                               "emulatorpin"))
    mt = guest.memtune
    if mt is not None and mt.hard_limit_kib is not None:
        used = guest_memory_kib(guest)
        if mt.hard_limit_kib < guest.memory_kib:
            out.append(Finding(
                "hard-limit-low", f"hard_limit {fmt_kib(mt.hard_limit_kib)} is below its memory "
                f"{fmt_kib(guest.memory_kib)}: the kernel may kill it", "7.3.2"))
        elif used >= HARD_LIMIT_CLOSE * mt.hard_limit_kib:
            out.append(Finding(
                "hard-limit-close", f"uses {fmt_kib(used)} of its {fmt_kib(mt.hard_limit_kib)} "
                "hard_limit: the kernel may kill it", "7.3.2"))
        if mt.swap_hard_limit_kib is not None and mt.swap_hard_limit_kib < mt.hard_limit_kib:
            out.append(Finding("swap-limit-low",
                               "swap_hard_limit must be larger than hard_limit", "7.3.2"))
    if guest.memory_backing is not None and guest.memory_backing.locked and (
            mt is None or mt.hard_limit_kib is None):
        out.append(Finding("locked-no-limit",
                           "locked memory needs a memtune hard_limit (memory + QEMU's own)", "7.3.2"))
    if rate is not None:
        for d in guest.disks:
            why = at_limit(d.iotune, rate.disks.get(d.target))
            if why:
                out.append(Finding("at-limit", f"{d.target} is at its throttle ({why})", "6.5.1"))
    return out


def host_warnings(host: Host) -> list[Finding]:
    out: list[Finding] = []
    k = host.ksm
    if k is not None and k.run == 1 and len(host.nodes) > 1 and k.merge_across_nodes == 1:
        out.append(Finding("ksm-across-nodes",
                           "KSM merges across nodes: set merge_across_nodes=0", "8.5", "ksm"))
    if host.numa_balancing == 0 and len(host.nodes) > 1:
        out.append(Finding("numa-balancing-off",
                           "automatic NUMA balancing is off on a NUMA host", "8.3"))
    return out


def at_limit(iotune: Mapping[str, int], rate: DiskRate | None) -> str | None:
    """Which throttle a disk is hitting ("total_bytes_sec"...), or None."""
    if rate is None or not iotune:
        return None
    figures = {
        "total_bytes_sec": rate.total_bytes_s, "read_bytes_sec": rate.rd_bytes_s,
        "write_bytes_sec": rate.wr_bytes_s, "total_iops_sec": rate.total_iops,
        "read_iops_sec": rate.rd_iops, "write_iops_sec": rate.wr_iops,
    }
    for key, value in figures.items():
        limit = int(iotune.get(key, 0) or 0)
        if limit > 0 and value is not None and value >= AT_LIMIT * limit:
            return key
    return None


# -- host summaries ----------------------------------------------------------------------

@dataclass(frozen=True)
class NodeUse:
    node: int
    cpus: tuple[int, ...]
    mem_total_kib: int
    mem_used_kib: int
    guests_kib: dict[str, int]          # guest name -> KiB it holds on this node
    vcpu_guests: dict[str, int]         # guest name -> vCPUs running here now


def node_summary(snap: Snapshot) -> list[NodeUse]:
    """Per host node: memory, and which guests hold memory there or run vCPUs there."""
    out = []
    for n in snap.host.nodes:
        mem = {g.name: g.numa_memory_kib[n.id] for g in snap.guests
               if g.numa_memory_kib and g.numa_memory_kib.get(n.id, 0) > 0}
        cpus = {}
        for g in snap.guests:
            k = sum(1 for v in g.vcpus if v.pcpu is not None and v.pcpu in n.cpus)
            if k:
                cpus[g.name] = k
        out.append(NodeUse(n.id, n.cpus, n.mem_total_kib, n.mem_used_kib, mem, cpus))
    return out


def hugepage_holders(snap: Snapshot, size_kib: int) -> list[tuple[str, dict[int, int]]]:
    """(guest, {node: pages}) for guests holding pages of `size_kib`, biggest first."""
    out = [(g.name, dict(g.hugepages[size_kib])) for g in snap.guests
           if g.hugepages and g.hugepages.get(size_kib)]
    return sorted(out, key=lambda t: -sum(t[1].values()))


def hugepage_sizes(snap: Snapshot) -> list[int]:
    sizes = set(snap.host.hugepages)
    for n in snap.host.nodes:
        sizes |= set(n.hugepages)
    return sorted(sizes)


def ksm_saved_kib(host: Host) -> int | None:
    """Memory KSM saves: pages_sharing are the duplicates it removed."""
    if host.ksm is None:
        return None
    return host.ksm.pages_sharing * PAGE_KIB


def ksm_ratio(host: Host) -> float | None:
    """pages_sharing / pages_shared: how many mappings each shared page serves."""
    k = host.ksm
    if k is None or k.pages_shared <= 0:
        return None
    return k.pages_sharing / k.pages_shared


def guest_ksm_saved_kib(guest: Guest) -> int | None:
    """The guest's memory KSM merged (its merging pages). Its "profit" is another figure:
    that minus KSM's own bookkeeping, and it can be negative."""
    if guest.ksm is None or guest.ksm.merging_pages is None:
        return None
    return guest.ksm.merging_pages * PAGE_KIB


def moved_vcpus(before: Guest | None, after: Guest) -> set[int]:
    """vCPU indexes whose current host CPU changed since the previous snapshot."""
    if before is None:
        return set()
    old = {v.index: v.pcpu for v in before.vcpus}
    return {v.index for v in after.vcpus
            if v.index in old and old[v.index] is not None and v.pcpu is not None
            and old[v.index] != v.pcpu}
