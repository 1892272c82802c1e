"""rates: two snapshots -> per-second figures; never negative, None where unknown."""

from __future__ import annotations

import pytest

from kvmtune import rates
from kvmtune.model import Cpu, Disk, Guest, Host, Ksm, Snapshot, Vcpu


def guest(pid=10, cpu=0, vcpu0=0, rd=0, wr=0, rq=0, wq=0, gid=1):
    return Guest(name="g", uuid="u", id=gid, state="running", pid=pid, memory_kib=1,
                 vcpus=(Vcpu(0, 11, 0, (0,), False, vcpu0),),
                 disks=(Disk("vda", None, {}, rd, wr, rq, wq),), cpu_time_ns=cpu)


def snap(t, guests=(), cpus=(), ksm_scanned=None):
    ksm = Ksm(1, 0, 0, 0, 0, 0, 1, 100, 20, None, ksm_scanned)
    return Snapshot(t, Host("h", cpus=cpus, ksm=ksm), guests)


def test_guest_rates():
    a = snap(100.0, [guest(cpu=0, vcpu0=0, rd=0, wr=1000, rq=0, wq=10)])
    b = snap(102.0, [guest(cpu=1_000_000_000, vcpu0=500_000_000, rd=4096, wr=3000, rq=8, wq=14)])
    r = rates.guest_rates(a, b)["g"]
    assert r.cpu_percent == pytest.approx(50.0)
    assert r.vcpu_percent == {0: pytest.approx(25.0)}
    d = r.disks["vda"]
    assert (d.rd_bytes_s, d.wr_bytes_s, d.rd_iops, d.wr_iops) == (2048, 1000, 4, 2)
    assert (d.total_bytes_s, d.total_iops) == (3048, 6)


def test_no_rate_across_a_restart_or_backwards_counter():
    a = snap(100.0, [guest(cpu=5_000_000_000, rd=9999)])
    b = snap(102.0, [guest(pid=99, gid=2, cpu=1, rd=1)])
    r = rates.guest_rates(a, b)["g"]
    assert r.cpu_percent is None and r.disks["vda"].rd_bytes_s is None
    c = snap(102.0, [guest(cpu=1, rd=1)])       # same run, counter went backwards
    r = rates.guest_rates(a, c)["g"]
    assert r.cpu_percent is None and r.disks["vda"].rd_bytes_s is None and r.disks["vda"].total_bytes_s is None
    assert rates.guest_rates(None, b)["g"].vcpu_percent == {0: None}


def test_host_cpu_percent():
    a = snap(0, cpus=(Cpu(0, busy_s=10, total_s=100), Cpu(1, busy_s=5, total_s=100), Cpu(2)))
    b = snap(2, cpus=(Cpu(0, busy_s=11, total_s=102), Cpu(1, busy_s=5, total_s=100), Cpu(2),
                      Cpu(3, busy_s=1, total_s=2)))
    assert rates.host_cpu_percent(a, b) == {0: pytest.approx(50.0), 1: None, 2: None, 3: None}


def test_ksm_scan_rate():
    assert rates.ksm_scan_rate(snap(0, ksm_scanned=1000), snap(4, ksm_scanned=3000)) == 500
    assert rates.ksm_scan_rate(snap(0), snap(4)) is None
    assert rates.ksm_scan_rate(None, snap(4, ksm_scanned=1)) is None


def test_disk_latency_is_the_time_over_the_requests_of_the_interval():
    from kvmtune.rates import disk_rate
    a = Disk("vda", None, rd_reqs=100, wr_reqs=50, rd_times_ns=10**9, wr_times_ns=10**9, fl_reqs=5, fl_times_ns=0)
    b = Disk("vda", None, rd_reqs=300, wr_reqs=50, rd_times_ns=10**9 + 400_000_000, wr_times_ns=10**9,
             fl_reqs=9, fl_times_ns=8_000_000)
    r = disk_rate(a, b, 2.0)
    assert r.rd_ms == 2.0          # 400 ms over 200 reads
    assert r.wr_ms is None         # no write in the interval: no latency, not 0
    assert (r.fl_iops, r.fl_ms) == (2.0, 2.0)
    assert disk_rate(a, Disk("vda", None), 2.0).rd_ms is None
