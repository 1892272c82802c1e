"""Every code the advisor can emit, with its severity, the guide's section and a title: the
catalogue the docs (docs/metrics.md), the exporter's alert rules and the tests read.

Severities (findings.py): critical = it costs a guest its memory, data or speed now;
warning = a recommendation of the guide not followed, with a cost that builds up; info =
worth knowing, often a deliberate choice. Each entry says why it has its severity.
"""

from __future__ import annotations

from dataclasses import dataclass

from .findings import Severity


@dataclass(frozen=True)
class Code:
    severity: Severity
    section: str
    title: str


CODES: dict[str, Code] = {
    # -- 3.3 CPU ------------------------------------------------------------------------------
    # the host's run queue, not one guest, pays: guests wait for a CPU, but nothing is lost
    "cpu.overcommit": Code("warning", "3.3.1", "more vCPUs than host CPUs"),
    # pinned vCPUs cannot escape to another node: they queue on these CPUs now
    "cpu.overcommit_node": Code("critical", "3.3.1", "more pinned vCPUs than CPUs on a node"),
    # dedicated CPUs that are not: both guests lose CPU time to each other now
    "cpu.shared_pins": Code("critical", "3.3.1", "more vCPUs pinned onto shared CPUs than they have"),
    # the default model hides host CPU features (AVX, AES...): slower, not broken
    "cpu.model": Code("warning", "3.3.2", "CPU model is not host-passthrough or host-model"),
    # only perf inside the guest misses it
    "cpu.pmu": Code("info", "2.3", "no virtual PMU: perf cannot count in the guest"),
    # the guest scheduler's idea of cache sharing is wrong: a cost, not a failure
    "cpu.topology": Code("warning", "3.3.3", "guest CPU topology does not map onto the host's"),
    # -- 3.3.4 / 8.4 pinning ---------------------------------------------------------------------
    "pin.too_big_for_node": Code("warning", "8.4.1", "more vCPUs than a node has, pinned into one node"),
    "pin.no_numatune": Code("warning", "8.4.1", "vCPUs pinned without numatune"),
    "pin.numatune_unpinned": Code("warning", "8.4.1", "numatune without pinned vCPUs"),
    "pin.emulator": Code("warning", "8.4.4", "emulator threads off the vCPUs' node"),
    "pin.partial": Code("warning", "3.3.4", "some vCPUs pinned, some not"),
    "pin.vcpu_across_nodes": Code("warning", "8.4.1", "a vCPU pinned to CPUs of several nodes"),
    "pin.vcpus_across_nodes": Code("warning", "8.4.1", "vCPUs pinned to different nodes"),
    # -- 3.2.2 devices -------------------------------------------------------------------------
    # a little CPU and attack surface: a tidy-up, so info
    "devices.unused": Code("info", "3.2.2", "a device a server guest does not need"),
    # -- 4 tuned --------------------------------------------------------------------------------
    "tuned.profile": Code("warning", "4.2", "tuned profile is not virtual-host"),
    "tuned.off": Code("warning", "4.2", "tuned is not running"),
    # -- 5 network ------------------------------------------------------------------------------
    # an emulated NIC costs a VM exit per packet: several times the CPU, far less throughput
    "net.model": Code("warning", "5.3", "NIC is not virtio"),
    "net.vhost": Code("warning", "5.3", "virtio NIC without vhost-net"),
    # the guide notes it can slow outgoing traffic: a suggestion
    "net.multiqueue": Code("info", "5.5.2", "one queue for several vCPUs"),
    "net.zcopytx": Code("info", "5.5.1", "bridge zero-copy transmit"),
    "net.arp_filter": Code("warning", "5.2", "arp_filter is off"),
    # -- 6 block I/O ----------------------------------------------------------------------------
    # costs speed (host page cache, double caching) on a guest that does a lot of I/O
    "storage.cache": Code("warning", "6.3", "disk cache is not none on an I/O-heavy guest"),
    # the guest's flushes are ignored: data it made durable may be lost on a host crash, only then
    "storage.cache_unsafe": Code("warning", "6.3", "unsafe disk cache: guest flushes ignored"),
    # writeback honours flushes: not a risk, a choice the guide does not recommend by default
    "storage.cache_writeback": Code("info", "6.3", "writeback disk cache: not the guide's default"),
    "storage.io": Code("info", "6.4", "cache=none without io=native"),
    "storage.scsi_queues": Code("info", "6.5.2", "virtio-scsi with one queue for several vCPUs"),
    "storage.iothreads": Code("warning", "6.5.2", "I/O-heavy guest with several disks and no iothreads"),
    # its I/O waits on the throttle now
    "storage.at_limit": Code("critical", "6.5.1", "a disk runs at its throttle"),
    "storage.idle_throttle": Code("info", "6.5.1", "a throttle on a disk with no traffic"),
    # -- 7 memory -------------------------------------------------------------------------------
    "mem.unused": Code("info", "7.2", "memory allocated but not used"),
    # the kernel kills the guest when it goes over: its memory and state are lost
    "memtune.hard_limit_low": Code("critical", "7.3.2", "hard_limit below the guest's memory"),
    "memtune.hard_limit_close": Code("critical", "7.3.2", "memory use close to the hard_limit"),
    # libvirt refuses it, or the guest is killed at the smaller limit
    "memtune.swap_limit": Code("warning", "7.3.2", "swap_hard_limit not above hard_limit"),
    # locked memory without a bound: it can take the host's memory, other guests lose theirs
    "memtune.locked": Code("critical", "7.3.2", "locked memory without a hard_limit large enough"),
    "huge.missing": Code("warning", "7.3.3", "a large guest without hugepages"),
    "huge.thp_never": Code("warning", "7.3.3", "THP never while guests are not on hugepages"),
    # memory nobody can use: held away from the host and other guests
    "huge.unused_pool": Code("warning", "7.3.3", "hugepages nobody uses"),
    # every access of the guest to them is remote
    "huge.other_node": Code("critical", "8.4.9", "hugepages on another node than the vCPUs"),
    # -- 8 NUMA ---------------------------------------------------------------------------------
    # its vCPUs reach part of their memory across the interconnect now
    "numa.split": Code("critical", "8.4", "memory split over nodes though it fits on one"),
    "numa.remote": Code("warning", "8.4.1", "memory not local to its vCPUs"),
    "numa.numatune_elsewhere": Code("warning", "8.4.1", "numatune on other nodes than the pinned vCPUs"),
    # manual pinning overrides balancing (8.3.1): it only costs its scanning, so info
    "numa.balancing_pinned": Code("info", "8.3", "automatic NUMA balancing on while every guest is pinned"),
    "numa.balancing_off": Code("warning", "8.3", "automatic NUMA balancing off and nothing pinned"),
    "numa.numad_off": Code("warning", "8.4.2", "placement='auto' without numad running"),
    "numa.no_guest_topology": Code("warning", "8.4.8", "larger than a node, without a guest NUMA topology"),
    "numa.cells_mismatch": Code("warning", "8.4.8", "guest NUMA cells do not match the host's nodes"),
    # -- 8.5 KSM --------------------------------------------------------------------------------
    # merged pages of guests on other nodes become remote for all but one: a cost paid now
    "ksm.across_nodes": Code("critical", "8.5", "KSM merges across nodes"),
    "ksm.nosharepages": Code("warning", "8.5", "KSM shares a guest that asked for nosharepages"),
    "ksm.off_identical": Code("info", "8.5", "KSM off while identical guests could merge"),
}
