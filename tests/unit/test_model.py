"""The Snapshot model: lossless JSON both ways, and the v1 contract's keys and types."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmtune.model import (
    SCHEMA,
    Cpu,
    Disk,
    Error,
    Guest,
    GuestKsm,
    Host,
    HugePool,
    IoThread,
    Ksm,
    MemoryBacking,
    MemTune,
    Node,
    NodeHugePool,
    NumaTune,
    Snapshot,
    Vcpu,
)
from kvmtune.xmlfacts import Controller, DomainFacts, GuestCell, Nic

FULL = Snapshot(
    time=1700000000.25,
    host=Host(
        hostname="hv1",
        nodes=(Node(0, (0, 1, 2, 3), 8388608, 4194304, (10, 20), {2048: NodeHugePool(64, 32, 1)}),
               Node(2, (), 4194304, 1048576, None, {})),
        hugepages={2048: HugePool(64, 32, 4, 1), 1048576: HugePool(1, 1, 0, 0)},
        ksm=Ksm(1, 10, 250, 7, 3, 42, 1, 100, 20, 1015808, 123456),
        thp_enabled="madvise", numa_balancing=1, tuned_profile="virtual-host",
        cpus=(Cpu(0, 0, 0, 0, 1.5, 10.0), Cpu(1)), thp_defrag="never",
        mem_total_kib=12582912, mem_free_kib=5242880,
        tuned_running=True, numad_running=False, arp_filter=1, vhost_zcopytx=None),
    guests=(
        Guest(name="web1", uuid="6695eb01-f6a4-8304-79aa-97f2502e193f", id=3, state="running", pid=4242,
              memory_kib=1048576,
              vcpus=(Vcpu(0, 4250, 3, (2, 3), True, 150), Vcpu(1, None, None, (0, 1, 2, 3), False, None)),
              emulator_affinity=(0, 1), numatune=NumaTune("strict", "0"),
              memtune=MemTune(2097152, None, None), numa_memory_kib={0: 4000, 2: 131072},
              hugepages={2048: {2: 64}}, ksm=GuestKsm(5, 20480, {0: 20}), blkio_weight=500,
              disks=(Disk("vda", "/var/lib/libvirt/images/web1.qcow2",
                          {"total_bytes_sec": 1048576, "read_bytes_sec": 0, "write_bytes_sec": 0,
                           "total_iops_sec": 0, "read_iops_sec": 0, "write_iops_sec": 0},
                          1, 2, 3, 4, "none", "native", "virtio"),),
              iothreads=(IoThread(1, (3,)),), memory_backing=MemoryBacking(True, 2048, False, True),
              cpu_time_ns=999, nvcpus=2,
              domain=DomainFacts(cpu_mode="host-passthrough", sockets=1, cores=2, threads=1, pmu=False,
                                 cells=(GuestCell(0, "0-1", 1048576, "0"),),
                                 nics=(Nic("52:54:00:00:00:01", "bridge", "br0", "virtio", "vhost", 2),),
                                 controllers=(Controller("scsi", "virtio-scsi", 0, 2),),
                                 disk_iothreads={"vda": 1}, inputs=("tablet/usb",), redirdevs=1,
                                 graphics=("vnc",), memballoon="virtio", vcpu_placement="static",
                                 iothreads=1, max_memory_kib=2097152)),
        Guest(name="off", uuid="u2", id=None, state="shut off", pid=None, memory_kib=131072),
    ),
    errors=(Error("host.ksm", "/sys/kernel/mm/ksm/run: not found"),),
    disconnected=False,
)


def test_round_trip_both_ways():
    d = FULL.to_json()
    text = json.dumps(d)
    back = Snapshot.loads(text)
    assert back == FULL
    assert json.loads(back.dumps()) == json.loads(text)
    assert Snapshot.from_json(json.loads(text)).to_json() == d


def test_schema_is_checked():
    with pytest.raises(ValueError, match=r"not a kvmtune\.snapshot document"):
        Snapshot.from_json({**FULL.to_json(), "schema": "other/2"})


def test_contract_keys_and_types(snapshot_contract):
    d = json.loads(FULL.dumps())
    snapshot_contract(d)                                   # every object: the v1 keys and types
    assert d["schema"] == SCHEMA == "kvmtune.snapshot/1"
    assert set(d["host"]["hugepages"]) == {"2048", "1048576"}
    web, off = d["guests"]
    assert web["memtune"]["soft_limit_kib"] is None          # null = unlimited
    assert web["numa_memory_kib"] == {"0": 4000, "2": 131072}
    assert web["hugepages"] == {"2048": {"2": 64}}
    assert web["ksm"] == {"merging_pages": 5, "profit_bytes": 20480, "shared_kib": {"0": 20}}
    assert (off["id"], off["pid"], off["numatune"], off["numa_memory_kib"]) == (None, None, None, None)


def test_contract_check_catches_a_broken_document(snapshot_contract):
    """The checker itself: a renamed key, a wrong type, a non-numeric node key each fail it."""
    for breaks in (lambda d: d["guests"][0].pop("numa_memory_kib"),
                   lambda d: d["guests"][0]["vcpus"][0].update(pcpu="3"),
                   lambda d: d["guests"][0]["ksm"]["shared_kib"].update(node0=1),
                   lambda d: d["host"]["nodes"][0].update(id=True),
                   lambda d: d["host"].pop("tuned_running"),
                   lambda d: d["guests"][0]["domain"]["nics"][0].update(queues="2"),
                   lambda d: d["guests"][0]["domain"]["cells"][0].pop("memory_kib"),
                   lambda d: d["guests"][0]["domain"].update(sounds=[None]),
                   lambda d: d["guests"][0].update(stale=None)):
        d = json.loads(FULL.dumps())
        breaks(d)
        with pytest.raises(AssertionError):
            snapshot_contract(d)


def test_derived_properties():
    assert FULL.host.node(2).cpus == () and FULL.host.node(5) is None
    assert FULL.host.node_of_cpu(3) == 0 and FULL.host.node_of_cpu(9) is None
    assert FULL.guests[0].hugepages_kib == 64 * 2048
    assert FULL.guest("off").running is False and FULL.guest("web1").running


_opt_int = st.none() | st.integers(0, 2**53)
_nodes = st.lists(st.builds(Node, id=st.integers(0, 63), cpus=st.lists(st.integers(0, 255), unique=True).map(tuple),
                            mem_total_kib=st.integers(0, 2**40), mem_free_kib=st.integers(0, 2**40),
                            distances=st.none() | st.lists(st.integers(10, 255)).map(tuple),
                            hugepages=st.dictionaries(st.sampled_from([2048, 1048576]),
                                                      st.builds(NodeHugePool, st.integers(0, 9999),
                                                                st.integers(0, 9999), st.integers(0, 99)))),
                  max_size=4).map(tuple)
_guests = st.lists(st.builds(
    Guest, name=st.text(min_size=1, max_size=20), uuid=st.uuids().map(str), id=_opt_int,
    state=st.sampled_from(["running", "paused", "shut off"]), pid=_opt_int, memory_kib=st.integers(0, 2**40),
    vcpus=st.lists(st.builds(Vcpu, st.integers(0, 64), _opt_int, _opt_int,
                             st.lists(st.integers(0, 255)).map(tuple), st.booleans(), _opt_int), max_size=3).map(tuple),
    numa_memory_kib=st.none() | st.dictionaries(st.integers(0, 63), st.integers(0, 2**40)),
    hugepages=st.none() | st.dictionaries(st.sampled_from([2048, 1048576]),
                                          st.dictionaries(st.integers(0, 63), st.integers(0, 9999))),
    memtune=st.none() | st.builds(MemTune, _opt_int, _opt_int, _opt_int),
    stale=st.booleans(),
), max_size=3).map(tuple)


@settings(max_examples=100, deadline=None)
@given(time=st.floats(0, 2e9, allow_nan=False), nodes=_nodes, guests=_guests,
       hostname=st.text(max_size=30), errors=st.lists(st.builds(Error, st.text(), st.text()), max_size=3))
def test_round_trip_any_snapshot(time, nodes, guests, hostname, errors):
    snap = Snapshot(time, Host(hostname, nodes), guests, tuple(errors))
    assert Snapshot.loads(snap.dumps()) == snap


# -- forward compatibility: an older kvmtune opens a newer writer's snapshot -----------------

# data keyed by node, size, limit name or disk
MAPS = {"hugepages", "numa_memory_kib", "iotune", "shared_kib", "disk_iothreads"}


def _with_extras(d, key=None):
    """Every object in the document gains a key this version has never heard of."""
    if isinstance(d, dict):
        out = {k: _with_extras(v, k) for k, v in d.items()}
        return out if key in MAPS or (key and key.isdigit()) else {**out, "x_future": {"nested": [1, 2]}}
    if isinstance(d, list):
        return [_with_extras(v) for v in d]
    return d


def test_unknown_keys_everywhere_are_ignored():
    snap = FULL
    doc = _with_extras(snap.to_json())
    doc["schema"] = "kvmtune.snapshot/7"                # a newer version: read what we know
    assert Snapshot.from_json(doc) == snap


def test_missing_optional_keys_take_their_defaults():
    doc = FULL.to_json()
    for g in doc["guests"]:
        for key in ("iothreads", "memory_backing", "cpu_time_ns", "nvcpus", "vcpu_cpuset", "ksm"):
            g.pop(key, None)
        for d in g["disks"]:
            for key in ("cache", "io", "bus", "rd_reqs"):
                d.pop(key, None)
    for key in ("cpus", "thp_defrag", "mem_total_kib", "ksm"):
        doc["host"].pop(key, None)
    doc.pop("disconnected")
    snap = Snapshot.from_json(doc)
    assert snap.host.cpus == () and snap.host.ksm is None and not snap.disconnected
    assert all(g.iothreads is None and g.vcpu_cpuset is None for g in snap.guests)


@pytest.mark.parametrize("schema", [None, "", "kvmtune.snapshot", "kvmtune.snapshot/0",
                                    "kvmtune.snapshot/x", "other/1", 1])
def test_foreign_documents_are_refused(schema):
    doc = FULL.to_json()
    doc["schema"] = schema
    with pytest.raises(ValueError, match=r"not a kvmtune\.snapshot document"):
        Snapshot.from_json(doc)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["time", "host", "guests", "errors", "hostname", "nodes"]),
                       json_values))
def test_any_json_gives_a_snapshot_or_a_value_error(doc):
    doc = {**doc, "schema": SCHEMA}
    try:
        Snapshot.from_json(doc)
    except ValueError:
        pass
