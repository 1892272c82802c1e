"""analysis: locality, node summaries, where a guest fits, throttles at their limit (the
guide's findings are tests/unit/test_advise*.py)."""

from dataclasses import replace
from pathlib import Path

import pytest

from kvmtune import analysis as a
from kvmtune.model import GuestKsm, Snapshot
from kvmtune.rates import DiskRate, guest_rates

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snapshot-2node.json"


@pytest.fixture
def snap() -> Snapshot:
    return Snapshot.loads(FIXTURE.read_text())


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


def test_unlimited_disk_never_at_limit():
    assert a.at_limit({"total_bytes_sec": 0}, None) is None


def test_throttle_at_limit_from_two_snapshots(snap):
    db = snap.guest("db1")
    later = replace(db, disks=(replace(db.disks[0], rd_bytes=db.disks[0].rd_bytes + 2 * 1048576),))
    after = replace(snap, time=snap.time + 2, guests=(later,))
    rate = guest_rates(snap, after)["db1"]
    assert a.at_limit(later.disks[0].iotune, rate.disks["vda"]) == "total_bytes_sec"
    slow = replace(db, disks=(replace(db.disks[0], rd_bytes=db.disks[0].rd_bytes + 1000),))
    rate = guest_rates(snap, replace(after, guests=(slow,)))["db1"]
    assert a.at_limit(slow.disks[0].iotune, rate.disks["vda"]) is None


def test_best_node_prefers_where_memory_is(snap):
    assert a.best_node(snap.guest("db1"), snap.host) == 0
    assert a.fitting_nodes(replace(snap.guest("db1"), memory_kib=1 << 30), snap.host) == []
    assert a.best_node(replace(snap.guest("db1"), memory_kib=1 << 30), snap.host) is None


def test_fitting_nodes_compare_free_memory_not_total(snap):
    """The rule the move checks: what must move to the node <= its free memory. A node whose
    total holds the guest but whose free memory does not is no fit (it was, by total)."""
    db = snap.guest("db1")                      # 2 GiB; 1048576 KiB already on node 0
    n0 = snap.host.node(0)
    assert n0.mem_total_kib >= db.memory_kib
    tight = replace(snap.host, nodes=(replace(n0, mem_free_kib=db.memory_kib - 1048576 - 1), *snap.host.nodes[1:]))
    assert 0 not in a.fitting_nodes(db, tight)
    room = replace(snap.host, nodes=(replace(n0, mem_free_kib=db.memory_kib - 1048576), *snap.host.nodes[1:]))
    assert 0 in a.fitting_nodes(db, room)


def test_best_node_prefers_cpu_room_over_memory_already_there(snap):
    """With the snapshot, a node whose CPUs other guests have pinned is chosen last."""
    db = snap.guest("db1")
    pinned_on_0 = snap.guest("web1")            # pinned on node 0's CPUs
    assert a.best_node(db, snap.host) == 0
    crowded = replace(snap, guests=tuple(
        replace(g, vcpus=tuple(replace(v, affinity=(0, 1, 2, 3), pinned=True) for v in g.vcpus) * 2)
        if g.name == pinned_on_0.name else g for g in snap.guests))
    assert a.best_node(db, crowded.host, crowded) == 1
