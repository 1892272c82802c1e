"""CPU times and the vCPU count, which kvmtune reads from /proc and the guest's cgroup (it does
not ask libvirt's bulk call for its vcpu and cpu-total groups), against what libvirt reports
for the same guests: `virsh domstats --vcpu --cpu-total` read just before and just after
kvmtune's tick, and `virsh vcpucount --live --active`. Read only: no guest is changed.
"""

from __future__ import annotations

import os

from labkit import GUESTS, virsh

# libvirt 9.0's vcpu.N.time is the thread's stat utime + stime: each truncated to a clock
# tick, so it trails the thread's run time (schedstat, kvmtune's figure) by up to two ticks
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def domstats() -> dict[str, dict[str, int]]:
    """`virsh domstats --vcpu --cpu-total` for the lab guests -> {guest: {key: value}}."""
    out: dict[str, dict[str, int]] = {}
    cur: dict[str, int] = {}
    for line in virsh("domstats", "--vcpu", "--cpu-total", *GUESTS).splitlines():
        line = line.strip()
        if line.startswith("Domain: "):
            cur = out.setdefault(line.split("'")[1], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            if value.isdigit():
                cur[key] = int(value)
    return out


def test_cpu_times_agree_with_virsh_domstats(collector):
    """Each vCPU's and each guest's CPU time lies between libvirt's read just before and just
    after kvmtune's (the guest's total is the same cgroup counter libvirt reads; a vCPU's is
    exact where libvirt's lags by at most two clock ticks), whatever the guests do meanwhile."""
    collector.collect()   # settings and pids found: the timed tick is an ordinary one
    before = domstats()
    snap = collector.collect()
    after = domstats()
    assert not snap.errors, snap.errors
    for name in GUESTS:
        g, b, a = snap.guest(name), before[name], after[name]
        assert g is not None and g.cpu_time_ns is not None, name
        assert b["cpu.time"] <= g.cpu_time_ns <= a["cpu.time"], (name, b["cpu.time"], g.cpu_time_ns, a["cpu.time"])
        assert len(g.vcpus) == a["vcpu.current"], name
        for v in g.vcpus:
            was, now = b[f"vcpu.{v.index}.time"], a[f"vcpu.{v.index}.time"]
            assert v.cpu_time_ns is not None, (name, v.index)
            assert was <= v.cpu_time_ns <= now + 2 * TICK_NS, (name, v.index, was, v.cpu_time_ns, now)
        # the vCPU times are schedstat's (to the ns), not stat's clock ticks like libvirt's
        assert any(v.cpu_time_ns % TICK_NS for v in g.vcpus), name


def test_vcpu_count_agrees_with_virsh_vcpucount(collector):
    snap = collector.collect()
    for name in GUESTS:
        g = snap.guest(name)
        assert g is not None and g.nvcpus == len(g.vcpus) == int(virsh("vcpucount", name, "--live", "--active")), name
        assert all(v.tid is not None for v in g.vcpus), name   # each counted from its thread


def test_a_tick_makes_no_libvirt_call_per_guest(collector, monkeypatch):
    """On qemu:///system the bulk call gives state, memory and block for every guest: no guest
    costs a dom.info() (the partial-stats fallback of drivers like the test driver)."""
    import libvirt
    calls: list[str] = []
    real = libvirt.virDomain.info

    def counted(dom):
        calls.append(dom.name())
        return real(dom)
    collector.collect()
    monkeypatch.setattr(libvirt.virDomain, "info", counted)
    snap = collector.collect()
    assert {g.name for g in snap.guests} >= set(GUESTS) and calls == []
