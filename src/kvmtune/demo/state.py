"""The demo's mutable state: one SimGuest per guest, with libvirt's settings and the kernel's figures.

The hypervisor (hypervisor.py) reads and changes the settings; the dynamics (dynamics.py)
advance the figures, and the tree writer (tree.py) writes them into the sys/proc tree.
"""

from __future__ import annotations

import random
import uuid as uuidlib
from dataclasses import dataclass, field

from ..model import MemTune, NumaTune
from ..vocab import IOTUNE_INT_KEYS, PAGE_KIB, GuestState
from . import scenario as sc

ALL_CPUS = tuple(range(sc.NCPUS))
QEMU_OVERHEAD_KIB = 28 * 1024        # QEMU's own anonymous memory (heap, thread stacks)


@dataclass
class Tunables:
    """What libvirt stores for a guest (one copy live, one persistent)."""
    vcpu_pins: list[tuple[int, ...] | None]          # None = not pinned (all CPUs)
    emulator_pin: tuple[int, ...] | None = None
    iothread_pins: dict[int, tuple[int, ...] | None] = field(default_factory=dict)
    numatune: NumaTune | None = None
    memtune: MemTune = field(default_factory=MemTune)
    blkio_weight: int = 0
    device_weight: str = ""
    iotune: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class DiskState:
    spec: sc.DiskSpec
    demand: float = 1.0            # random-walk multiplier on the spec's rates
    rd_bytes: float = 0.0
    wr_bytes: float = 0.0
    rd_reqs: float = 0.0
    wr_reqs: float = 0.0
    rd_ns: float = 0.0             # total time spent on each kind of request (the block group's *.times)
    wr_ns: float = 0.0
    fl_reqs: float = 0.0
    fl_ns: float = 0.0


@dataclass
class NicState:
    """One NIC's host device and its counters, in the guest's view (rx: what the guest received)."""
    spec: sc.NicSpec
    dev: str | None = None         # the tap (vnetN) of a running guest; None: none (not running, type user)
    demand: float = 1.0
    rx_bytes: float = 0.0
    rx_packets: float = 0.0
    rx_drop: float = 0.0
    tx_bytes: float = 0.0
    tx_packets: float = 0.0

    @property
    def vhost(self) -> bool:
        """vhost-net carries it: a virtio NIC on a tap unless the XML says <driver name='qemu'/>."""
        return self.spec.type != "user" and self.spec.model == "virtio" and self.spec.driver != "qemu"


@dataclass
class SimGuest:
    spec: sc.GuestSpec
    uuid: str
    live: Tunables
    config: Tunables
    disks: list[DiskState]
    nics: list[NicState] = field(default_factory=list)
    dom_id: int | None = None
    pid: int | None = None
    anon: dict[int, float] = field(default_factory=dict)          # KiB per node
    huge: dict[int, int] = field(default_factory=dict)            # hugepages held per node
    vcpu_load: list[float] = field(default_factory=list)
    vcpu_cpu: list[int] = field(default_factory=list)
    vcpu_ns: list[float] = field(default_factory=list)
    emu_ns: float = 0.0
    emu_cpu: int = 0
    ksm_merging: float = 0.0        # pages
    ksm_scanned: float = 0.0        # pages scanned in this guest, cumulative
    mem_key: tuple[object, ...] = ()   # what the memory files were last written from

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self.dom_id is not None

    @property
    def state(self) -> GuestState:
        return "running" if self.running else "shut off"

    @property
    def current(self) -> Tunables:
        """libvirt's "current" settings: live while running, else the persistent ones."""
        return self.live if self.running else self.config

    def vcpu_affinity(self, i: int) -> tuple[int, ...]:
        return self.live.vcpu_pins[i] or ALL_CPUS

    def main_pid(self) -> int:
        """The QEMU process's pid; the guest must be running."""
        if self.pid is None:
            raise ValueError(f"guest {self.name} is not running: it has no QEMU process")
        return self.pid

    def tids(self) -> dict[str, int]:
        """Thread name -> tid: main thread, helpers, vCPUs, iothreads (deterministic from the pid)."""
        p = self.main_pid()
        out = {"qemu-system-x86": p, "call_rcu": p + 1, "IO mon_iothread": p + 3}
        for i in range(self.spec.vcpus):
            out[f"CPU {i}/KVM"] = p + 4 + i
        for t in range(1, self.spec.iothreads + 1):
            out[f"IO iothread{t}"] = p + 4 + self.spec.vcpus + t
        # a vhost-net worker per NIC on vhost, a thread of QEMU as from Linux 6.4 (each is named
        # vhost-PID: the key's "/N" keeps them apart and is not part of the name, see comm())
        for i, n in enumerate(self.nics):
            if n.vhost:
                out[f"vhost-{p}/{i}"] = p + 4 + self.spec.vcpus + self.spec.iothreads + 1 + i
        return out

    @property
    def mergeable(self) -> bool:
        return self.spec.hugepage_kib is None and self.spec.ksm_share > 0

    def ram_kib(self) -> float:
        return sum(self.anon.values())


def _tunables(spec: sc.GuestSpec) -> Tunables:
    """The spec's settings as new objects (made twice, live and config: a deepcopy of them was
    an eighth of building the 1000-guest demo host)."""
    return Tunables(
        vcpu_pins=[p or None for p in spec.pins] if spec.pins else [None] * spec.vcpus,   # (): not pinned
        emulator_pin=spec.emulator_pin,
        iothread_pins={t: spec.iothread_pins.get(t) for t in range(1, spec.iothreads + 1)},
        numatune=NumaTune(*spec.numatune) if spec.numatune else None,
        memtune=MemTune(hard_limit_kib=spec.hard_limit_kib, soft_limit_kib=spec.soft_limit_kib,
                        swap_hard_limit_kib=spec.swap_hard_limit_kib),
        blkio_weight=spec.blkio_weight,
        iotune={d.target: {k: int(d.iotune.get(k, 0)) for k in IOTUNE_INT_KEYS} for d in spec.disks},
    )


def build(spec: sc.GuestSpec, rng: random.Random, dom_id: int | None, pid: int | None) -> SimGuest:
    """A guest in its start state: settings from the spec, figures as if it had run a while."""
    g = SimGuest(spec=spec, uuid=str(uuidlib.UUID(int=rng.getrandbits(128), version=4)),
                 live=_tunables(spec), config=_tunables(spec),
                 disks=[DiskState(d, demand=rng.uniform(0.7, 1.3)) for d in spec.disks],
                 nics=[NicState(n) for n in spec.nics])
    if dom_id is None:
        return g
    g.dom_id, g.pid = dom_id, pid
    uptime = rng.uniform(2, 40) * 86400
    if spec.hugepage_kib:
        for node, share in spec.mem_nodes.items():
            g.huge[node] = round(spec.memory_kib * share / spec.hugepage_kib)
        ram = 0.0
    else:
        ram = spec.memory_kib * spec.touched
    home = max(spec.mem_nodes, key=spec.mem_nodes.__getitem__)
    for node, share in spec.mem_nodes.items():
        g.anon[node] = ram * share
    g.anon[home] = g.anon.get(home, 0.0) + QEMU_OVERHEAD_KIB
    g.vcpu_load = [min(1.0, max(0.0, rng.gauss(spec.load, 0.08))) for _ in range(spec.vcpus)]
    g.vcpu_ns = [uptime * 1e9 * spec.load * rng.uniform(0.8, 1.2) for _ in range(spec.vcpus)]
    g.emu_ns = sum(g.vcpu_ns) * 0.03
    g.vcpu_cpu = [rng.choice(sc.node_cpus(home)) for _ in range(spec.vcpus)]
    for i in range(spec.vcpus):
        aff = g.vcpu_affinity(i)
        if g.vcpu_cpu[i] not in aff:
            g.vcpu_cpu[i] = aff[i % len(aff)]
    g.emu_cpu = (spec.emulator_pin or sc.node_cpus(home))[0]
    pages = g.ram_kib() / PAGE_KIB
    g.ksm_scanned = pages * rng.uniform(3, 20)
    g.ksm_merging = pages * spec.ksm_share * spec.ksm_start if g.mergeable else 0.0
    for d in g.disks:
        d.rd_bytes = d.spec.read_bps * uptime * 0.3
        d.wr_bytes = d.spec.write_bps * uptime * 0.3
        d.rd_reqs = d.rd_bytes / (d.spec.req_kib * 1024)
        d.wr_reqs = d.wr_bytes / (d.spec.req_kib * 1024)
        d.rd_ns, d.wr_ns = d.rd_reqs * service_ns(d.spec, 1.0), d.wr_reqs * service_ns(d.spec, 1.3)
        d.fl_reqs = d.wr_reqs / FLUSH_EVERY
        d.fl_ns = d.fl_reqs * service_ns(d.spec, 2.0)
    for n in g.nics:   # (no random draws: the rest of the demo's history stays as it was)
        n.rx_bytes, n.tx_bytes = n.spec.rx_bps * uptime * 0.3, n.spec.tx_bps * uptime * 0.3
        n.rx_packets, n.tx_packets = n.rx_bytes / n.spec.packet, n.tx_bytes / n.spec.packet
    return g


FLUSH_EVERY = 16                    # a flush per this many writes


def service_ns(d: sc.DiskSpec, weight: float) -> float:
    """A request's time on the device, ns: a raw LV answers faster than a qcow2 image, big
    requests take longer, writes and flushes more than reads (`weight`)."""
    base = 180_000 if d.fmt == "raw" else 450_000
    return (base + d.req_kib * 6_000) * weight


def thread_name(key: str) -> str:
    """A thread's name from its tids() key (vhost workers share one name)."""
    return key.split("/")[0] if key.startswith("vhost-") else key
