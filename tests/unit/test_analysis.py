"""analysis: locality, node summaries, the guide's warnings, formatting."""

from dataclasses import replace
from pathlib import Path

import pytest

from kvmtune import analysis as a
from kvmtune.model import GuestKsm, MemoryBacking, MemTune, NumaTune, Snapshot
from kvmtune.rates import DiskRate, guest_rates

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snapshot-2node.json"


@pytest.fixture
def snap() -> Snapshot:
    return Snapshot.loads(FIXTURE.read_text())


def codes(g, snap, rate=None):
    return [w.code for w in a.guest_warnings(g, snap.host, rate)]


def test_locality_all_local(snap):
    assert a.locality(snap.guest("web1"), snap.host) == 1.0


def test_locality_split_counts_only_vcpu_nodes(snap):
    db = snap.guest("db1")          # vCPUs on CPUs 2,3 (node 0); memory 1048576 on 0, 1000000 on 1
    assert a.locality(db, snap.host) == pytest.approx(1048576 / 2048576)


def test_locality_remote_and_unknown(snap):
    assert a.locality(snap.guest("huge1"), snap.host) == 0.0   # runs on node 1, memory on 0
    assert a.locality(snap.guest("off1"), snap.host) is None


def test_locality_falls_back_to_affinity_when_pcpu_unknown(snap):
    g = snap.guest("web1")
    g = replace(g, vcpus=tuple(replace(v, pcpu=None, affinity=(4,)) for v in g.vcpus))
    assert a.locality(g, snap.host) == 0.0


def test_nodes_label_and_memory_nodes(snap):
    assert a.nodes_label(snap.guest("db1")) == "0-1"
    assert a.nodes_label(snap.guest("web1")) == "0"
    assert a.nodes_label(snap.guest("off1")) == "-"
    assert [n for n, _, _ in a.memory_nodes(snap.guest("db1"), 0.1)] == [0, 1]


def test_well_placed_guest_has_no_warnings(snap):
    assert codes(snap.guest("web1"), snap) == []


def test_split_guest_that_fits_one_node(snap):
    c = codes(snap.guest("db1"), snap)
    assert "split" in c and "remote" in c


def test_split_not_reported_when_no_node_can_hold_it(snap):
    db = replace(snap.guest("db1"), memory_kib=16 * 1024 * 1024)
    assert "split" not in codes(db, snap)


def test_pinned_without_numatune(snap):
    g = replace(snap.guest("web1"), numatune=None)
    assert "pinned-no-numatune" in codes(g, snap)


def test_vcpus_pinned_across_nodes(snap):
    g = snap.guest("web1")
    one = replace(g, vcpus=(replace(g.vcpus[0], affinity=(0, 4)), g.vcpus[1]))
    assert "vcpu-across-nodes" in codes(one, snap)
    two = replace(g, vcpus=(g.vcpus[0], replace(g.vcpus[1], affinity=(5,), pcpu=5)))
    assert "vcpus-across-nodes" in codes(two, snap)


def test_numatune_on_other_node_than_pins(snap):
    g = replace(snap.guest("web1"), numatune=NumaTune("strict", "1"))
    assert "numatune-elsewhere" in codes(g, snap)


def test_emulator_off_node(snap):
    g = replace(snap.guest("web1"), emulator_affinity=(6, 7))
    assert "emulator-elsewhere" in codes(g, snap)


def test_hard_limit_close_and_below_memory(snap):
    assert "hard-limit-close" in codes(snap.guest("db1"), snap)
    g = replace(snap.guest("web1"), memtune=MemTune(hard_limit_kib=512 * 1024))
    assert "hard-limit-low" in codes(g, snap)
    g = replace(snap.guest("web1"), memtune=MemTune(hard_limit_kib=4 << 20, swap_hard_limit_kib=1 << 20))
    assert codes(g, snap) == ["swap-limit-low"]


def test_locked_memory_needs_hard_limit(snap):
    g = replace(snap.guest("web1"), memory_backing=MemoryBacking(locked=True))
    assert "locked-no-limit" in codes(g, snap)


def test_throttle_at_limit_from_two_snapshots(snap):
    db = snap.guest("db1")
    later = replace(db, disks=(replace(db.disks[0], rd_bytes=db.disks[0].rd_bytes + 2 * 1048576),))
    after = replace(snap, time=snap.time + 2, guests=(later,))
    rate = guest_rates(snap, after)["db1"]
    assert a.at_limit(later.disks[0].iotune, rate.disks["vda"]) == "total_bytes_sec"
    assert "at-limit" in codes(later, after, rate)
    slow = replace(db, disks=(replace(db.disks[0], rd_bytes=db.disks[0].rd_bytes + 1000),))
    rate = guest_rates(snap, replace(after, guests=(slow,)))["db1"]
    assert "at-limit" not in codes(slow, after, rate)


def test_unlimited_disk_never_at_limit():
    assert a.at_limit({"total_bytes_sec": 0}, None) is None


def test_stopped_guest_has_no_warnings(snap):
    assert codes(snap.guest("off1"), snap) == []


def test_single_node_host_has_no_numa_warnings(snap):
    one = replace(snap.host, nodes=(replace(snap.host.nodes[0], cpus=tuple(range(8))),))
    s = replace(snap, host=one)
    assert codes(s.guest("db1"), s) == ["hard-limit-close"]
    assert a.host_warnings(one) == []


def test_host_warnings(snap):
    assert [w.code for w in a.host_warnings(snap.host)] == ["ksm-across-nodes"]
    off = replace(snap.host, ksm=replace(snap.host.ksm, merge_across_nodes=0), numa_balancing=0)
    assert [w.code for w in a.host_warnings(off)] == ["numa-balancing-off"]


def test_best_node_prefers_where_memory_is(snap):
    assert a.best_node(snap.guest("db1"), snap.host) == 0
    assert a.fitting_nodes(replace(snap.guest("db1"), memory_kib=1 << 30), snap.host) == []
    assert a.best_node(replace(snap.guest("db1"), memory_kib=1 << 30), snap.host) is None


def test_node_summary(snap):
    s = a.node_summary(snap)
    assert [u.node for u in s] == [0, 1]
    assert s[0].guests_kib == {"web1": 1000000, "db1": 1048576, "huge1": 524288}
    assert s[1].guests_kib == {"db1": 1000000}
    assert s[0].vcpu_guests == {"web1": 2, "db1": 2}
    assert s[1].vcpu_guests == {"huge1": 1}
    assert s[0].mem_used_kib == 4194304


def test_hugepages(snap):
    assert a.hugepage_sizes(snap) == [2048]
    assert a.hugepage_holders(snap, 2048) == [("huge1", {0: 256})]
    assert a.hugepage_holders(snap, 1048576) == []


def test_ksm_figures(snap):
    assert a.ksm_saved_kib(snap.host) == 5000 * 4
    assert a.ksm_ratio(snap.host) == 5.0
    assert a.guest_ksm_saved_kib(snap.guest("web1")) == 1000 * 4
    neg = replace(snap.guest("web1"), ksm=GuestKsm(merging_pages=10, profit_bytes=-5000))
    assert a.guest_ksm_saved_kib(neg) == 40
    assert a.guest_ksm_saved_kib(snap.guest("huge1")) is None
    assert a.ksm_ratio(replace(snap.host, ksm=None)) is None


def test_moved_vcpus(snap):
    g = snap.guest("db1")
    moved = replace(g, vcpus=(replace(g.vcpus[0], pcpu=6), g.vcpus[1]))
    assert a.moved_vcpus(g, moved) == {0}
    assert a.moved_vcpus(None, moved) == set()
    assert a.moved_vcpus(g, g) == set()


def test_is_pinned(snap):
    assert a.is_pinned(snap.guest("web1")) and not a.is_pinned(snap.guest("db1"))


# -- each warning threshold, pinned by a value just inside and just outside it -------------
# The figures are written out (not taken from analysis' constants), so moving a threshold
# fails these tests.

def with_memory(snap, **numa):
    """web1 (2 vCPUs pinned on node 0, fits one node, no warnings) with this memory per node."""
    return replace(snap.guest("web1"), numa_memory_kib={int(n[1:]): kib for n, kib in numa.items()})


@pytest.mark.parametrize("n0,n1,split", [(9000, 1000, True),    # 10.0 % on node 1: split
                                         (9001, 999, False)])   # 9.99 %: QEMU's own, not a split
def test_split_threshold_is_ten_percent(snap, n0, n1, split):
    assert ("split" in codes(with_memory(snap, n0=n0, n1=n1), snap)) is split


@pytest.mark.parametrize("n0,n1,remote", [(8000, 2000, False),   # locality 80 %: fine
                                          (7999, 2001, True)])   # 79.99 %: remote
def test_low_locality_threshold_is_eighty_percent(snap, n0, n1, remote):
    g = with_memory(snap, n0=n0, n1=n1)
    assert ("remote" in codes(g, snap)) is remote


@pytest.mark.parametrize("hard,close", [(1111111, True),    # uses 1000000 KiB = 90.000009 % of it
                                        (1111112, False)])  # 89.99999 %
def test_hard_limit_close_threshold_is_ninety_percent(snap, hard, close):
    g = replace(with_memory(snap, n0=1000000), memtune=MemTune(hard_limit_kib=hard))
    assert g.memory_kib <= hard   # not "hard-limit-low"
    assert codes(g, snap) == (["hard-limit-close"] if close else [])


@pytest.mark.parametrize("hard,low", [(1048576, False), (1048575, True)])   # the guest's memory is 1048576
def test_hard_limit_low_below_the_guest_memory(snap, hard, low):
    g = replace(with_memory(snap, n0=1000), memtune=MemTune(hard_limit_kib=hard))
    assert codes(g, snap) == (["hard-limit-low"] if low else [])


@pytest.mark.parametrize("swap,low", [(2 << 20, False), ((2 << 20) - 1, True)])
def test_swap_hard_limit_below_hard_limit(snap, swap, low):
    g = replace(with_memory(snap, n0=1000), memtune=MemTune(hard_limit_kib=2 << 20, swap_hard_limit_kib=swap))
    assert codes(g, snap) == (["swap-limit-low"] if low else [])


@pytest.mark.parametrize("key,inside,outside", [
    ("total_bytes_sec", DiskRate(600.0, 350.0, 0.0, 0.0), DiskRate(600.0, 349.9, 0.0, 0.0)),
    ("read_bytes_sec", DiskRate(950.0, 0.0, 0.0, 0.0), DiskRate(949.9, 0.0, 0.0, 0.0)),
    ("write_bytes_sec", DiskRate(0.0, 950.0, 0.0, 0.0), DiskRate(0.0, 949.9, 0.0, 0.0)),
    ("total_iops_sec", DiskRate(0.0, 0.0, 500.0, 450.0), DiskRate(0.0, 0.0, 500.0, 449.9)),
    ("read_iops_sec", DiskRate(0.0, 0.0, 950.0, 0.0), DiskRate(0.0, 0.0, 949.9, 0.0)),
    ("write_iops_sec", DiskRate(0.0, 0.0, 0.0, 950.0), DiskRate(0.0, 0.0, 0.0, 949.9)),
])
def test_at_limit_threshold_is_ninety_five_percent(key, inside, outside):
    limit = {key: 1000}
    assert a.at_limit(limit, inside) == key        # 95 % of the limit: at it
    assert a.at_limit(limit, outside) is None      # 94.99 %: not yet
