"""The demo host's shape and its guests: plain specs the simulator brings to life.

The host: 2 sockets, 4 NUMA nodes (2 per socket), 64 logical CPUs (32 cores with SMT),
512 GiB. CPU c and c+32 are SMT siblings; core c sits on socket c // 16, node c // 8
(Linux numbers the first thread of every core before the second threads).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..vocab import NumaMode

GIB = 1024 * 1024            # KiB
MIB = 1024
HUGE_2M = 2048               # page sizes in KiB
HUGE_1G = 1048576

HOSTNAME = "hv-demo-01"
SOCKETS = 2
NODES = 4
CORES = 32                   # physical cores; logical CPUs = 2 * CORES
NCPUS = 2 * CORES
NODE_MEM_KIB = 128 * GIB - 640 * MIB     # what the kernel reports per node after reservations
DISTANCE_LOCAL, DISTANCE_SOCKET, DISTANCE_REMOTE = 10, 16, 32
# Hugepage pools at start: pages per node, by size.
POOLS = {HUGE_2M: {0: 2560, 1: 2560, 2: 2560, 3: 2560},
         HUGE_1G: {0: 4, 1: 40, 2: 4, 3: 4}}


def cpu_node(cpu: int) -> int:
    return (cpu % CORES) // (CORES // NODES)


def cpu_socket(cpu: int) -> int:
    return (cpu % CORES) // (CORES // SOCKETS)


def cpu_core(cpu: int) -> int:
    """core_id within its package: SMT siblings (c, c+32) share it."""
    return (cpu % CORES) % (CORES // SOCKETS)


def node_cpus(node: int) -> tuple[int, ...]:
    return tuple(c for c in range(NCPUS) if cpu_node(c) == node)


def distance(a: int, b: int) -> int:
    if a == b:
        return DISTANCE_LOCAL
    same_socket = a // (NODES // SOCKETS) == b // (NODES // SOCKETS)
    return DISTANCE_SOCKET if same_socket else DISTANCE_REMOTE


@dataclass(frozen=True)
class DiskSpec:
    target: str
    source: str
    read_bps: float = 0.0          # what the guest asks for (before throttles), bytes/s
    write_bps: float = 0.0
    req_kib: int = 64              # average request size
    fmt: str = "qcow2"
    iotune: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GuestSpec:
    name: str
    vcpus: int
    memory_kib: int
    mem_nodes: dict[int, float]                 # where its RAM sits at start (shares)
    running: bool = True
    load: float = 0.3                           # mean busy share per vCPU
    touched: float = 0.9                        # share of its RAM the guest has touched
    pins: tuple[tuple[int, ...], ...] | None = None   # per vCPU
    emulator_pin: tuple[int, ...] | None = None
    iothreads: int = 0
    iothread_pins: dict[int, tuple[int, ...]] = field(default_factory=dict)
    numatune: tuple[NumaMode, str] | None = None   # (mode, nodeset)
    hard_limit_kib: int | None = None
    soft_limit_kib: int | None = None
    blkio_weight: int = 0                        # 0 = never set (libvirt reports 0)
    hugepage_kib: int | None = None              # backing page size, None = normal memory
    ksm_share: float = 0.0                       # share of its pages KSM can merge
    ksm_start: float = 0.0                       # share of that already merged at start
    disks: tuple[DiskSpec, ...] = ()


def _img(name: str, dev: str = "vda") -> str:
    return f"/var/lib/libvirt/images/{name}{'' if dev == 'vda' else '-' + dev}.qcow2"


def _os_disk(name: str, read: float = 200e3, write: float = 400e3) -> DiskSpec:
    return DiskSpec("vda", _img(name), read, write, 16)


def showcase() -> list[GuestSpec]:
    """The default demo: ten guests, each showing something the tuning guide talks about."""
    n1 = node_cpus(1)
    return [
        # Two web servers from one template: KSM merges their identical pages.
        GuestSpec("web-01", 4, 8 * GIB, {0: 1.0}, load=0.25, ksm_share=0.35, ksm_start=0.4,
                  disks=(_os_disk("web-01", 1.5e6, 600e3),)),
        GuestSpec("web-02", 4, 8 * GIB, {0: 0.96, 1: 0.04}, load=0.2, ksm_share=0.35, ksm_start=0.4,
                  disks=(_os_disk("web-02", 1.2e6, 500e3),)),
        # Well tuned: 1 GiB hugepages, vCPUs pinned 1:1 to node 1, numatune strict 1.
        GuestSpec("db-primary", 8, 32 * GIB, {1: 1.0}, load=0.55, touched=1.0,
                  pins=tuple((c,) for c in n1[:8]), emulator_pin=n1[8:10],
                  iothreads=1, iothread_pins={1: n1[10:11]}, numatune=("strict", "1"),
                  blkio_weight=800, hugepage_kib=HUGE_1G,
                  disks=(_os_disk("db-primary"),
                         DiskSpec("vdb", "/dev/vg_data/db-primary", 30e6, 14e6, 8, "raw"))),
        # Spread over nodes 2 and 3 though it would fit in one.
        GuestSpec("analytics", 16, 48 * GIB, {2: 0.5, 3: 0.5}, load=0.6, touched=0.85,
                  ksm_share=0.02, disks=(_os_disk("analytics", 8e6, 2e6),)),
        # vCPUs pinned to node 2, but no numatune: its memory sits mostly elsewhere.
        GuestSpec("build-runner", 8, 16 * GIB, {2: 0.4, 3: 0.6}, load=0.7,
                  pins=tuple((c,) for c in node_cpus(2)[:8]), ksm_share=0.03,
                  disks=(_os_disk("build-runner", 3e6, 6e6),)),
        # A backup disk throttled at 50 MiB/s that always wants more.
        GuestSpec("backup-01", 2, 4 * GIB, {3: 1.0}, load=0.3, ksm_share=0.02,
                  disks=(_os_disk("backup-01"),
                         DiskSpec("vdb", _img("backup-01", "vdb"), 20e6, 180e6, 512,
                                  iotune={"total_bytes_sec": 50 * 1024 * 1024}))),
        # memtune hard_limit just above what it uses.
        GuestSpec("cache-01", 4, 16 * GIB, {1: 1.0}, load=0.15, touched=1.0,
                  hard_limit_kib=17 * GIB, ksm_share=0.01, disks=(_os_disk("cache-01"),)),
        # 2 MiB hugepages on node 0.
        GuestSpec("mail-01", 2, 4 * GIB, {0: 1.0}, load=0.1, touched=1.0, numatune=("strict", "0"),
                  hugepage_kib=HUGE_2M, disks=(_os_disk("mail-01", 400e3, 900e3),)),
        GuestSpec("dns-01", 1, 2 * GIB, {3: 1.0}, load=0.05, touched=0.6, ksm_share=0.05,
                  ksm_start=0.5, disks=(_os_disk("dns-01", 20e3, 40e3),)),
        GuestSpec("legacy-erp", 4, 8 * GIB, {}, running=False, disks=(_os_disk("legacy-erp"),)),
    ]


def generated(n: int, rng: random.Random) -> list[GuestSpec]:
    """Scale mode: n guests of mixed shapes on the same host, sized so their RAM fits."""
    budget = 400 * GIB // max(n, 1)
    sizes = [s for s in (256 * MIB, 512 * MIB, GIB, 2 * GIB, 4 * GIB, 8 * GIB) if s <= budget] or [256 * MIB]
    out: list[GuestSpec] = []
    for i in range(n):
        name = f"vm-{i + 1:04d}"
        mem = rng.choice(sizes)
        vcpus = rng.choice((1, 2, 2, 4))
        home = rng.randrange(NODES)
        kind = i % 10
        spec: dict[str, Any] = dict(
            name=name, vcpus=vcpus, memory_kib=mem, mem_nodes={home: 1.0},
            load=rng.uniform(0.02, 0.6), touched=rng.uniform(0.5, 1.0),
            ksm_share=rng.choice((0.0, 0.02, 0.1)), disks=(_os_disk(name),))
        if kind == 1:     # split over two nodes of a socket
            spec["mem_nodes"] = {home: 0.5, home ^ 1: 0.5}
        elif kind == 2:   # pinned to its home node, with numatune
            cpus = node_cpus(home)
            spec["pins"] = tuple((cpus[(i + k) % len(cpus)],) for k in range(vcpus))
            spec["numatune"] = ("strict", str(home))
        elif kind == 3:   # throttled disk at its limit
            spec["disks"] = (DiskSpec("vda", _img(name), 1e6, 30e6, 256,
                                      iotune={"total_bytes_sec": 10 * 1024 * 1024}),)
        elif kind == 4:   # hard_limit close to its use
            spec["touched"] = 1.0
            spec["hard_limit_kib"] = mem + mem // 16 + 64 * MIB
        elif kind == 5:   # 2 MiB hugepages on its home node
            spec["hugepage_kib"] = HUGE_2M
            spec["numatune"] = ("strict", str(home))
            spec["ksm_share"] = 0.0
        elif kind == 9 and i % 20 == 9:
            spec["running"] = False
        out.append(GuestSpec(**spec))
    return out
