"""What every check shares: the frame's figures (Ctx), a Finding made from its code's
catalogue entry, and the fixes several checks propose (the move, an XML edit)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import analysis, cpuset
from ..model import Guest, Host, Snapshot
from ..rates import GuestRate
from ..vocab import LIVE_NODESET_MODES
from .codes import CODES
from .findings import Finding, Fix

DiskHistory = Mapping[str, Mapping[str, Sequence[tuple[float | None, float | None]]]]   # oldest first

# A guest whose disks move at least this much on average over the frame's history is
# "I/O-heavy" (6.3: cache=none for guests with large I/O needs).
IO_HEAVY_BYTES_S = 10 * 1024 * 1024
IO_HEAVY_MIN_SAMPLES = 3


@dataclass
class Ctx:
    """One frame's figures, with what several checks derive once per frame."""
    snap: Snapshot
    rates: Mapping[str, GuestRate] = field(default_factory=dict)
    history: DiskHistory = field(default_factory=dict)
    _pins: dict[str, frozenset[int]] | None = None
    _pin_count: Counter[int] | None = None
    _topology: tuple[int, int, int] | None = None
    _cpu_node: dict[int, int] | None = None
    _topology_known: bool = False
    _cpu_vcpus: dict[int, list[tuple[str, frozenset[int]]]] | None = None
    _confined: dict[frozenset[int], tuple[int, frozenset[str]]] | None = None

    @property
    def host(self) -> Host:
        return self.snap.host

    @property
    def multi(self) -> bool:
        return len(self.snap.host.nodes) > 1

    def pinned_cpus(self) -> dict[str, frozenset[int]]:
        """Running guest -> the CPUs its pinned vCPUs may run on (computed once per frame)."""
        if self._pins is None:
            self._pins = {g.name: frozenset(c for v in g.vcpus if v.pinned for c in v.affinity)
                          for g in self.snap.guests if g.running and any(v.pinned for v in g.vcpus)}
        return self._pins

    def nodes_of(self, cpus: Iterable[int]) -> set[int]:
        """The nodes of these host CPUs (analysis.nodes_of_cpus, with the CPU -> node map built
        once per frame: the checks ask it for every guest)."""
        if self._cpu_node is None:
            self._cpu_node = {c: n.id for n in self.host.nodes for c in n.cpus}
        m = self._cpu_node
        return {m[c] for c in cpus if c in m}

    def vcpu_nodes(self, g: Guest) -> set[int]:
        """Where its vCPUs run now (analysis.vcpu_nodes)."""
        return self.nodes_of(c for v in g.vcpus for c in ((v.pcpu,) if v.pcpu is not None else v.affinity))

    def pinned_nodes(self, g: Guest) -> set[int]:
        """The nodes of the CPUs its pinned vCPUs may run on."""
        return self.nodes_of(c for v in g.vcpus if v.pinned for c in v.affinity)

    def locality(self, g: Guest) -> float | None:
        """analysis.locality through the frame's CPU -> node map."""
        mem = g.numa_memory_kib
        if not mem:
            return None
        total = sum(mem.values())
        nodes = self.vcpu_nodes(g)
        if total <= 0 or not nodes:
            return None
        return sum(v for n, v in mem.items() if n in nodes) / total

    def pinned_by_others(self, name: str) -> frozenset[int]:
        """The CPUs running guests other than `name` have pinned vCPUs to."""
        if self._pin_count is None:
            self._pin_count = Counter(c for cpus in self.pinned_cpus().values() for c in cpus)
        own = self.pinned_cpus().get(name, frozenset())
        return frozenset(c for c, k in self._pin_count.items() if k > (c in own))

    def confined(self, cpus: frozenset[int]) -> tuple[int, frozenset[str]]:
        """How many pinned vCPUs of running guests may run only on `cpus`, and their guests.
        From one CPU -> pinned vCPUs index per frame (not a scan of every guest per guest)."""
        if self._cpu_vcpus is None:
            self._cpu_vcpus, self._confined = {}, {}
            for g in self.snap.guests:
                if g.running:
                    for v in g.vcpus:
                        if v.pinned and v.affinity:
                            aff = frozenset(v.affinity)
                            self._cpu_vcpus.setdefault(min(aff), []).append((g.name, aff))
        assert self._confined is not None
        hit = self._confined.get(cpus)
        if hit is None:
            # a vCPU confined to `cpus` is indexed under its lowest CPU, which is in `cpus`
            within = [(n, aff) for c in cpus for n, aff in self._cpu_vcpus.get(c, ()) if aff <= cpus]
            hit = self._confined[cpus] = (len(within), frozenset(n for n, _ in within))
        return hit

    def host_topology(self) -> tuple[int, int, int] | None:
        """(sockets, cores per socket, threads per core) of the host; None without per-CPU figures."""
        if not self._topology_known:
            self._topology_known = True
            cpus = [c for c in self.host.cpus if c.socket is not None and c.core is not None]
            if cpus:
                sockets = {c.socket for c in cpus}
                cores = {(c.socket, c.core) for c in cpus}
                self._topology = (len(sockets), max(1, len(cores) // len(sockets)), max(1, len(cpus) // len(cores)))
        return self._topology


def finding(code: str, guest: str | None, evidence: str, fix: Fix | None = None,
            subject: str | None = None) -> Finding:
    c = CODES[code]
    return Finding(code, c.severity, guest, c.title, evidence, c.section, fix, subject)


def action(kind: str, target: str, **params: Any) -> Fix:
    return Fix(action=kind, target=target, params=params)


def xml_fix(guest: str, xml: str, *virt_xml: str, note: str | None = None) -> Fix:
    """An edit of the saved definition: the `virsh edit` snippet and the same as virt-xml
    (`--define`: virt-xml's default, written out; it takes effect at the next boot)."""
    return Fix(target=guest, xml=xml, virt_xml=("virt-xml", guest, *virt_xml, "--define"), note=note)


def move_fix(g: Guest, host: Host, nodes: Iterable[int]) -> Fix | None:
    """The move to `nodes`, in a scope libvirt takes: live while the guest has no numatune or
    a restrictive one (a running guest's strict nodeset cannot change), else its definition.
    None when the nodes' free memory cannot take it (the move would refuse)."""
    wanted = tuple(sorted(set(nodes)))
    if not wanted or not analysis.fits_nodes(g, host, wanted):
        return None
    nt = g.numatune
    same = nt is not None and nt.nodeset is not None and nt.mode in ("strict", "restrictive") \
        and _parse(nt.nodeset) == wanted
    scope = "live" if same or nt is None or nt.mode in LIVE_NODESET_MODES else "config"
    return action("move", g.name, nodes=list(wanted), scope=scope)


def _parse(text: str | None) -> tuple[int, ...]:
    try:
        return cpuset.parse(text or "")
    except cpuset.CpusetError:
        return ()


def split_on_purpose(ctx: Ctx, g: Guest) -> bool:
    """A guest NUMA topology (8.4.8) whose every cell is bound to host nodes (<memnode>) where
    that cell's vCPUs run, with the memory on those nodes: spread over nodes by design (8.4.1)."""
    cells = g.domain.cells if g.domain is not None else ()
    if not cells or any(not c.nodeset for c in cells):
        return False
    by_index = {v.index: v for v in g.vcpus}
    bound: set[int] = set()
    for c in cells:
        nodes = set(_parse(c.nodeset))
        if not nodes:
            return False
        bound |= nodes
        vcpus = [by_index[i] for i in _parse(c.cpus) if i in by_index]
        if not ctx.nodes_of(x for v in vcpus for x in ((v.pcpu,) if v.pcpu is not None else v.affinity)) <= nodes:
            return False
    return {n for n, _, _ in analysis.memory_nodes(g, analysis.SPLIT_MIN_SHARE)} <= bound


def numatune_nodes(g: Guest) -> tuple[int, ...]:
    return _parse(g.numatune.nodeset) if g.numatune is not None else ()


def node_cpus(host: Host, nodes: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(c for n in nodes if (node := host.node(n)) for c in node.cpus))


def nvcpus(g: Guest) -> int:
    return len(g.vcpus) or (g.nvcpus or 0)


def io_bytes_s(ctx: Ctx, g: Guest) -> float | None:
    """The guest's mean disk traffic (all disks, read + write) over the frame's history; None
    without enough samples (no false "I/O-heavy" from a missing figure)."""
    per = ctx.history.get(g.name) or {}
    total, n = 0.0, 0
    for samples in per.values():
        known = [(r or 0.0) + (w or 0.0) for r, w in samples if r is not None or w is not None]
        if len(known) >= IO_HEAVY_MIN_SAMPLES:
            total += sum(known) / len(known)
            n += 1
    return total if n else None


def io_heavy(ctx: Ctx, g: Guest) -> float | None:
    """Its mean traffic when the guest is I/O-heavy, else None."""
    v = io_bytes_s(ctx, g)
    return v if v is not None and v >= IO_HEAVY_BYTES_S else None
