"""The Snapshot: one frozen, plain-data picture of a host and its guests.

Live collection, the demo host and replay all produce these; the UI only renders them.
`to_json`/`from_json` follow the v1 contract (docs/snapshot-json.md: keys may be added, never renamed or
dropped). `from_json` reads what it knows of any kvmtune.snapshot/N document: unknown keys are ignored and missing
optional ones take their defaults, so a recording made by a newer kvmtune opens in an older one. Sizes are KiB
unless a name says otherwise. In the model, maps keyed by a node id or a page size use int keys; JSON: strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import perfmodel
from .cpuset import default_cpus
from .devmodel import Disk, NetIf, VhostThread, disks_in, disks_out, nics_in, nics_out, vhost_in, vhost_out
from .jsonfields import known as _known
from .jsonfields import opt_list as _opt_list
from .jsonfields import opt_tuple as _opt_tuple
from .jsonfields import plain as _plain
from .vocab import MEMTUNE_UNLIMITED_KIB, NumaMode, VcpuState
from .xmlfacts import DomainFacts, domain_in, domain_out

__all__ = ["MEMTUNE_UNLIMITED_KIB", "SCHEMA", "Disk", "NetIf"]   # (and the classes below)

SCHEMA_NAME = "kvmtune.snapshot"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"


def schema_version(d: Mapping[str, Any]) -> int:
    """The N of a kvmtune.snapshot/N document; ValueError for anything else."""
    schema = d.get("schema") if isinstance(d, Mapping) else None
    name, _, version = str(schema).partition("/")
    if name != SCHEMA_NAME or not (version.isascii() and version.isdigit()) or int(version) < 1:
        raise ValueError(f"not a {SCHEMA_NAME} document (schema={schema!r})")
    return int(version)


@dataclass(frozen=True)
class NodeHugePool:
    total: int
    free: int
    surplus: int

    @property
    def used(self) -> int:
        return self.total - self.free


@dataclass(frozen=True)
class HugePool:
    total: int
    free: int
    reserved: int
    surplus: int

    @property
    def used(self) -> int:
        return self.total - self.free


@dataclass(frozen=True)
class Node:
    id: int
    cpus: tuple[int, ...]
    mem_total_kib: int
    mem_free_kib: int
    distances: tuple[int, ...] | None = None
    hugepages: Mapping[int, NodeHugePool] = field(default_factory=dict)
    numastat: Mapping[str, int] | None = None   # nodeN/numastat as the kernel names them (pages, cumulative)

    @property
    def mem_used_kib(self) -> int:
        return self.mem_total_kib - self.mem_free_kib


@dataclass(frozen=True)
class Cpu:
    """One logical host CPU: where it sits, and its cumulative busy/total time."""
    id: int
    node: int | None = None
    socket: int | None = None
    core: int | None = None
    busy_s: float | None = None
    total_s: float | None = None


@dataclass(frozen=True)
class Ksm:
    run: int
    pages_shared: int
    pages_sharing: int
    pages_unshared: int
    pages_volatile: int
    full_scans: int
    merge_across_nodes: int | None
    pages_to_scan: int
    sleep_millisecs: int
    general_profit: int | None = None
    pages_scanned: int | None = None


@dataclass(frozen=True)
class Host:
    hostname: str
    nodes: tuple[Node, ...] = ()
    hugepages: Mapping[int, HugePool] = field(default_factory=dict)
    ksm: Ksm | None = None
    thp_enabled: str | None = None
    numa_balancing: int | None = None
    tuned_profile: str | None = None
    cpus: tuple[Cpu, ...] = ()
    thp_defrag: str | None = None
    mem_total_kib: int | None = None
    mem_free_kib: int | None = None
    tuned_running: bool | None = None    # daemons running (None: not known)
    numad_running: bool | None = None
    arp_filter: int | None = None        # net.ipv4.conf.all.arp_filter; vhost_net's experimental_zcopytx:
    vhost_zcopytx: int | None = None
    uptime_s: float | None = None        # /proc/uptime: seconds since the host booted
    loadavg: tuple[float, float, float] | None = None   # /proc/loadavg: 1, 5 and 15 minutes

    def node(self, node_id: int) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    @property
    def cpu_ids(self) -> tuple[int, ...]:
        if self.cpus:
            return tuple(c.id for c in self.cpus)
        return tuple(sorted(c for n in self.nodes for c in n.cpus))

    def node_of_cpu(self, cpu: int) -> int | None:
        for n in self.nodes:
            if cpu in n.cpus:
                return n.id
        return None


@dataclass(frozen=True)
class Vcpu:
    index: int
    tid: int | None
    pcpu: int | None
    affinity: tuple[int, ...]
    pinned: bool
    cpu_time_ns: int | None = None
    state: VcpuState | None = None   # vocab.VcpuState: its thread's, else libvirt's; None unknown


@dataclass(frozen=True)
class IoThread:
    id: int
    affinity: tuple[int, ...]


@dataclass(frozen=True)
class NumaTune:
    mode: NumaMode
    nodeset: str | None


@dataclass(frozen=True)
class MemTune:
    """None = unlimited."""
    hard_limit_kib: int | None = None
    soft_limit_kib: int | None = None
    swap_hard_limit_kib: int | None = None


@dataclass(frozen=True)
class GuestKsm:
    merging_pages: int | None
    profit_bytes: int | None
    shared_kib: Mapping[int, int] | None = None   # the merged pages' KiB per node; None when none merge


@dataclass(frozen=True)
class MemoryBacking:
    hugepages: bool = False
    page_size_kib: int | None = None
    locked: bool = False
    nosharepages: bool = False


@dataclass(frozen=True)
class Guest:
    name: str
    uuid: str
    id: int | None
    state: str
    pid: int | None
    memory_kib: int
    vcpus: tuple[Vcpu, ...] = ()
    emulator_affinity: tuple[int, ...] | None = None
    numatune: NumaTune | None = None
    memtune: MemTune | None = None
    numa_memory_kib: Mapping[int, int] | None = None
    hugepages: Mapping[int, Mapping[int, int]] | None = None
    ksm: GuestKsm | None = None
    blkio_weight: int | None = None
    disks: tuple[Disk, ...] = ()
    iothreads: tuple[IoThread, ...] | None = None
    memory_backing: MemoryBacking | None = None
    cpu_time_ns: int | None = None
    nvcpus: int | None = None
    vcpu_cpuset: str | None = None   # <vcpu cpuset=...> as in the XML: its default CPUs
    perf: perfmodel.GuestPerf | None = None   # perf counters (perfmodel.py); None: perf collection is off
    domain: DomainFacts | None = None   # facts from the domain XML (the advisor's); None: not read
    nics: tuple[NetIf, ...] = ()   # its network interfaces (devmodel.py)
    vhost_threads: tuple[VhostThread, ...] = ()   # the vhost-net workers of its NICs (devmodel.py)
    # libvirt did not answer for it in time this tick (its QEMU stopped, a job holding it): its
    # state and block counters are the last ones read; /proc and cgroup figures are current
    stale: bool = False
    # its settings (XML, pins, tunables, disks) are not read yet: the TUI's first ticks on a
    # large host read them a share at a time, so the guests show at once (collect/guests.py)
    settings_pending: bool = False
    max_memory_kib: int | None = None   # the configured size (balloon.maximum, <memory>); memory_kib: now
    rss_kib: int | None = None          # the QEMU process's resident memory (/proc/PID/statm)

    @property
    def running(self) -> bool:
        return self.state == "running" or self.state == "paused"

    @property
    def hugepages_kib(self) -> int:
        if not self.hugepages:
            return 0
        return sum(size * n for size, per_node in self.hugepages.items() for n in per_node.values())


@dataclass(frozen=True)
class Error:
    source: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    time: float
    host: Host
    guests: tuple[Guest, ...] = ()
    errors: tuple[Error, ...] = ()
    # True when the guest list could not be read (libvirtd down): the UI greys out.
    disconnected: bool = False

    def guest(self, name: str) -> Guest | None:
        return next((g for g in self.guests if g.name == name), None)

    def default_cpus(self, g: Guest) -> tuple[int, ...]:
        return default_cpus(self.host.cpu_ids, g.vcpu_cpuset)

    def with_errors(self, *errors: Error) -> Snapshot:
        return replace(self, errors=self.errors + tuple(errors))

    # -- JSON ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "time": self.time,
            "host": _host_out(self.host),
            "guests": [_guest_out(g) for g in self.guests],
            "errors": [{"source": e.source, "message": e.message} for e in self.errors],
            "disconnected": self.disconnected,
        }

    def dumps(self, **kw: Any) -> str:
        return json.dumps(self.to_json(), **kw)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Snapshot:
        """A Snapshot from a kvmtune.snapshot/N document (any N: what this version knows).

        ValueError (with the key at fault) for a document that is not one or lacks a
        required key; never another exception for any JSON value."""
        schema_version(d)
        try:
            return cls(
                time=float(d["time"]),
                host=_host_in(d["host"]),
                guests=tuple(_guest_in(g) for g in d.get("guests") or ()),
                errors=tuple(Error(str(e["source"]), str(e["message"])) for e in d.get("errors") or ()),
                disconnected=bool(d.get("disconnected", False)),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a valid {SCHEMA_NAME} document: {type(e).__name__}: {e}") from None

    @classmethod
    def loads(cls, text: str) -> Snapshot:
        return cls.from_json(json.loads(text))


# -- JSON helpers (kept next to the classes they mirror) -------------------------------
def _host_out(h: Host) -> dict[str, Any]:
    return {
        "hostname": h.hostname,
        "nodes": [{
            "id": n.id, "cpus": list(n.cpus),
            "mem_total_kib": n.mem_total_kib, "mem_free_kib": n.mem_free_kib,
            "distances": _opt_list(n.distances),
            "hugepages": {str(s): _plain(p) for s, p in n.hugepages.items()},
            "numastat": None if n.numastat is None else dict(n.numastat),
        } for n in h.nodes],
        "hugepages": {str(s): _plain(p) for s, p in h.hugepages.items()},
        "ksm": None if h.ksm is None else _plain(h.ksm),
        "thp_enabled": h.thp_enabled,
        "numa_balancing": h.numa_balancing,
        "tuned_profile": h.tuned_profile,
        "cpus": [_plain(c) for c in h.cpus],
        "thp_defrag": h.thp_defrag,
        "mem_total_kib": h.mem_total_kib,
        "mem_free_kib": h.mem_free_kib,
        "tuned_running": h.tuned_running,
        "numad_running": h.numad_running,
        "arp_filter": h.arp_filter,
        "vhost_zcopytx": h.vhost_zcopytx,
        "uptime_s": h.uptime_s,
        "loadavg": None if h.loadavg is None else list(h.loadavg),
    }


def _host_in(d: Mapping[str, Any]) -> Host:
    return Host(
        hostname=d["hostname"],
        nodes=tuple(Node(
            id=n["id"], cpus=tuple(n["cpus"]),
            mem_total_kib=n["mem_total_kib"], mem_free_kib=n["mem_free_kib"],
            distances=_opt_tuple(n.get("distances")),
            hugepages={int(s): NodeHugePool(**_known(NodeHugePool, p)) for s, p in (n.get("hugepages") or {}).items()},
            numastat=None if (ns := n.get("numastat")) is None else {str(k): int(v) for k, v in ns.items()},
        ) for n in (d.get("nodes") or ())),
        hugepages={int(s): HugePool(**_known(HugePool, p)) for s, p in (d.get("hugepages") or {}).items()},
        ksm=None if d.get("ksm") is None else Ksm(**_known(Ksm, d["ksm"])),
        thp_enabled=d.get("thp_enabled"),
        numa_balancing=d.get("numa_balancing"),
        tuned_profile=d.get("tuned_profile"),
        cpus=tuple(Cpu(**_known(Cpu, c)) for c in (d.get("cpus") or ())),
        thp_defrag=d.get("thp_defrag"),
        mem_total_kib=d.get("mem_total_kib"),
        mem_free_kib=d.get("mem_free_kib"),
        tuned_running=d.get("tuned_running"),
        numad_running=d.get("numad_running"),
        arp_filter=d.get("arp_filter"),
        vhost_zcopytx=d.get("vhost_zcopytx"),
        uptime_s=d.get("uptime_s"),
        loadavg=_loadavg(d.get("loadavg")),
    )


def _loadavg(v: Any) -> tuple[float, float, float] | None:
    if v is None:
        return None
    one, five, fifteen = (float(x) for x in v)
    return one, five, fifteen


def _guest_out(g: Guest) -> dict[str, Any]:
    return {
        "name": g.name, "uuid": g.uuid, "id": g.id, "state": g.state, "pid": g.pid,
        "memory_kib": g.memory_kib,
        "vcpus": [{**_plain(v), "affinity": list(v.affinity)} for v in g.vcpus],
        "emulator_affinity": _opt_list(g.emulator_affinity),
        "numatune": None if g.numatune is None else _plain(g.numatune),
        "memtune": None if g.memtune is None else _plain(g.memtune),
        "numa_memory_kib": None if g.numa_memory_kib is None
        else {str(n): v for n, v in g.numa_memory_kib.items()},
        "hugepages": None if g.hugepages is None
        else {str(s): {str(n): c for n, c in per.items()} for s, per in g.hugepages.items()},
        "ksm": None if (k := g.ksm) is None else {**_plain(k), "shared_kib": None if k.shared_kib is None
                                                   else {str(n): v for n, v in k.shared_kib.items()}},
        "blkio_weight": g.blkio_weight,
        "disks": disks_out(g.disks),
        "iothreads": None if g.iothreads is None
        else [{"id": t.id, "affinity": list(t.affinity)} for t in g.iothreads],
        "memory_backing": None if g.memory_backing is None else _plain(g.memory_backing),
        "cpu_time_ns": g.cpu_time_ns,
        "nvcpus": g.nvcpus,
        "vcpu_cpuset": g.vcpu_cpuset, "perf": perfmodel.to_json(g.perf),
        "domain": domain_out(g.domain), "nics": nics_out(g.nics),
        "vhost_threads": vhost_out(g.vhost_threads), "stale": g.stale, "settings_pending": g.settings_pending,
        "max_memory_kib": g.max_memory_kib, "rss_kib": g.rss_kib,
    }


def _guest_in(d: Mapping[str, Any]) -> Guest:
    return Guest(
        name=d["name"], uuid=d["uuid"], id=d.get("id"), state=d["state"], pid=d.get("pid"),
        memory_kib=d["memory_kib"],
        vcpus=tuple(Vcpu(**{**_known(Vcpu, v), "affinity": tuple(v.get("affinity") or ())})
                    for v in (d.get("vcpus") or ())),
        emulator_affinity=_opt_tuple(d.get("emulator_affinity")),
        numatune=None if d.get("numatune") is None else NumaTune(**_known(NumaTune, d["numatune"])),
        memtune=None if d.get("memtune") is None else MemTune(**_known(MemTune, d["memtune"])),
        numa_memory_kib=None if d.get("numa_memory_kib") is None
        else {int(n): v for n, v in d["numa_memory_kib"].items()},
        hugepages=None if d.get("hugepages") is None
        else {int(s): {int(n): c for n, c in per.items()} for s, per in d["hugepages"].items()},
        ksm=None if (k := d.get("ksm")) is None else GuestKsm(**{**_known(GuestKsm, k), "shared_kib": None if (
            sh := k.get("shared_kib")) is None else {int(n): v for n, v in sh.items()}}),
        blkio_weight=d.get("blkio_weight"),
        disks=disks_in(d.get("disks")),
        iothreads=None if d.get("iothreads") is None
        else tuple(IoThread(t["id"], tuple(t["affinity"])) for t in d["iothreads"]),
        memory_backing=None if d.get("memory_backing") is None
        else MemoryBacking(**_known(MemoryBacking, d["memory_backing"])),
        cpu_time_ns=d.get("cpu_time_ns"),
        nvcpus=d.get("nvcpus"),
        vcpu_cpuset=d.get("vcpu_cpuset"), perf=perfmodel.from_json(d.get("perf")),
        domain=domain_in(d.get("domain")), nics=nics_in(d.get("nics")),
        stale=bool(d.get("stale", False)), settings_pending=bool(d.get("settings_pending", False)),
        vhost_threads=vhost_in(d.get("vhost_threads")), max_memory_kib=d.get("max_memory_kib"),
        rss_kib=d.get("rss_kib"),
    )

