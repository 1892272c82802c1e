"""The demo host's shape and its guests: plain specs the simulator brings to life.

The host: 2 sockets, 4 NUMA nodes (2 per socket), 64 logical CPUs (32 cores with SMT),
512 GiB. CPU c and c+32 are SMT siblings; core c sits on socket c // 16, node c // 8
(Linux numbers the first thread of every core before the second threads).

The showcase guests break the advisor's checks on purpose (their sizes, vCPUs, load and
disk traffic are as they always were, but dns-01 touches less of its memory; pins, numatune,
memtune and the rest of their XML carry the violations), all but those the scale demo carries
(see below):

  check (guide section)            where in the showcase
  2.3 vPMU                         analytics: <pmu state='off'/>
  3.2.2 unused devices             web-02 (a web server): ich9 sound, USB tablet, 2 USB redirections;
                                   legacy-erp: USB tablet
  3.3.2 CPU model                  build-runner: <cpu> with only a topology; legacy-erp: no <cpu>
                                   (both QEMU's default model: the XML says custom qemu64, as libvirt's)
  3.3.3 topology                   build-runner: 1 socket x 2 cores x 4 threads (host cores have 2)
  3.3.4 / 8.4.1 pinning            build-runner: pinned without numatune, emulator not pinned with
                                   its vCPUs; cache-01: numatune without pinning; web-02: vCPUs 0-1
                                   pinned, 2-3 not, each pinned vCPU on CPUs of nodes 0 and 1;
                                   mail-01: vCPUs pinned to nodes 3 and 1, vCPU 1 on CPU 46, which
                                   web-02's pins (39,46) hold too: 3 vCPUs on 2 CPUs (shared)
  4 tuned                          host: tuned not running (a stale pid file); profile virtual-host
  5.2 arp_filter                   host: 0
  5.3 virtio + vhost-net           web-01: e1000; legacy-erp: rtl8139; web-02: virtio, driver qemu
  5.5.1 zero-copy TX               host: vhost_net loaded, experimental_zcopytx 1
  5.5.2 multiqueue                 analytics: 16 vCPUs, one queue; web-02: 4 vCPUs, one queue
  6.3 cache                        backup-01 vdb: writeback, vda: writethrough on a busy guest;
                                   build-runner vda: unsafe; dns-01 vda: writeback on a quiet guest
  6.4 I/O mode                     analytics vda: cache none with io threads
  6.5.1 throttle                   backup-01 vdb: at its 50 MiB/s limit
  6.5.2 virtio-scsi multiqueue     analytics: a virtio-scsi controller without queues
  iothreads                        backup-01: two disks, ~200 MB/s, no iothread
  7.2 unused memory                dns-01: 40 % touched; web-02: <memory> 12 GiB, 8 GiB current
                                   (ballooned: not a finding, it uses most of the 8)
  7.3.2 memtune                    cache-01: hard_limit just above use; build-runner: hard_limit
                                   15 GiB below its 16 (above its use), swap_hard_limit 14 GiB; web-02:
                                   <locked/>, no hard_limit (legacy-erp too, but it is shut off)
  7.3.3 hugepages                  analytics: 48 GiB on normal pages; 2 MiB pools on nodes 1-3 and
                                   1 GiB pools on nodes 0, 2, 3 unused; mail-01: hugepages on node
                                   0, vCPUs on nodes 1 and 3
  8.3 NUMA balancing               host: on (not a finding while unpinned guests rely on it)
  8.4 numatune                     mail-01: strict on node 0, vCPUs pinned to nodes 1 and 3
  8.4.2 placement                  cache-01: <vcpu placement='auto'> while numad does not run
  8.4.8 guest NUMA topology        analytics: 8 guest cells on a 4-node host
  8.5 KSM                          host: merge_across_nodes 1; dns-01: <nosharepages/> yet merged
  8.3/8.4 memory split             analytics: over nodes 2 and 3 though it fits one; build-runner
  satisfied                        db-primary (everything: no finding)

Not in the showcase: the other side of its host settings (tuned running a general profile,
THP never, KSM off beside guests of one size, NUMA balancing off with nothing pinned), CPU
overcommit (on the host and in a node), more vCPUs than a node pinned into it, a guest larger
than any node without a guest NUMA topology, an idle throttle. The scale demo carries those:
its host has the other side of each setting (dynamics.HostModel), its guests the rest (see
`generated`); balancing off shows where nothing is pinned, with 2 guests. No demo shows two
checks whose precondition neither host has: balancing on while EVERY running guest is pinned
(numa.balancing_pinned), and KSM off while the guests' memory nears the host's
(ksm.off_identical: the scale host's guests fill at most 400 of its 512 GiB); tests/unit/
test_advise.py shows both on guests made to violate them.
tests/unit/test_demo_advice.py keeps this list honest.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any

from ..vocab import NumaMode

GIB = 1024 * 1024            # KiB
MIB = 1024
HUGE_2M = 2048               # page sizes in KiB
HUGE_1G = 1048576

HOSTNAME = "hv-demo-01"
TUNED_STALE_PID = 1187       # tuned's pid file names this pid: no such process in the showcase, tuned in scale mode
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


@functools.cache   # (asked a few times per guest while a demo host is built: 1000 guests, 3000 times)
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
    cache: str = "none"
    io: str | None = None          # None: native where the cache allows it (none, directsync), else threads
    iothread: int | None = None    # <driver iothread>

    @property
    def io_mode(self) -> str:
        if self.io is not None:
            return self.io
        return "native" if self.cache in ("none", "directsync") else "threads"


@dataclass(frozen=True)
class NicSpec:
    model: str | None = "virtio"   # None: no <model> (the hypervisor's default)
    driver: str | None = None      # <driver name>: None = libvirt's default (vhost)
    queues: int | None = None
    type: str = "bridge"
    source: str | None = "br0"
    rx_bps: float = 200e3          # what the guest receives and sends, bytes/s (a random walk around it)
    tx_bps: float = 100e3
    packet: int = 900              # mean packet size, bytes


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
    swap_hard_limit_kib: int | None = None
    blkio_weight: int = 0                        # 0 = never set (libvirt reports 0)
    hugepage_kib: int | None = None              # backing page size, None = normal memory
    ksm_share: float = 0.0                       # share of its pages KSM can merge
    ksm_start: float = 0.0                       # share of that already merged at start
    disks: tuple[DiskSpec, ...] = ()
    # The rest of its domain XML (what the advisor reads): none of it moves the simulation.
    max_memory_kib: int | None = None            # <memory> when it is above the current size (ballooned)
    cpu_mode: str | None = "host-passthrough"    # None: defined without <cpu> (the XML shows qemu64)
    cpu_model: str | None = None
    topology: tuple[int, int, int] | None = None  # (sockets, cores, threads)
    pmu: bool | None = None                      # <features><pmu state>
    cells: tuple[tuple[str, int], ...] = ()      # guest NUMA cells: (cpus, memory KiB)
    nics: tuple[NicSpec, ...] = (NicSpec(),)
    virtio_scsi: bool = False                    # a virtio-scsi controller ...
    scsi_queues: int | None = None               # ... and its <driver queues>
    sound: str | None = None                     # <sound model>
    tablet: bool = False                         # <input type='tablet' bus='usb'>
    redirdevs: int = 0                           # USB redirection (spicevmc)
    graphics: str = "vnc"
    vcpu_placement: str = "static"
    nosharepages: bool = False
    locked: bool = False


def _img(name: str, dev: str = "vda") -> str:
    return f"/var/lib/libvirt/images/{name}{'' if dev == 'vda' else '-' + dev}.qcow2"


def _os_disk(name: str, read: float = 200e3, write: float = 400e3, **xml: Any) -> DiskSpec:
    return DiskSpec("vda", _img(name), read, write, 16, **xml)


def showcase() -> list[GuestSpec]:
    """The default demo: ten guests, each showing something the tuning guide talks about
    (the module's docstring lists which guest breaks which of the advisor's checks)."""
    n0, n1, n3 = node_cpus(0), node_cpus(1), node_cpus(3)
    return [
        # Two web servers from one template: KSM merges their identical pages.
        GuestSpec("web-01", 4, 8 * GIB, {0: 1.0}, load=0.25, ksm_share=0.35, ksm_start=0.4,
                  disks=(_os_disk("web-01", 1.5e6, 600e3),),
                  cpu_mode="host-model",
                  nics=(NicSpec("e1000", type="network", source="default", rx_bps=4e6, tx_bps=12e6),)),
        # web-02: vCPUs 0 and 1 pinned, each to 39,46 (nodes 0 and 1; with mail-01's vCPU 1 on 46,
        # three vCPUs confined to two CPUs), 2 and 3 not; <locked/> without a hard_limit.
        GuestSpec("web-02", 4, 8 * GIB, {0: 0.96, 1: 0.04}, load=0.2, ksm_share=0.35, ksm_start=0.4,
                  pins=((n0[15], n1[14]),) * 2 + ((),) * 2, locked=True,
                  disks=(_os_disk("web-02", 1.2e6, 500e3),),
                  max_memory_kib=12 * GIB, cpu_mode="host-model",
                  nics=(NicSpec(driver="qemu", rx_bps=3e6, tx_bps=9e6),),
                  sound="ich9", tablet=True, redirdevs=2, graphics="spice"),
        # Well tuned: 1 GiB hugepages, vCPUs pinned 1:1 to node 1, numatune strict 1.
        GuestSpec("db-primary", 8, 32 * GIB, {1: 1.0}, load=0.55, touched=1.0,
                  pins=tuple((c,) for c in n1[:8]), emulator_pin=n1[8:10],
                  iothreads=1, iothread_pins={1: n1[10:11]}, numatune=("strict", "1"),
                  blkio_weight=800, hugepage_kib=HUGE_1G,
                  disks=(_os_disk("db-primary", iothread=1),
                         DiskSpec("vdb", "/dev/vg_data/db-primary", 30e6, 14e6, 8, "raw", iothread=1)),
                  topology=(1, 8, 1), nics=(NicSpec(driver="vhost", queues=8, rx_bps=20e6, tx_bps=35e6),),
                  virtio_scsi=True, scsi_queues=8),
        # Spread over nodes 2 and 3 though it would fit in one.
        GuestSpec("analytics", 16, 48 * GIB, {2: 0.5, 3: 0.5}, load=0.6, touched=0.85,
                  ksm_share=0.02, disks=(_os_disk("analytics", 8e6, 2e6, io="threads"),),
                  pmu=False, cells=tuple((f"{2 * c}-{2 * c + 1}", 6 * GIB) for c in range(8)),
                  virtio_scsi=True),
        # vCPUs pinned to node 2, but no numatune: its memory sits mostly elsewhere. A
        # hard_limit below its memory, and a swap_hard_limit below that.
        GuestSpec("build-runner", 8, 16 * GIB, {2: 0.4, 3: 0.6}, load=0.7,
                  hard_limit_kib=15 * GIB, swap_hard_limit_kib=14 * GIB,
                  pins=tuple((c,) for c in node_cpus(2)[:8]), ksm_share=0.03,
                  disks=(_os_disk("build-runner", 3e6, 6e6, cache="unsafe"),),
                  cpu_mode="custom", topology=(1, 2, 4),
                  nics=(NicSpec(queues=8, type="network", source="default", rx_bps=8e6, tx_bps=1e6),)),
        # A backup disk throttled at 50 MiB/s that always wants more; its OS disk on the
        # host's page cache (writethrough).
        GuestSpec("backup-01", 2, 4 * GIB, {3: 1.0}, load=0.3, ksm_share=0.02,
                  disks=(_os_disk("backup-01", cache="writethrough"),
                         DiskSpec("vdb", _img("backup-01", "vdb"), 20e6, 180e6, 512,
                                  iotune={"total_bytes_sec": 50 * 1024 * 1024}, cache="writeback")),
                  nics=(NicSpec(queues=2, type="network", source="backup", rx_bps=60e6, tx_bps=1e6,
                                  packet=1400),)),
        # memtune hard_limit just above what it uses; numatune without pinning.
        GuestSpec("cache-01", 4, 16 * GIB, {1: 1.0}, load=0.15, touched=1.0, numatune=("strict", "1"),
                  hard_limit_kib=17 * GIB, ksm_share=0.01,
                  disks=(_os_disk("cache-01"),),
                  nics=(NicSpec(queues=4, rx_bps=15e6, tx_bps=25e6),), vcpu_placement="auto"),
        # 2 MiB hugepages and numatune strict on node 0, vCPUs pinned to nodes 3 and 1 (vCPU 1
        # on 46, a CPU web-02's vCPUs are pinned to).
        GuestSpec("mail-01", 2, 4 * GIB, {0: 1.0}, load=0.1, touched=1.0, numatune=("strict", "0"),
                  pins=((n3[8],), (n1[14],)),
                  hugepage_kib=HUGE_2M, disks=(_os_disk("mail-01", 400e3, 900e3),),
                  topology=(1, 2, 1), nics=(NicSpec(driver="vhost", queues=2, rx_bps=500e3, tx_bps=800e3),)),
        # dns-01: uses well under half its memory.
        GuestSpec("dns-01", 1, 2 * GIB, {3: 1.0}, load=0.05, touched=0.4, ksm_share=0.05,
                  ksm_start=0.5, disks=(_os_disk("dns-01", 20e3, 40e3, cache="writeback"),),
                  nosharepages=True,   # a second NIC on QEMU's user-mode network: no host device
                  nics=(NicSpec(rx_bps=50e3, tx_bps=60e3, packet=120), NicSpec(type="user", source=None))),
        GuestSpec("legacy-erp", 4, 8 * GIB, {}, running=False, disks=(_os_disk("legacy-erp"),),
                  cpu_mode=None, nics=(NicSpec("rtl8139"),), tablet=True, locked=True),
    ]


def generated(n: int, rng: random.Random) -> list[GuestSpec]:
    """Scale mode: n guests of mixed shapes on the same host, sized so their RAM fits. Some
    break the advisor's checks: kind 2 pins onto its node's CPUs from a rolling start (guests
    share CPUs), vm-0003 has 20 vCPUs pinned into one 16-CPU node, kind 6 pins vCPU 0 only and
    has an e1000 NIC and a writeback disk, kind 7 has QEMU's default CPU model, a tablet and
    sound, and a throttled disk without traffic; past ~30 guests the vCPUs outnumber the CPUs.
    Their host runs KSM off, THP never, no NUMA balancing, tuned on a general profile
    (dynamics.HostModel)."""
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
        elif kind == 6:   # partly pinned (vCPU 0 only), a legacy NIC, cache=writeback
            cpus = node_cpus(home)
            spec["pins"] = ((cpus[i % len(cpus)],),) + ((),) * (vcpus - 1) if vcpus > 1 else None
            spec["nics"] = (NicSpec("e1000"),)
            spec["disks"] = (_os_disk(name, cache="writeback"),)
        elif kind == 7:   # QEMU's default CPU model, desktop devices, a throttle that sees no traffic
            spec["cpu_mode"], spec["tablet"], spec["sound"] = None, True, "ich9"
            spec["disks"] = (_os_disk(name), DiskSpec("vdb", _img(name, "vdb"), 0.0, 0.0,
                                                      iotune={"total_iops_sec": 500}))
        elif kind == 9 and i % 20 == 9:
            spec["running"] = False
        if i == 2:        # more vCPUs than its node has CPUs, all pinned into that node
            spec["vcpus"] = 20
            cpus = node_cpus(home)
            spec["pins"] = tuple((cpus[k % len(cpus)],) for k in range(20))
        out.append(GuestSpec(**spec))
    return out
