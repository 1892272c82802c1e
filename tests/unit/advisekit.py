"""A small host and guest that satisfy every check of the advisor, to change one fact at a time.

Host: two nodes of 4 CPUs (node 0: CPUs 0-3, node 1: 4-7; 2 cores x 2 threads per socket,
one socket per node), 16 GiB each. Guest "g": 2 vCPUs pinned on node 0, numatune strict 0,
emulator on its vCPUs' CPUs, 2 GiB all on node 0, host-passthrough 1x2x1, a virtio NIC with
vhost and 2 queues, one disk with cache=none io=native."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kvmtune.model import Cpu, Disk, Guest, Host, Ksm, MemoryBacking, Node, NumaTune, Snapshot, Vcpu
from kvmtune.xmlfacts import DomainFacts, Nic

GIB = 1 << 20


def host(**kw: Any) -> Host:
    nodes = (Node(0, (0, 1, 2, 3), 16 * GIB, 12 * GIB), Node(1, (4, 5, 6, 7), 16 * GIB, 14 * GIB))
    cpus = tuple(Cpu(c, c // 4, c // 4, (c % 4) // 2) for c in range(8))
    ksm = Ksm(run=1, pages_shared=10, pages_sharing=20, pages_unshared=0, pages_volatile=0, full_scans=1,
              merge_across_nodes=0, pages_to_scan=100, sleep_millisecs=20)
    base = Host("hv", nodes, ksm=ksm, thp_enabled="madvise", numa_balancing=0, tuned_profile="virtual-host",
                cpus=cpus, tuned_running=True, numad_running=True, arp_filter=1, vhost_zcopytx=None)
    return replace(base, **kw)


def domain(**kw: Any) -> DomainFacts:
    base = DomainFacts(cpu_mode="host-passthrough", sockets=1, cores=2, threads=1,
                       nics=(Nic(mac="52:54:00:00:00:01", type="network", source="default", model="virtio",
                                 driver="vhost", queues=2),),
                       memballoon="virtio", vcpu_placement="static")
    return replace(base, **kw)


def guest(name: str = "g", **kw: Any) -> Guest:
    vcpus = (Vcpu(0, 101, 0, (0,), True), Vcpu(1, 102, 1, (1,), True))
    base = Guest(name, f"uuid-{name}", 1, "running", 100, 2 * GIB, vcpus=vcpus, emulator_affinity=(0, 1),
                 numatune=NumaTune("strict", "0"), numa_memory_kib={0: 2 * GIB, 1: 0},
                 disks=(Disk("vda", "/img/g.qcow2", cache="none", io="native", bus="virtio"),),
                 memory_backing=MemoryBacking(), nvcpus=2, domain=domain())
    return replace(base, **kw)


def snap(*guests: Guest, **host_kw: Any) -> Snapshot:
    return Snapshot(1000.0, host(**host_kw), guests or (guest(),))


def unpinned(g: Guest, cpus: tuple[int, ...] = tuple(range(8))) -> Guest:
    return replace(g, vcpus=tuple(replace(v, affinity=cpus, pinned=False) for v in g.vcpus))
