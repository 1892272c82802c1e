"""Real block traffic: the I/O guest's rate from two snapshots (kvmtune.rates), unthrottled
and under `virsh blkdeviotune --total-bytes-sec 1048576`."""

from __future__ import annotations

import time

from labkit import IO, colon_table, virsh, wait_for

from kvmtune.rates import guest_rates

LIMIT = 1048576


def domblkstat() -> dict[str, int]:
    return {k: int(v) for k, v in (line.split()[1:] for line in virsh("domblkstat", IO, "vda").splitlines())}


def rate(collector, seconds: float):
    s1 = collector.collect()
    time.sleep(seconds)
    s2 = collector.collect()
    return s2, guest_rates(s1, s2)[IO].disks["vda"]


def test_counters_match_virsh_domblkstat(collector):
    before = domblkstat()
    disk = collector.collect().guest(IO).disks[0]
    after = domblkstat()
    for ours, theirs in (("rd_bytes", "rd_bytes"), ("wr_bytes", "wr_bytes"),
                         ("rd_reqs", "rd_req"), ("wr_reqs", "wr_req")):
        assert before[theirs] <= getattr(disk, ours) <= after[theirs], ours


def test_rate_unthrottled_then_throttled(collector):
    # The guest may still be booting (first lab-up): wait for its dd loop.
    assert wait_for(lambda: (rate(collector, 1)[1].total_bytes_s or 0) > 1e6, 60, 0), "no I/O from the guest"
    _, r = rate(collector, 3)
    assert r.total_bytes_s > 10e6, f"{r.total_bytes_s / 1e6:.1f} MB/s unthrottled"
    try:
        virsh("blkdeviotune", IO, "vda", "--total-bytes-sec", str(LIMIT), "--live")
        time.sleep(2)                      # let requests queued before the limit drain
        snap, r = rate(collector, 6)
        assert snap.guest(IO).disks[0].iotune["total_bytes_sec"] == LIMIT
        assert int(colon_table(virsh("blkdeviotune", IO, "vda"))["total_bytes_sec"]) == LIMIT
        assert 0 < r.total_bytes_s <= 1.5e6, f"{r.total_bytes_s / 1e6:.2f} MB/s under a 1 MB/s limit"
    finally:
        virsh("blkdeviotune", IO, "vda", "--total-bytes-sec", "0", "--live")
    snap = wait_for(lambda: (s := collector.collect()).guest(IO).disks[0].iotune["total_bytes_sec"] == 0 and s, 5, 0.5)
    assert snap, "the limit still shows after it was removed"
