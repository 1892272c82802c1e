"""numatune / memtune / blkio weight / blkdeviotune: kvmtune vs what virsh prints.

Values are set with virsh first (so they are not the defaults), read by both, and
undone by restarting the guest (its definition carries none of them)."""

from __future__ import annotations

import pytest
from labkit import PLAIN1, colon_table, restart_guest, virsh, wait_for

from kvmtune.vocab import IOTUNE_BASE as IOTUNE_KEYS


@pytest.fixture
def tuned():
    virsh("numatune", PLAIN1, "--nodeset", "0", "--live")
    virsh("memtune", PLAIN1, "--hard-limit", "1048576", "--soft-limit", "524288", "--live")
    virsh("blkiotune", PLAIN1, "--weight", "321", "--live")
    virsh("blkdeviotune", PLAIN1, "vda", "--total-iops-sec", "500",
          "--read-bytes-sec", "2097152", "--write-bytes-sec", "1048576", "--live")
    yield PLAIN1
    restart_guest(PLAIN1)


def limit_kib(v: str) -> int | None:
    return None if v == "unlimited" else int(v)


def test_tuning_values_match_virsh(fresh_collector, tuned):
    g = fresh_collector.collect().guest(tuned)

    nt = colon_table(virsh("numatune", tuned))
    assert g.numatune is not None
    assert (g.numatune.mode, g.numatune.nodeset) == (nt["numa_mode"], nt["numa_nodeset"])
    assert g.numatune.nodeset == "0"

    mt = colon_table(virsh("memtune", tuned))
    assert g.memtune.hard_limit_kib == limit_kib(mt["hard_limit"]) == 1048576
    assert g.memtune.soft_limit_kib == limit_kib(mt["soft_limit"]) == 524288
    assert g.memtune.swap_hard_limit_kib == limit_kib(mt["swap_hard_limit"])

    assert g.blkio_weight == int(colon_table(virsh("blkiotune", tuned))["weight"]) == 321

    bt = colon_table(virsh("blkdeviotune", tuned, "vda"))
    (disk,) = [d for d in g.disks if d.target == "vda"]
    assert {k: disk.iotune[k] for k in IOTUNE_KEYS} == {k: int(bt[k]) for k in IOTUNE_KEYS}
    assert disk.iotune["total_iops_sec"] == 500 and disk.iotune["read_bytes_sec"] == 2097152


def test_cached_settings_follow_libvirt_events(collector):
    """With default caching (refresh every 30 s), a change made by another client shows on
    the next ticks anyway: libvirt sends tunable events for vcpupin and blkdeviotune."""
    g = collector.collect().guest(PLAIN1)
    assert g.disks[0].iotune["total_iops_sec"] == 0
    try:
        virsh("vcpupin", PLAIN1, "0", "1", "--live")
        virsh("blkdeviotune", PLAIN1, "vda", "--total-iops-sec", "700", "--live")

        def seen():
            g = collector.collect().guest(PLAIN1)
            return g.vcpus[0].affinity == (1,) and g.disks[0].iotune["total_iops_sec"] == 700
        assert wait_for(seen, timeout=5, step=1), "event-driven refresh did not pick up the change"
    finally:
        restart_guest(PLAIN1)
