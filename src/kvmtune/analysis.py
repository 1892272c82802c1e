"""What the figures mean: locality, node summaries, where a guest fits, throttles at their limit.

Plain functions over Snapshots (no Textual), so the TUI, `snapshot`, the actions and the
advisor (advise/, which turns these into the tuning guide's findings) share them. Number
formatting lives in fmt.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from . import cpuset
from .model import Guest, Host, Snapshot
from .rates import DiskRate
from .vocab import PAGE_KIB

# A node holding less than this share of a guest's memory does not make it "split":
# QEMU's own allocations and page cache leave a little on other nodes on any host.
SPLIT_MIN_SHARE = 0.10
# Locality below this is worth a warning (the guide: NUMA misses cost 10 % or more).
LOW_LOCALITY = 0.80
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


def memory_now_kib(guest: Guest) -> int:
    """The memory the guest has now: its balloon's current size (libvirt's balloon.current, the
    `memory_kib`), else, where libvirt never said (a guest stalled since it was first seen),
    the QEMU process's RSS."""
    return guest.memory_kib or guest.rss_kib or 0


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


def strict_need_kib(guest: Guest, nodes: Iterable[int]) -> int:
    """What binding the guest's memory to `nodes` (numatune strict) must still move there: its
    RAM minus what already lives there; hugepage-backed memory does not move with numatune.
    The one rule for "fits": the move form, the move and numatune actions and the advisor."""
    already = sum((guest.numa_memory_kib or {}).get(n, 0) for n in nodes)
    return max(0, guest.memory_kib - guest.hugepages_kib - already)


def fits_nodes(guest: Guest, host: Host, nodes: Iterable[int]) -> bool:
    """Whether `nodes`' free memory holds what a strict binding to them must move."""
    wanted = list(nodes)
    found = [host.node(n) for n in wanted]
    if not wanted or any(n is None for n in found):
        return False
    return strict_need_kib(guest, wanted) <= sum(n.mem_free_kib for n in found if n is not None)


def fitting_nodes(guest: Guest, host: Host) -> list[int]:
    """Nodes that could hold the whole guest: free memory for what must move there, and at
    least one CPU per vCPU."""
    need_cpus = len(guest.vcpus) or (guest.nvcpus or 1)
    return [n.id for n in host.nodes if len(n.cpus) >= need_cpus and fits_nodes(guest, host, (n.id,))]


def cpu_room(snap: Snapshot, guest: Guest, node_id: int, taken: Set[int] | None = None) -> int:
    """CPUs of a node no other running guest has pinned vCPUs to, minus this guest's vCPUs
    (negative: they would share CPUs with pinned guests). `taken` (the CPUs other guests have
    pinned) may be given when it is already known (the advisor computes it once per frame)."""
    node = snap.host.node(node_id)
    if node is None:
        return 0
    if taken is None:
        taken = {c for cpus in pins_of_others(snap, guest.name).values() for c in cpus}
    return len(set(node.cpus) - taken) - (len(guest.vcpus) or (guest.nvcpus or 1))


def best_node(guest: Guest, host: Host, snap: Snapshot | None = None,
              taken: Set[int] | None = None) -> int | None:
    """Where to move a guest: among the fitting nodes, one with CPU room for its vCPUs (when the
    snapshot is given: CPUs no other guest has pinned), then the one already holding most of
    its memory (least to migrate), then the freest. The move form and the advisor both ask here."""
    fit = fitting_nodes(guest, host)
    if not fit:
        return None
    mem = guest.numa_memory_kib or {}

    def key(n: int) -> tuple[bool, int, int]:
        node = host.node(n)
        assert node is not None  # fitting_nodes() returns ids taken from host.nodes
        room = snap is None or cpu_room(snap, guest, n, taken) >= 0
        return room, mem.get(n, 0), node.mem_free_kib

    return max(fit, key=key)


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


def pinned_count(guest: Guest) -> tuple[int, int]:
    """(pinned vCPUs, vCPUs): the table's P (all) or p (some), the pane's "pinned 3 of 8"."""
    return sum(1 for v in guest.vcpus if v.pinned), len(guest.vcpus)


# -- throttles --------------------------------------------------------------------------

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
