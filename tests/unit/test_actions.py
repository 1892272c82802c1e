"""Actions without a hypervisor: validation rules, risks, the virsh/sysfs argv, params round trip."""

from __future__ import annotations

import shlex

import pytest

from kvmtune.actions import (
    KINDS,
    BlkDevIoTune,
    BlkioTune,
    EmulatorPin,
    HugepagePool,
    IoThreadPin,
    KsmSet,
    MemTune,
    MoveToNode,
    NumaBalancing,
    NumaTune,
    ThpEnabled,
    VcpuPin,
    display,
    rebuild,
)
from kvmtune.model import Disk, Guest, Host, HugePool, IoThread, Ksm, MemoryBacking, Node, NodeHugePool, Snapshot, Vcpu
from kvmtune.model import MemTune as MT
from kvmtune.model import NumaTune as NT

GIB = 1024 * 1024


def _guest(name: str, **kw) -> Guest:
    base = dict(
        name=name, uuid=f"uuid-{name}", id=1, state="running", pid=100, memory_kib=GIB,
        vcpus=(Vcpu(0, 101, 0, (0, 1, 2, 3, 4, 5, 6, 7), False), Vcpu(1, 102, 1, (0, 1, 2, 3, 4, 5, 6, 7), False)),
        emulator_affinity=(0, 1, 2, 3, 4, 5, 6, 7), numatune=NT("restrictive", "0"), memtune=MT(),
        numa_memory_kib={0: 900_000, 1: 0}, hugepages={}, blkio_weight=500,
        disks=(Disk("vda", "/img/a.qcow2"),), iothreads=(IoThread(1, (0, 1)),),
        memory_backing=MemoryBacking(), nvcpus=2)
    base.update(kw)
    return Guest(**base)


def make_snap(**host_kw) -> Snapshot:
    host = dict(
        hostname="hv1",
        nodes=(Node(0, (0, 1, 2, 3), 8 * GIB, 2 * GIB, (10, 21), {2048: NodeHugePool(100, 20, 0)}),
               Node(1, (4, 5, 6, 7), 8 * GIB, 512 * 1024, (21, 10), {2048: NodeHugePool(0, 0, 0)})),
        hugepages={2048: HugePool(100, 20, 10, 0)},
        ksm=Ksm(1, 0, 0, 0, 0, 3, 1, 100, 20), thp_enabled="madvise", numa_balancing=1,
        mem_total_kib=16 * GIB, mem_free_kib=2 * GIB + 512 * 1024)
    host.update(host_kw)
    guests = (
        _guest("web1"),
        _guest("off1", id=None, state="shut off", pid=None, vcpus=(), numa_memory_kib=None),
        _guest("huge1", hugepages={2048: {0: 60}}, memory_backing=MemoryBacking(hugepages=True, locked=True)),
        _guest("big", memory_kib=4 * GIB, numa_memory_kib={0: 4 * GIB}, numatune=None),
        _guest("inter", numatune=NT("interleave", "0-1")),
    )
    return Snapshot(time=1.0, host=Host(**host), guests=guests)


SNAP = make_snap()


def problems(action) -> list[str]:
    return action.validate(SNAP)


# -- validation --------------------------------------------------------------------------------

def test_vcpupin_valid_and_checks_index_cpus_guest_state():
    assert problems(VcpuPin("web1", 1, (4, 5))) == []
    assert "no vCPU 2" in problems(VcpuPin("web1", 2, (4,)))[0]
    assert problems(VcpuPin("web1", 0, (3, 8, 9)))[0] == "no such online CPU: 8-9 (online: 0-7)"
    assert "no guest named 'nope'" in problems(VcpuPin("nope", 0, (1,)))[0]
    assert "live change needs it running" in problems(VcpuPin("off1", 0, (1,)))[0]
    assert problems(VcpuPin("web1", 0, ())) == ["the CPU list is empty"]


def test_vcpupin_offline_cpu_is_refused():
    # a host whose online CPU list lacks CPU 3 (cpu_ids comes from the nodes when cpus is empty)
    snap = make_snap(nodes=(Node(0, (0, 1, 2), 8 * GIB, 2 * GIB),))
    assert "no such online CPU: 3 (online: 0-2)" in VcpuPin("web1", 0, (3,)).validate(snap)[0]


def test_disconnected_snapshot_says_so():
    snap = Snapshot(time=1.0, host=SNAP.host, guests=(), disconnected=True)
    assert "hypervisor is not reachable" in VcpuPin("web1", 0, (1,)).validate(snap)[0]


def test_emulator_and_iothread_pin():
    assert problems(EmulatorPin("web1", (0, 1))) == []
    assert "no such online CPU: 12" in problems(EmulatorPin("web1", (12,)))[0]
    assert problems(IoThreadPin("web1", 1, (2, 3))) == []
    assert "no I/O thread 4 (it has: 1)" in problems(IoThreadPin("web1", 4, (2,)))[0]


def test_numatune_rules():
    assert problems(NumaTune("web1", None, "0")) == []
    # big needs 4 GiB, node 1 has 512 MiB free and none of the guest: refused for strict.
    assert problems(NumaTune("big", None, "1"))[0].startswith("node(s) 1 have 512 MiB free")
    assert problems(NumaTune("big", None, "0")) == []       # already lives there
    assert problems(NumaTune("big", "strict", "0", scope="config")) == []
    # libvirt 9: no mode change live; a live nodeset change only in restrictive mode
    assert "cannot change the numatune mode of running guest" in problems(NumaTune("web1", "interleave", None))[0]
    assert "cannot change the numatune mode" in problems(NumaTune("big", "strict", "0"))[0]
    assert "only in restrictive mode" in problems(NumaTune("inter", None, "0"))[0]
    assert problems(NumaTune("inter", "interleave", "0", scope="config")) == []
    assert "mode must be one of" in problems(NumaTune("web1", "loose", "0"))[0]
    assert "no such online NUMA node: 5 (online: 0-1)" in problems(NumaTune("web1", None, "5"))[0]
    assert problems(NumaTune("web1", None, None)) == ["give a mode, a nodeset, or both"]


def test_numatune_free_memory_counts_what_is_already_on_the_node():
    # web1: 1 GiB, 900000 KiB already on node 0 -> needs ~148 MiB on node 0, which has 2 GiB free.
    assert problems(NumaTune("web1", "strict", "0", scope="config")) == []
    # onto node 1 it needs the full 1 GiB, node 1 has 512 MiB free.
    assert "needs 1 GiB more there" in problems(NumaTune("web1", "strict", "1", scope="config"))[0]


def test_memtune_rules():
    assert problems(MemTune("web1", hard=2 * GIB, swap_hard=3 * GIB)) == []
    assert "swap_hard_limit" in problems(MemTune("web1", hard=2 * GIB, swap_hard=GIB))[0]
    # swap_hard alone, while hard is unlimited, cannot be >= hard
    assert "must be at least hard_limit (unlimited)" in problems(MemTune("web1", swap_hard=GIB))[0]
    assert "must be more than 0" in problems(MemTune("web1", soft=0))[0]
    assert problems(MemTune("web1")) == ["give at least one of hard_limit, soft_limit, swap_hard_limit"]
    assert problems(MemTune("web1", hard=None)) == []             # unlimited


def test_memtune_checks_against_existing_limits():
    snap = make_snap()
    g = _guest("lim", memtune=MT(hard_limit_kib=2 * GIB, swap_hard_limit_kib=3 * GIB))
    snap = Snapshot(1.0, snap.host, (g,))
    assert MemTune("lim", hard=4 * GIB).validate(snap)[0].startswith(
        "swap_hard_limit (3 GiB) must be at least hard_limit (4 GiB)")
    assert MemTune("lim", hard=4 * GIB, swap_hard=5 * GIB).validate(snap) == []


def test_blkio_weights():
    assert problems(BlkioTune("web1", weight=100)) == []
    assert problems(BlkioTune("web1", weight=1000)) == []
    assert "100-1000" in problems(BlkioTune("web1", weight=99))[0]
    assert "100-1000" in problems(BlkioTune("web1", weight=1001))[0]
    assert problems(BlkioTune("web1", device_weights={"/dev/sda": 0})) == []    # 0 removes it
    assert "100-1000 (0 removes it)" in problems(BlkioTune("web1", device_weights={"/dev/sda": 50}))[0]
    assert "host block device" in problems(BlkioTune("web1", device_weights={"sda": 500}))[0]
    assert problems(BlkioTune("web1")) == ["give --weight and/or --device-weights"]


def test_blkdeviotune_rules():
    assert problems(BlkDevIoTune("web1", "vda", {"total_bytes_sec": 1048576})) == []
    p = problems(BlkDevIoTune("web1", "vda", {"total_bytes_sec": 1, "read_bytes_sec": 2}))
    assert "total_bytes_sec cannot be combined with read_bytes_sec" in p[0]
    p = problems(BlkDevIoTune("web1", "vda", {"total_iops_sec_max": 1, "write_iops_sec_max": 2,
                                              "total_iops_sec": 1}))
    assert any("total_iops_sec_max cannot be combined with write_iops_sec_max" in x for x in p)
    # total bytes with read IOPS is fine: different groups
    assert problems(BlkDevIoTune("web1", "vda", {"total_bytes_sec": 1, "read_iops_sec": 5})) == []
    assert "no disk 'vdb' (it has: vda)" in problems(BlkDevIoTune("web1", "vdb", {"total_iops_sec": 1}))[0]
    assert "whole number" in problems(BlkDevIoTune("web1", "vda", {"total_iops_sec": -1}))[0]
    assert "unknown throttle" in problems(BlkDevIoTune("web1", "vda", {"bogus": 1}))[0]
    assert "must be at least total_bytes_sec" in problems(
        BlkDevIoTune("web1", "vda", {"total_bytes_sec": 10, "total_bytes_sec_max": 5}))[0]
    assert "needs total_bytes_sec_max" in problems(
        BlkDevIoTune("web1", "vda", {"total_bytes_sec_max_length": 5}))[0]
    assert problems(BlkDevIoTune("web1", "vda", {"group_name": "g1", "size_iops_sec": 4096})) == []


def test_move_rules():
    assert problems(MoveToNode("web1", (0,))) == []
    assert "needs 1 GiB more" in problems(MoveToNode("web1", (1,)))[0]
    assert "only in restrictive mode" in problems(MoveToNode("inter", (0,)))[0]
    assert problems(MoveToNode("inter", (0,), scope="config")) == []
    assert "no such online NUMA node: 3" in problems(MoveToNode("web1", (3,)))[0]
    cpuless = make_snap(nodes=SNAP.host.nodes + (Node(2, (), 8 * GIB, 8 * GIB),))
    assert "no online CPUs" in MoveToNode("web1", (2,)).validate(cpuless)[0]


def test_ksm_rules():
    assert KsmSet({"run": 1, "pages_to_scan": 200}).validate(SNAP) == []
    assert "run must be 0" in KsmSet({"run": 3}).validate(SNAP)[0]
    assert "pages_to_scan must be" in KsmSet({"pages_to_scan": 0}).validate(SNAP)[0]
    assert "merge_across_nodes must be 0 or 1" in KsmSet({"merge_across_nodes": 2}).validate(SNAP)[0]
    assert "unknown KSM setting 'bogus'" in KsmSet({"bogus": 1}).validate(SNAP)[0]
    assert "no KSM" in KsmSet({"run": 1}).validate(make_snap(ksm=None))[0]


def test_hugepage_rules():
    # node 0: 2 GiB free = 1024 more 2 MiB pages on top of 100.
    assert HugepagePool(2048, 0, 1124).validate(SNAP) == []
    p = HugepagePool(2048, 0, 1125).validate(SNAP)
    assert "has 2 GiB free (at most 1124 pages fit)" in p[0]
    assert "(at most 256 pages fit)" in HugepagePool(2048, 1, 300).validate(SNAP)[0]
    assert "no 1 GiB hugepages (it has: 2 MiB)" in HugepagePool(1048576, 0, 1).validate(SNAP)[0]
    assert "no such online NUMA node: 4" in HugepagePool(2048, 4, 1).validate(SNAP)[0]
    assert "0 or more" in HugepagePool(2048, None, -1).validate(SNAP)[0]
    assert HugepagePool(2048, None, 0).validate(SNAP) == []     # shrinking is valid, but risky


def test_numa_balancing_and_thp_rules():
    assert NumaBalancing(False).validate(SNAP) == []
    assert "no automatic NUMA balancing" in NumaBalancing(True).validate(make_snap(numa_balancing=None))[0]
    assert ThpEnabled("never").validate(SNAP) == []
    assert "must be one of always, madvise, never" in ThpEnabled("sometimes").validate(SNAP)[0]


# -- risks ---------------------------------------------------------------------------------------

def test_hard_limit_below_use_is_a_risk():
    r = MemTune("web1", hard=512 * 1024).risks(SNAP)
    assert len(r) == 1 and "the kernel kills the guest" in r[0]
    assert MemTune("web1", hard=2 * GIB).risks(SNAP) == []


def test_locked_memory_without_hard_limit_is_a_risk():
    assert "locked memory" in MemTune("huge1", hard=None).risks(SNAP)[0]
    assert MemTune("web1", hard=None).risks(SNAP) == []


def test_vcpu_overcommit_is_a_risk():
    assert "overcommit: 2 vCPUs" in VcpuPin("web1", None, (3,)).risks(SNAP)[0]
    assert VcpuPin("web1", None, (3, 4)).risks(SNAP) == []
    assert VcpuPin("web1", 0, (3,)).risks(SNAP) == []
    # vCPU 1 already pinned to CPU 3: pinning vCPU 0 there too puts 2 on one CPU.
    g = _guest("p", vcpus=(Vcpu(0, 1, 0, (0, 1), True), Vcpu(1, 2, 3, (3,), True)))
    snap = Snapshot(1.0, SNAP.host, (g,))
    assert "overcommit: 2 vCPUs" in VcpuPin("p", 0, (3,)).risks(snap)[0]
    many = Snapshot(1.0, SNAP.host, (_guest("m", vcpus=tuple(Vcpu(i, i, 0, (0,), False) for i in range(8)),
                                            nvcpus=8),))
    move = MoveToNode("m", (0,))
    assert move.validate(many) == []
    assert "overcommit: 8 vCPUs (m 8) would share 4 CPU(s) of node(s) 0 (0-3), 2:1" in move.risks(many)[0]


def test_hugepage_shrink_below_use_is_a_risk_naming_holders():
    r = HugepagePool(2048, 0, 10).risks(SNAP)
    assert "below the 80 in use or reserved (huge1 60)" in r[0]
    assert HugepagePool(2048, None, 100).risks(SNAP) == []
    assert "below the 90 in use or reserved" in HugepagePool(2048, None, 50).risks(SNAP)[0]


def test_merge_across_nodes_while_shared_offers_the_run2_sequence():
    shared = make_snap(ksm=Ksm(1, 50, 400, 0, 0, 3, 1, 100, 20))
    a = KsmSet({"merge_across_nodes": 0})
    assert a.validate(shared) == []
    r = a.risks(shared)
    assert "refuses merge_across_nodes while pages are shared" in r[0] and "run=2" in r[0]
    assert [display(c) for c in a.commands()] == [
        "echo 2 > /sys/kernel/mm/ksm/run", "echo 0 > /sys/kernel/mm/ksm/merge_across_nodes",
        "echo 1 > /sys/kernel/mm/ksm/run"]     # run restored last, after the change
    b = KsmSet({"merge_across_nodes": 0})
    assert b.risks(SNAP) == []     # nothing shared: no detour
    assert [display(c) for c in b.commands()] == ["echo 0 > /sys/kernel/mm/ksm/merge_across_nodes"]


# -- the equivalent commands -----------------------------------------------------------------------

CASES = [
    (VcpuPin("web1", 1, (4, 5, 6)), ["virsh vcpupin web1 1 4-6 --live"]),
    (VcpuPin("web1", 0, (2,), scope="config"), ["virsh vcpupin web1 0 2 --config"]),
    (EmulatorPin("web1", (0, 2, 3), scope="current"), ["virsh emulatorpin web1 0,2-3 --current"]),
    (IoThreadPin("web1", 1, (1,)), ["virsh iothreadpin web1 1 1 --live"]),
    (NumaTune("web1", "strict", "0-1"), ["virsh numatune web1 --mode strict --nodeset 0-1 --live"]),
    (NumaTune("web1", None, "1,0"), ["virsh numatune web1 --nodeset 0-1 --live"]),
    (MemTune("web1", hard=2 * GIB, soft=None), ["virsh memtune web1 --hard-limit 2097152 --soft-limit -1 --live"]),
    (BlkioTune("web1", weight=300, device_weights={"/dev/sda": 500, "/dev/sdb": 0}),
     ["virsh blkiotune web1 --weight 300 --device-weights /dev/sda,500,/dev/sdb,0 --live"]),
    (BlkDevIoTune("web1", "vda", {"total_bytes_sec": 1048576, "total_iops_sec_max": 10,
                                  "total_iops_sec_max_length": 5, "size_iops_sec": 4096, "group_name": "g"}),
     ["virsh blkdeviotune web1 vda --total-bytes-sec 1048576 --total-iops-sec-max 10 "
      "--total-iops-sec-max-length 5 --size-iops-sec 4096 --group-name g --live"]),
    (KsmSet({"run": 1, "sleep_millisecs": 50, "pages_to_scan": 500}),
     ["echo 500 > /sys/kernel/mm/ksm/pages_to_scan", "echo 50 > /sys/kernel/mm/ksm/sleep_millisecs",
      "echo 1 > /sys/kernel/mm/ksm/run"]),
    (HugepagePool(2048, 1, 64), ["echo 64 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"]),
    (HugepagePool(1048576, None, 2), ["echo 2 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"]),
    (NumaBalancing(False), ["echo 0 > /proc/sys/kernel/numa_balancing"]),
    (ThpEnabled("never"), ["echo never > /sys/kernel/mm/transparent_hugepage/enabled"]),
]


@pytest.mark.parametrize("action,expected", CASES, ids=[a.kind + str(i) for i, (a, _) in enumerate(CASES)])
def test_commands(action, expected):
    assert [display(c) for c in action.commands()] == expected


def test_all_vcpus_and_unpin_resolve_from_the_snapshot():
    a = VcpuPin("web1", None, (4, 5))
    assert a.validate(SNAP) == []
    assert [display(c) for c in a.commands()] == ["virsh vcpupin web1 0 4-5 --live", "virsh vcpupin web1 1 4-5 --live"]
    u = VcpuPin("web1", 1, None)
    assert u.validate(SNAP) == []
    assert [display(c) for c in u.commands()] == ["virsh vcpupin web1 1 0-7 --live"]
    e = EmulatorPin("web1", None)
    e.validate(SNAP)
    assert [display(c) for c in e.commands()] == ["virsh emulatorpin web1 0-7 --live"]


def test_move_shows_the_three_virsh_steps():
    m = MoveToNode("big", (0,))
    assert m.validate(SNAP) == []
    assert [display(c) for c in m.commands()] == [
        "virsh numatune big --nodeset 0 --live",
        "virsh emulatorpin big 0-3 --live",
        "virsh vcpupin big 0 0-3 --live",
        "virsh vcpupin big 1 0-3 --live",
    ]
    # memory already bound to node 0 (web1 is restrictive 0): only the pins change
    same = MoveToNode("web1", (0,))
    assert same.validate(SNAP) == []
    assert display(same.commands()[0]) == "virsh emulatorpin web1 0-3 --live"
    # saved definition: strict, as the guide says
    cfg = MoveToNode("big", (0,), scope="config")
    assert cfg.validate(SNAP) == []
    assert display(cfg.commands()[0]) == "virsh numatune big --mode strict --nodeset 0 --config"


def test_guest_names_are_quoted_never_interpreted():
    a = VcpuPin("evil; rm -rf /", 0, (1,))
    argv = a.commands()[0]
    assert argv[2] == "evil; rm -rf /"
    assert shlex.split(display(argv))[2] == "evil; rm -rf /"


# -- params round trip (what undo rebuilds from the log) -------------------------------------------

@pytest.mark.parametrize("action", [a for a, _ in CASES] + [MoveToNode("web1", (0, 1)), VcpuPin("web1", None, None)],
                         ids=lambda a: a.kind)
def test_params_round_trip_through_json(action):
    import json
    p = json.loads(json.dumps(action.params()))
    again = rebuild(action.kind, action.target, p)
    assert again == action and again.commands() == action.commands()


def test_every_kind_in_the_contract_is_registered():
    assert {"vcpupin", "emulatorpin", "iothreadpin", "numatune", "memtune", "blkiotune", "blkdeviotune",
            "move", "ksm", "hugepages", "numa_balancing", "thp"} <= set(KINDS)


def test_inverse_restores_before():
    assert VcpuPin("web1", None, (4,)).inverse({"pins": {"0": [0, 1], "1": [2]}}).commands() == [
        ["virsh", "vcpupin", "web1", "0", "0-1", "--live"], ["virsh", "vcpupin", "web1", "1", "2", "--live"]]
    inv = MemTune("web1", hard=GIB).inverse({"hard_limit_kib": None, "soft_limit_kib": 5, "swap_hard_limit_kib": None})
    assert inv.values == {"hard_limit_kib": None}
    inv = BlkioTune("web1", device_weights={"/dev/sda": 500}).inverse(
        {"weight": 300, "device_weights": {"/dev/sda": 0}})
    assert inv.weight is None and inv.device_weights == {"/dev/sda": 0}
    inv = BlkDevIoTune("web1", "vda", {"total_bytes_sec": 5}).inverse(
        {"total_bytes_sec": 0, "read_bytes_sec": 7, "group_name": ""})
    assert inv.values == {"total_bytes_sec": 0, "read_bytes_sec": 7}
    assert KsmSet({"run": 0}).inverse({"values": {"run": 1}}).values == {"run": 1}
    assert HugepagePool(2048, 0, 5).inverse({"count": 9}).count == 9


def test_throttle_above_qemus_limit_is_invalid_not_a_crash():
    from kvmtune.actions.blkio import iotune_problems
    from kvmtune.vocab import THROTTLE_MAX
    assert iotune_problems({"total_bytes_sec": THROTTLE_MAX}) == []
    (p,) = iotune_problems({"total_bytes_sec": 2 ** 64})
    assert "at most 1000000000000000" in p


def test_unpin_goes_back_to_the_guests_own_default_cpus():
    """<vcpu cpuset='2-3'> is where an unpinned vCPU (and the emulator) may run, not every CPU."""
    from dataclasses import replace
    snap = replace(SNAP, guests=(_guest("cs", vcpu_cpuset="2-3"),))
    unpin = VcpuPin("cs", None, None)
    assert unpin.validate(snap) == []
    assert [c[4] for c in unpin.commands()] == ["2-3", "2-3"]
    emu = EmulatorPin("cs", None)
    emu.bind(snap)
    assert emu.commands()[0][3] == "2-3"


def test_unbound_actions_ask_for_a_snapshot_instead_of_reading_the_host():
    """What "all vCPUs", "unpin" and a move resolve to comes from the snapshot (bind/validate):
    applied unbound, they say so instead of collecting from the host."""
    from kvmtune.actions import ActionError
    from kvmtune.demo import DemoFeed, open_demo
    demo = open_demo(seed=1)
    try:
        snap = DemoFeed(demo).next()
        g = snap.guests[0].name
        for action, call in ((VcpuPin(g, None, (0,)), "before"), (VcpuPin(g, 0, None), "apply"),
                             (EmulatorPin(g, None), "apply"), (MoveToNode(g, (0,)), "before"),
                             (MoveToNode(g, (0,)), "apply")):
            with pytest.raises(ActionError, match=r"bind it to a snapshot first \(validate\)"):
                getattr(action, call)(demo)
            action.bind(snap)
            assert action.before(demo)
        assert VcpuPin(g, 0, (0,)).before(demo) == {"pins": {"0": list(demo.hv.vcpu_affinity(g)[0])}}
    finally:
        demo.close()
