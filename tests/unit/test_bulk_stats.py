"""The bulk stats call's block and interface groups as the libvirt implementation reads them,
and the demo's block latency and flushes."""

from __future__ import annotations

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.rates import guest_rates
from kvmtune.virt.interface import BlockCounters, NetCounters
from kvmtune.virt.libvirt_stats import guest_stats as _stats

# what getAllDomainStats gives for one guest (libvirt 9 key names): a disk with its backing
# chain (the backing entry is skipped), an interface
RECORD = {
    "block.count": 2,
    "block.0.name": "vda", "block.0.rd.reqs": 10, "block.0.rd.bytes": 4096, "block.0.rd.times": 5_000_000,
    "block.0.wr.reqs": 4, "block.0.wr.bytes": 8192, "block.0.wr.times": 9_000_000,
    "block.0.fl.reqs": 2, "block.0.fl.times": 1_000_000,
    "block.1.name": "vda", "block.1.backingIndex": 1,
    "net.count": 1, "net.0.name": "vnet0", "net.0.rx.bytes": 1, "net.0.rx.pkts": 2, "net.0.rx.errs": 3,
    "net.0.rx.drop": 4, "net.0.tx.bytes": 5, "net.0.tx.pkts": 6, "net.0.tx.errs": 7, "net.0.tx.drop": 8,
}


def test_block_group_times_flushes_and_errors():
    st = _stats(RECORD)
    assert st.block == {"vda": BlockCounters(4096, 8192, 10, 4, 5_000_000, 9_000_000, 2, 1_000_000, None)}
    assert _stats({**RECORD, "block.0.errors": 3}).block["vda"].errors == 3


def test_interface_group_where_it_is_asked_for():
    assert _stats(RECORD).net == {"vnet0": NetCounters(1, 2, 3, 4, 5, 6, 7, 8)}
    # an interface libvirt could not read (no counters) is left out, not zeros
    assert _stats({**RECORD, "net.0.tx.drop": None}).net == {}


def test_vcpu_group_states_where_it_is_asked_for():
    """A remote URI's vcpu group: each vCPU's virVcpuState in virsh vcpuinfo's words; a code
    libvirt may add later is no state, not a wrong word."""
    st = _stats({**RECORD, "vcpu.current": 3, "vcpu.0.state": 1, "vcpu.0.time": 5, "vcpu.1.state": 0,
                 "vcpu.2.state": 9})
    assert st.vcpu_state == {0: "running", 1: "offline"} and st.vcpu_time_ns == {0: 5}
    assert _stats(RECORD).vcpu_state == {}


def test_demo_disks_have_latency_and_flushes_and_a_throttle_queues_them():
    src = open_demo(seed=1)
    try:
        feed = DemoFeed(src)
        a, b = feed.next(), feed.next()
    finally:
        src.close()
    r = guest_rates(a, b)["backup-01"].disks
    assert all(x.rd_ms and x.wr_ms and x.fl_ms and x.fl_iops for x in r.values())
    # vdb runs at its 50 MiB/s throttle: its requests wait in QEMU's queue
    assert r["vdb"].wr_ms > 5 * r["vda"].wr_ms
    assert all(d.errors is None for g in b.guests for d in g.disks)   # QEMU counts none


def _domstats(path):
    """`virsh domstats NAME` as captured: its key=value lines as the bulk call's record (ints where numeric)."""
    out = {}
    for line in path.read_text().splitlines()[1:]:
        key, sep, value = line.strip().partition("=")
        if sep:
            out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def test_balloon_group_of_a_real_guest(shared_fixtures):
    """The balloon group as libvirt 9.0 gave it for a lab guest: its size now, its configured size and
    QEMU's RSS, which libvirt reads from the process's /proc (status, captured beside it: VmRSS)."""
    import re
    for name in ("guest1", "guest2", "iogen"):
        d = shared_fixtures / "lab-captures" / name
        rec = _domstats(d / "virsh-domstats.txt")
        st = _stats(rec)
        assert (st.balloon_current_kib, st.balloon_max_kib, st.rss_kib) == (
            rec["balloon.current"], rec["balloon.maximum"], rec["balloon.rss"])
        vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", (d / "status").read_text()).group(1))
        assert abs(st.rss_kib - vmrss) <= max(1024, vmrss // 50), (name, st.rss_kib, vmrss)
    assert _stats({}).rss_kib is None and _stats({}).balloon_max_kib is None


def test_demo_guests_have_their_size_now_configured_and_rss():
    """The demo as a real host: the bulk call's balloon.maximum (<memory>), statm's RSS."""
    src = open_demo()
    feed = DemoFeed(src)
    try:
        snap = feed.next()
    finally:
        feed.close()
    web2 = snap.guest("web-02")   # ballooned: 8 GiB of its 12
    assert (web2.memory_kib, web2.max_memory_kib) == (8 << 20, 12 << 20)
    assert web2.domain is not None and web2.domain.max_memory_kib == web2.max_memory_kib
    for g in snap.guests:
        assert g.max_memory_kib is not None and g.max_memory_kib >= g.memory_kib
        if not g.running:
            assert g.rss_kib is None
        elif g.memory_backing is not None and g.memory_backing.hugepages:
            assert g.rss_kib < g.memory_kib // 10   # hugetlbfs pages are not in RSS
        else:   # RSS: its anonymous memory (numa_stat) and QEMU's binary and libraries
            anon = sum(g.numa_memory_kib.values())
            assert anon < g.rss_kib <= anon + (24 << 10), g.name
