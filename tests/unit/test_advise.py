"""The advisor's checks: for each code of the catalogue, a guest (or host) made to violate it
produces it, and the guest that satisfies every check (advisekit) produces nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from advisekit import GIB, domain, guest, host, snap, unpinned

from kvmtune.advise import CODES, evaluate
from kvmtune.model import Disk, HugePool, MemTune, NumaTune, Vcpu
from kvmtune.rates import DiskRate, GuestRate
from kvmtune.xmlfacts import Controller, GuestCell, Nic

MB = 1024 * 1024
HEAVY = {"g": {"vda": ((30 * MB, 10 * MB),) * 5, "vdb": ((0.0, 0.0),) * 5}}


def codes(s, rates=None, history=None) -> set[str]:
    a = evaluate(s, s if rates else None, rates, history)
    return {f.code for f in a.host} | {f.code for fs in a.guests.values() for f in fs}


def g2(**kw):
    """A second guest like g, on node 1."""
    base = guest("h", vcpus=(Vcpu(0, 201, 4, (4,), True), Vcpu(1, 202, 5, (5,), True)), emulator_affinity=(4, 5),
                 numatune=NumaTune("strict", "1"), numa_memory_kib={0: 0, 1: 2 * GIB})
    return replace(base, **kw)


def at_limit_case():
    g = guest(disks=(Disk("vda", None, {"total_bytes_sec": 10 * MB}, cache="none", io="native"),))
    rate = GuestRate(10.0, {}, {"vda": DiskRate(6 * MB, 4 * MB, 10.0, 10.0)})
    return snap(g), {"g": rate}, None


def heavy(**gkw):
    disks = (Disk("vda", None, cache="writethrough", io="native"), Disk("vdb", None, cache="none", io="native"))
    return snap(guest(disks=disks, **gkw)), None, HEAVY


VIOLATIONS = {
    "cpu.overcommit": lambda: (snap(guest(), *(unpinned(guest(f"x{i}", numatune=None, vcpus=tuple(
        Vcpu(k, None, None, tuple(range(8)), False) for k in range(4)))) for i in range(2))), None, None),
    "cpu.overcommit_node": lambda: (snap(guest(), guest("y", vcpus=tuple(
        Vcpu(k, None, None, (2, 3), True) for k in range(3)), emulator_affinity=(2, 3), nvcpus=3,
        domain=domain(cores=3))), None, None),
    "cpu.shared_pins": lambda: (snap(guest(), guest("y")), None, None),
    "cpu.model": lambda: (snap(guest(domain=domain(cpu_mode=None))), None, None),
    "cpu.pmu": lambda: (snap(guest(domain=domain(pmu=False))), None, None),
    "cpu.topology": lambda: (snap(guest(domain=domain(sockets=1, cores=1, threads=4))), None, None),
    "pin.too_big_for_node": lambda: (snap(guest(vcpus=tuple(Vcpu(k, None, k % 4, (0, 1, 2, 3), True)
                                                           for k in range(6)), nvcpus=6, emulator_affinity=(0, 1, 2, 3),
                                                domain=domain(sockets=3, cores=2))), None, None),
    "pin.no_numatune": lambda: (snap(guest(numatune=None)), None, None),
    "pin.numatune_unpinned": lambda: (snap(unpinned(guest(), (0, 1, 2, 3, 4, 5, 6, 7)), numa_balancing=1),
                                      None, None),
    "pin.emulator": lambda: (snap(guest(emulator_affinity=(4, 5))), None, None),
    "pin.partial": lambda: (snap(guest(vcpus=(Vcpu(0, 101, 0, (0,), True), Vcpu(1, 102, 5, tuple(range(8)), False)))),
                            None, None),
    "pin.vcpu_across_nodes": lambda: (snap(guest(vcpus=(Vcpu(0, 101, 0, (0, 4), True), Vcpu(1, 102, 1, (1,), True)))),
                                      None, None),
    "pin.vcpus_across_nodes": lambda: (snap(guest(vcpus=(Vcpu(0, 101, 0, (0,), True), Vcpu(1, 102, 4, (4,), True)),
                                                  numatune=NumaTune("strict", "0-1"))), None, None),
    "devices.unused": lambda: (snap(guest(domain=domain(sounds=("ich6",), inputs=("tablet/usb",), redirdevs=1))),
                               None, None),
    "tuned.profile": lambda: (snap(tuned_profile="balanced"), None, None),
    "tuned.off": lambda: (snap(tuned_running=False), None, None),
    "net.model": lambda: (snap(guest(domain=domain(nics=(Nic(mac="52:54:00:00:00:02", model="e1000"),)))),
                          None, None),
    "net.vhost": lambda: (snap(guest(domain=domain(nics=(Nic(model="virtio", driver="qemu", queues=2),)))), None, None),
    "net.multiqueue": lambda: (snap(guest(domain=domain(nics=(Nic(type="bridge", model="virtio"),)))), None, None),
    "net.zcopytx": lambda: (snap(vhost_zcopytx=1), None, None),
    "net.arp_filter": lambda: (snap(arp_filter=0), None, None),
    "storage.cache": heavy,
    "storage.cache_unsafe": lambda: (snap(guest(disks=(Disk("vda", None, cache="unsafe", io="native"),))),
                                     None, None),
    "storage.cache_writeback": lambda: (snap(guest(disks=(Disk("vda", None, cache="writeback", io="native"),))),
                                        None, None),
    "storage.io": lambda: (snap(guest(disks=(Disk("vda", None, cache="none", io="threads"),))), None, None),
    "storage.scsi_queues": lambda: (snap(guest(domain=domain(controllers=(Controller("scsi", "virtio-scsi", 0),)))),
                                    None, None),
    "storage.iothreads": lambda: heavy(),
    "storage.at_limit": at_limit_case,
    "storage.idle_throttle": lambda: (snap(guest(disks=(Disk("vda", None, {"total_iops_sec": 100}, cache="none",
                                                             io="native"),))), None,
                                      {"g": {"vda": ((0.0, 0.0),) * 150}}),
    "mem.unused": lambda: (snap(guest(memory_kib=8 * GIB, numa_memory_kib={0: 2 * GIB, 1: 0})), None, None),
    "memtune.hard_limit_low": lambda: (snap(guest(memtune=MemTune(hard_limit_kib=GIB))), None, None),
    "memtune.hard_limit_close": lambda: (snap(guest(memory_kib=2 * GIB, memtune=MemTune(
        hard_limit_kib=2 * GIB + 100))), None, None),
    "memtune.swap_limit": lambda: (snap(guest(memtune=MemTune(hard_limit_kib=4 * GIB, swap_hard_limit_kib=3 * GIB))),
                                   None, None),
    "memtune.locked": lambda: (snap(guest(memory_backing=replace(guest().memory_backing, locked=True))), None, None),
    "huge.missing": lambda: (snap(guest(memory_kib=40 * GIB, numa_memory_kib={0: 10 * GIB, 1: 0})), None, None),
    "huge.thp_never": lambda: (snap(thp_enabled="never"), None, None),
    "huge.unused_pool": lambda: (snap(hugepages={2048: HugePool(1024, 1024, 0, 0)}), None, None),
    "huge.other_node": lambda: (snap(guest(hugepages={2048: {1: 1024}}, numa_memory_kib={0: 0, 1: 2 * GIB},
                                           numatune=None)), None, None),
    "numa.split": lambda: (snap(guest(numa_memory_kib={0: GIB, 1: GIB}, numatune=None)), None, None),
    "numa.remote": lambda: (snap(guest(numa_memory_kib={0: GIB // 2, 1: 3 * GIB // 2}, numatune=None)), None, None),
    "numa.numatune_elsewhere": lambda: (snap(guest(numatune=NumaTune("strict", "1"),
                                                   numa_memory_kib={0: 0, 1: 2 * GIB})),
                                        None, None),
    "numa.balancing_pinned": lambda: (snap(numa_balancing=1), None, None),
    "numa.balancing_off": lambda: (snap(unpinned(guest(numatune=None))), None, None),
    "numa.numad_off": lambda: (snap(guest(domain=domain(numa_placement="auto")), numad_running=False), None, None),
    "numa.no_guest_topology": lambda: (snap(guest(memory_kib=20 * GIB, numa_memory_kib={0: 10 * GIB, 1: 0})),
                                       None, None),
    "numa.cells_mismatch": lambda: (snap(guest(domain=domain(cells=(GuestCell(0, "0-1", 20 * GIB),)))), None, None),
    "ksm.across_nodes": lambda: (snap(ksm=replace(host().ksm, merge_across_nodes=1)), None, None),
    "ksm.nosharepages": lambda: (snap(guest(memory_backing=replace(guest().memory_backing, nosharepages=True),
                                            ksm=__import__("kvmtune.model", fromlist=["GuestKsm"]).GuestKsm(50, 0))),
                                 None, None),
    "ksm.off_identical": lambda: (snap(guest(memory_kib=9 * GIB), g2(memory_kib=9 * GIB),     # 27 of 32 GiB
                                       g2(name="i", memory_kib=9 * GIB), ksm=replace(host().ksm, run=0)), None, None),
}


def test_the_satisfying_host_has_no_finding():
    assert codes(snap()) == set()
    s, _rates, _hist = at_limit_case()
    calm = {"g": GuestRate(1.0, {}, {"vda": DiskRate(1000.0, 0.0, 1.0, 0.0)})}
    assert codes(s, calm, {"g": {"vda": ((1000.0, 0.0),) * 150}}) == set()


def test_every_code_has_a_violation_here():
    assert set(VIOLATIONS) == set(CODES) and set(NEAR_MISS) <= set(CODES)


@pytest.mark.parametrize("code", sorted(VIOLATIONS))
def test_each_check_finds_its_violation(code):
    s, rates, hist = VIOLATIONS[code]()
    assert code in codes(s, rates, hist)


@pytest.mark.parametrize("code", sorted(VIOLATIONS))
def test_each_finding_carries_its_catalogue_entry(code):
    s, rates, hist = VIOLATIONS[code]()
    a = evaluate(s, s if rates else None, rates, hist)
    found = [f for f in (*a.host, *(f for fs in a.guests.values() for f in fs)) if f.code == code]
    c = CODES[code]
    assert all((f.severity, f.section, f.title) == (c.severity, c.section, c.title) and f.evidence for f in found)


def test_xml_checks_say_nothing_without_the_xml_facts():
    for code in ("cpu.model", "cpu.pmu", "cpu.topology", "devices.unused", "net.model", "net.vhost",
                 "net.multiqueue", "storage.cache_unsafe", "storage.cache_writeback", "storage.io",
                 "storage.scsi_queues",
                 "numa.numad_off", "numa.no_guest_topology", "numa.cells_mismatch"):
        s, rates, hist = VIOLATIONS[code]()
        blind = replace(s, guests=tuple(replace(g, domain=None) for g in s.guests))
        assert code not in codes(blind, rates, hist), code


def test_rate_and_history_checks_say_nothing_without_them():
    for code in ("storage.at_limit", "storage.cache", "storage.iothreads", "storage.idle_throttle"):
        s, _rates, _hist = VIOLATIONS[code]()
        assert code not in codes(s), code


def test_stopped_guests_have_no_findings():
    s = snap(guest(state="shut off", numatune=None, domain=domain(cpu_mode=None)))
    assert evaluate(s).guests == {"g": ()}


def test_findings_are_worst_first():
    s = snap(guest(numatune=None, memtune=MemTune(hard_limit_kib=GIB), domain=domain(sounds=("ich6",))))
    sev = [f.severity for f in evaluate(s).guests["g"]]
    assert sev == sorted(sev, key=("critical", "warning", "info").index) and sev[0] == "critical"


def test_the_split_names_the_node_the_move_form_proposes():
    """The split's move goes where analysis.best_node (the M form's default) says: by free
    memory and CPU room, not the first node whose total is large enough."""
    from kvmtune import analysis
    g = guest(numa_memory_kib={0: GIB, 1: GIB}, numatune=None)
    s = snap(g, g2(vcpus=tuple(Vcpu(k, None, k, (k,), True) for k in range(4)), emulator_affinity=(0, 1, 2, 3),
                   numatune=NumaTune("strict", "0"), numa_memory_kib={0: 2 * GIB, 1: 0}, nvcpus=4,
                   domain=domain(cores=2, sockets=2)))
    f = next(f for f in evaluate(s).guests["g"] if f.code == "numa.split")
    assert f.fix is not None and f.fix.params["nodes"] == [analysis.best_node(g, s.host, s)] == [1]
    assert "node 1" in f.evidence


# -- each check silent where the guide is followed, and each threshold pinned ---------------
# Near misses: the satisfying guest changed as close to the violation as the check allows.
# The figures are written out (not taken from the checks' constants), so moving a threshold
# fails these tests.

NEAR_MISS = {
    "cpu.overcommit": lambda: snap(guest(), *(unpinned(guest(f"x{i}", numatune=None)) for i in range(3))),  # 8 on 8
    "cpu.shared_pins": lambda: snap(guest(), g2()),
    "cpu.topology": lambda: snap(guest(domain=domain(sockets=1, cores=1, threads=2))),   # the host's 2 threads
    "cpu.model": lambda: snap(guest(domain=domain(cpu_mode="host-model"))),
    "net.multiqueue": lambda: snap(guest(vcpus=guest().vcpus[:1], nvcpus=1, domain=domain(
        sockets=1, cores=1, nics=(Nic(model="virtio"),)))),                            # one vCPU, one queue
    "numa.split": lambda: snap(guest(numa_memory_kib={0: 9001, 1: 999}, memory_kib=10000)),   # 9.99 % elsewhere
    "numa.remote": lambda: snap(guest(numa_memory_kib={0: 8000, 1: 2000}, memory_kib=10000, numatune=None)),
    "memtune.hard_limit_close": lambda: snap(guest(numa_memory_kib={0: 1000000, 1: 0},
                                                   memtune=MemTune(hard_limit_kib=2 * GIB + 1))),
    "memtune.hard_limit_low": lambda: snap(guest(memtune=MemTune(hard_limit_kib=4 * GIB))),
    "memtune.swap_limit": lambda: snap(guest(memtune=MemTune(hard_limit_kib=4 * GIB, swap_hard_limit_kib=4 * GIB))),
    "memtune.locked": lambda: snap(guest(memory_backing=replace(guest().memory_backing, locked=True),
                                         memtune=MemTune(hard_limit_kib=3 * GIB))),
    "huge.unused_pool": lambda: snap(hugepages={2048: HugePool(1024, 255, 0, 0)}),    # < a quarter free
    "mem.unused": lambda: snap(guest(memory_kib=4 * GIB, numa_memory_kib={0: 2 * GIB, 1: 0})),   # half used
    "storage.io": lambda: snap(guest(disks=(Disk("vda", None, cache="writeback", io="threads"),))),
    "storage.idle_throttle": lambda: snap(guest(disks=(Disk("vda", None, {"total_iops_sec": 100}, cache="none",
                                                            io="native"),))),
    # 8.5: memory not oversubscribed (3 x 8 GiB = 75 % of 32 GiB): KSM off is the faster choice
    "ksm.off_identical": lambda: snap(guest(memory_kib=8 * GIB), g2(memory_kib=8 * GIB),
                                      g2(name="i", memory_kib=8 * GIB), ksm=replace(host().ksm, run=0)),
}


@pytest.mark.parametrize("code", sorted(VIOLATIONS))
def test_each_check_is_silent_where_the_guide_is_followed(code):
    s = NEAR_MISS.get(code, snap)()
    history = {"g": {"vda": ((0.0, 0.0),) * 149}} if code == "storage.idle_throttle" else None
    assert code not in codes(s, None, history)


@pytest.mark.parametrize("hard,close", [(1111111, True),    # uses 1000000 KiB = 90.000009 % of it
                                        (1111112, False)])  # 89.99999 %
def test_hard_limit_close_threshold_is_ninety_percent(hard, close):
    g = guest(memory_kib=1000000, numa_memory_kib={0: 1000000, 1: 0}, memtune=MemTune(hard_limit_kib=hard))
    assert ("memtune.hard_limit_close" in codes(snap(g))) is close


@pytest.mark.parametrize("n0,n1,split", [(9000, 1000, True), (9001, 999, False)])
def test_split_threshold_is_ten_percent(n0, n1, split):
    g = guest(memory_kib=10000, numa_memory_kib={0: n0, 1: n1}, numatune=None)
    assert ("numa.split" in codes(snap(g))) is split


@pytest.mark.parametrize("n0,n1,remote", [(8000, 2000, False), (7999, 2001, True)])
def test_low_locality_threshold_is_eighty_percent(n0, n1, remote):
    g = guest(memory_kib=10000, numa_memory_kib={0: n0, 1: n1}, numatune=None)
    assert ("numa.remote" in codes(snap(g))) is remote


def test_split_is_not_reported_when_no_node_has_the_free_memory():
    g = guest(memory_kib=30 * GIB, numa_memory_kib={0: 15 * GIB, 1: 15 * GIB}, numatune=None)
    assert "numa.split" not in codes(snap(g))          # 12 and 14 GiB free: neither takes 15 more


# -- the review's defects (issue 14): each case failed before its fix ------------------------

def found(s, code, rates=None, history=None):
    a = evaluate(s, s if rates else None, rates, history)
    return [f for f in (*a.host, *(f for fs in a.guests.values() for f in fs)) if f.code == code]


@pytest.mark.parametrize("virt_type", ["kvm", "qemu"])
def test_cpu_model_fix_sets_the_mode_and_keeps_topology_and_cells(virt_type):
    """clearxml=yes blanked <cpu> (topology, NUMA cells); 3.3.2: copy the host CPU (host-model);
    TCG cannot take host-passthrough."""
    (f,) = found(snap(guest(domain=domain(cpu_mode="custom", cpu_model="qemu64", virt_type=virt_type))), "cpu.model")
    assert f.fix is not None and f.fix.virt_xml is not None and f.fix.xml is not None and f.fix.note is not None
    assert not any("clearxml" in a for a in f.fix.virt_xml) and "host-model" in f.fix.virt_xml
    assert "host-model" in f.fix.xml and "topology" in f.fix.xml
    if virt_type == "qemu":
        assert "'maximum'" in f.fix.note and "or host-passthrough" not in f.fix.note
    else:
        assert "or host-passthrough" in f.fix.note


def test_a_hard_limit_of_memory_plus_qemus_own_is_not_critical():
    """7.3.2: locked 32 GiB guest, hard_limit 34 GiB, 32.3 GiB used: 1.7 GiB left is room."""
    from kvmtune.model import MemoryBacking
    g = guest(memory_kib=32 * GIB, numa_memory_kib={0: 32 * GIB + 300 * 1024, 1: 0},
              memory_backing=MemoryBacking(locked=True), memtune=MemTune(hard_limit_kib=34 * GIB))
    assert not codes(snap(g)) & {"memtune.hard_limit_close", "memtune.locked", "memtune.hard_limit_low"}


def test_the_demo_cache_guests_hard_limit_is_close():
    """The demo's cache-01: 16 GiB, hard_limit 17 GiB, 16.03 GiB used (0.97 GiB left)."""
    g = guest(memory_kib=16 * GIB, numa_memory_kib={0: 16 * GIB + 28 * 1024, 1: 0},
              memtune=MemTune(hard_limit_kib=17 * GIB))
    assert "memtune.hard_limit_close" in codes(snap(g))


def test_hard_limit_and_locked_compare_with_the_maximum_memory():
    """<memory> 8 GiB, 2 GiB current (ballooned): a 4 GiB hard_limit kills it when it balloons up."""
    g = guest(memtune=MemTune(hard_limit_kib=4 * GIB), domain=domain(max_memory_kib=8 * GIB))
    assert "memtune.hard_limit_low" in codes(snap(g))
    from kvmtune.model import MemoryBacking
    locked = guest(memory_backing=MemoryBacking(locked=True), memtune=MemTune(hard_limit_kib=2 * GIB))
    assert "memtune.locked" in codes(snap(locked))      # == its memory: no room for QEMU's own


def test_balancing_is_left_alone_while_an_unpinned_guest_relies_on_it():
    """8.3.1: pinning overrides balancing for the pinned guest; the unpinned one needs it."""
    s = snap(guest(), unpinned(g2(name="u", numatune=None)), numa_balancing=1)
    assert "numa.balancing_pinned" not in codes(s)
    (f,) = found(snap(numa_balancing=1), "numa.balancing_pinned")
    assert f.severity == "info" and "against" not in f.evidence


def test_guests_pinned_to_a_whole_node_do_not_share_pins():
    """Two 1-vCPU guests pinned to node 0's four CPUs (what the move fixes make): 2 on 4."""
    def one(name, pid):
        return guest(name, vcpus=(Vcpu(0, pid, 0, (0, 1, 2, 3), True),), nvcpus=1, emulator_affinity=(0, 1, 2, 3),
                     domain=domain(cores=1))
    assert "cpu.shared_pins" not in codes(snap(one("a", 1), one("b", 2)))
    crowd = [one(f"c{i}", i) for i in range(5)]          # 5 confined to 4 CPUs
    assert {f.guest for f in found(snap(*crowd), "cpu.shared_pins")} == {f"c{i}" for i in range(5)}


def test_the_partial_pin_fix_uses_free_cpus_of_the_node():
    """vCPU 0 pinned to CPU 0, vCPU 1 loose: it goes to a CPU of node 0 nobody pins, not CPU 0."""
    g = guest(vcpus=(Vcpu(0, 101, 0, (0,), True), Vcpu(1, 102, 5, tuple(range(8)), False)))
    other = guest("y", vcpus=(Vcpu(0, 1, 1, (1,), True), Vcpu(1, 2, 2, (2,), True)), emulator_affinity=(1, 2))
    (f,) = found(snap(g, other), "pin.partial")
    assert f.fix is not None and dict(f.fix.params["pins"]) == {"1": [3]}
    full = guest("z", vcpus=(Vcpu(0, 3, 3, (3,), True),), nvcpus=1, emulator_affinity=(3,), domain=domain(cores=1))
    (f,) = found(snap(g, other, full), "pin.partial")
    assert f.fix is None and "no pinning proposed" in f.evidence


def _two_cells(node_of_cell1):
    cells = (GuestCell(0, "0", GIB, "0"), GuestCell(1, "1", GIB, node_of_cell1))
    return guest(vcpus=(Vcpu(0, 101, 0, (0,), True), Vcpu(1, 102, 4, (4,), True)), emulator_affinity=(0, 4),
                 numatune=NumaTune("strict", "0-1"), numa_memory_kib={0: GIB, 1: GIB},
                 domain=domain(cells=cells))


def test_a_guest_split_on_purpose_by_its_numa_cells_is_not_split():
    """8.4.8 with 8.4.1: cell 0 on node 0, cell 1 on node 1, vCPUs and memory where the cells are."""
    split = {"numa.split", "numa.remote", "pin.vcpus_across_nodes"}
    assert not codes(snap(_two_cells("1"))) & split
    assert "pin.vcpus_across_nodes" in codes(snap(_two_cells("0")))   # cell 1 bound to node 0, its vCPU on 1
    assert CODES["numa.split"].section == "8.4"


def test_virt_xml_lines_select_and_set_what_they_say():
    """--edit index=0 alone edits every controller with index 0; --memory memory=N alone sets currentMemory."""
    (f,) = found(VIOLATIONS["storage.scsi_queues"]()[0], "storage.scsi_queues")
    assert f.fix is not None and f.fix.virt_xml is not None and "type=scsi,index=0" in f.fix.virt_xml
    (f,) = found(VIOLATIONS["mem.unused"]()[0], "mem.unused")
    assert f.fix is not None and f.fix.virt_xml is not None
    arg = f.fix.virt_xml[f.fix.virt_xml.index("--memory") + 1]
    mem, cur = dict(kv.split("=") for kv in arg.split(",")).values()
    assert arg.startswith("memory=") and "currentMemory=" in arg and mem == cur


def test_findings_of_a_device_name_it_as_their_subject():
    disks = (Disk("vda", None, cache="unsafe", io="native"), Disk("vdb", None, cache="none", io="threads"))
    a = evaluate(snap(guest(disks=disks)))
    assert {(f.code, f.subject) for f in a.guests["g"]} >= {("storage.cache_unsafe", "vda"), ("storage.io", "vdb")}


def test_writeback_honours_flushes_and_is_not_unsafe():
    """Table 6.1: unsafe ignores the guest's flushes, writeback does not: info, not the data-loss warning."""
    got = codes(snap(guest(disks=(Disk("vda", None, cache="writeback", io="native"),))))
    assert "storage.cache_unsafe" not in got and "storage.cache_writeback" in got
    w = Disk("vda", None, cache="writeback", io="native"), Disk("vdb", None, cache="none", io="native")   # heavy
    assert {f.code for f in found(snap(guest(disks=w)), "storage.cache", None, HEAVY)} == {"storage.cache"}
    assert not found(snap(guest(disks=w)), "storage.cache_writeback", None, HEAVY)


def test_topology_counts_the_maximum_vcpus_and_proposes_sockets():
    """<vcpu current='2'>4</vcpu> with 2 x 2 x 1: the topology covers the 4 (3.3.3)."""
    g = guest(domain=domain(sockets=2, cores=2, threads=1, max_vcpus=4))
    assert "cpu.topology" not in codes(snap(g))
    (f,) = found(snap(guest(domain=domain(sockets=1, cores=1, threads=4))), "cpu.topology")
    assert f.fix is not None and "sockets='2' cores='1' threads='1'" in (f.fix.xml or "")


def test_host_and_device_near_misses_of_the_review():
    """type='user' takes no queues; experimental_zcopytx=0 is the default; io_uring bypasses
    QEMU's thread pool like native; tuned may run several profiles, virtual-host among them."""
    user = Nic(mac="52:54:00:00:00:09", type="user", model="virtio")
    assert "net.multiqueue" not in codes(snap(guest(domain=domain(nics=(user,)))))
    assert "net.zcopytx" not in codes(snap(vhost_zcopytx=0))
    assert "storage.io" not in codes(snap(guest(disks=(Disk("vda", None, cache="none", io="io_uring"),))))
    assert "tuned.profile" not in codes(snap(tuned_profile="virtual-host my-tweaks"))
    nics = (Nic(mac="52:54:00:00:00:0a", model="e1000"), Nic(mac="52:54:00:00:00:0b", model="e1000"))
    assert {f.subject for f in found(snap(guest(domain=domain(nics=nics))), "net.model")} == \
        {"52:54:00:00:00:0a", "52:54:00:00:00:0b"}


def test_the_pool_keeps_what_stopped_hugepage_guests_need():
    """1024 free 2 MiB pages; a stopped 2 GiB guest on <hugepages/> needs all of them."""
    from kvmtune.model import MemoryBacking
    stopped = guest("s", state="shut off", memory_backing=MemoryBacking(hugepages=True), numa_memory_kib=None)
    s = snap(guest(), stopped, hugepages={2048: HugePool(1024, 1024, 0, 0)})
    assert "huge.unused_pool" not in codes(s)
    s = snap(guest(), stopped, hugepages={2048: HugePool(2048, 2048, 0, 0)})
    (f,) = found(s, "huge.unused_pool")
    assert f.fix is not None and f.fix.params["count"] == 1024 and f.subject == "2048"


def test_each_unused_device_finding_has_its_own_subject():
    s = snap(guest(domain=domain(sounds=("ich9",), inputs=("tablet/usb",), redirdevs=2)))
    assert {f.subject for f in found(s, "devices.unused")} == {"sound ich9", "input tablet/usb", "redirdev"}
