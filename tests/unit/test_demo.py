"""The demo host: its shape, its guests, and that changes show in the following snapshots.

Everything goes through the ordinary collectors (the demo feed runs a `Collector`) on the demo's own tree and
simulated hypervisor, the way `kvmtune --demo` runs.
"""

from __future__ import annotations

import os

import pytest

from kvmtune import analysis, parse
from kvmtune.advise import evaluate
from kvmtune.demo import DT, DemoFeed, open_demo
from kvmtune.rates import guest_rates, host_cpu_percent
from kvmtune.virt.interface import Disconnected, GuestGone, Hypervisor, VirtError

GIB = 1024 * 1024
MIB = 1024          # KiB
MB = 1024 * 1024    # bytes


@pytest.fixture
def demo():
    src = open_demo(seed=1)
    yield src
    src.close()


def ticks(src, n):
    c = DemoFeed(src)
    return [c.next() for _ in range(n)]


def test_host_shape(demo):
    snap = ticks(demo, 1)[0]
    h = snap.host
    assert not snap.errors
    assert [n.id for n in h.nodes] == [0, 1, 2, 3]
    assert h.node(0).distances == (10, 16, 32, 32) and h.node(3).distances == (32, 32, 16, 10)
    assert sorted(c for n in h.nodes for c in n.cpus) == list(range(64))
    assert all(len(n.cpus) == 16 for n in h.nodes)
    assert 500 * GIB < sum(n.mem_total_kib for n in h.nodes) <= 512 * GIB
    # SMT: CPU c and c+32 are siblings (same socket and core), two sockets of 16 cores.
    cpus = {c.id: c for c in h.cpus}
    assert len(cpus) == 64
    assert all((cpus[c].socket, cpus[c].core) == (cpus[c + 32].socket, cpus[c + 32].core) for c in range(32))
    assert len({(c.socket, c.core) for c in h.cpus}) == 32 and {c.socket for c in h.cpus} == {0, 1}
    # hugepage pools, partly in use, per node consistent with the global files
    for size in (2048, 1048576):
        pool = h.hugepages[size]
        assert 0 < pool.free < pool.total
        assert pool.total == sum(n.hugepages[size].total for n in h.nodes)
        assert pool.free == sum(n.hugepages[size].free for n in h.nodes)
    assert h.ksm.run == 1 and h.ksm.pages_sharing > 0 and h.ksm.merge_across_nodes == 1
    assert (h.thp_enabled, h.numa_balancing, h.tuned_profile) == ("madvise", 1, "virtual-host")
    assert h.hostname == "hv-demo-01"


def test_showcase_guests_show_what_the_guide_flags(demo):
    before, snap = ticks(demo, 2)
    assert not snap.errors
    assert len(snap.guests) >= 8
    rates = guest_rates(before, snap)
    advice = evaluate(snap, before, rates)
    warn = {g.name: {w.code for w in advice.guests[g.name]} for g in snap.guests}
    # spread over two nodes though it fits in one
    ana = snap.guest("analytics")
    assert [n for n, _, _ in analysis.memory_nodes(ana, 0.1)] == [2, 3] and "numa.split" in warn["analytics"]
    # pinned vCPUs, no numatune
    br = snap.guest("build-runner")
    assert all(v.pinned for v in br.vcpus) and br.numatune is None
    assert "pin.no_numatune" in warn["build-runner"]
    # 1 GiB hugepages, on node 1, matching its size
    db = snap.guest("db-primary")
    assert db.memory_backing.hugepages and db.memory_backing.page_size_kib == 1048576
    assert db.hugepages == {1048576: {1: 32}} and warn["db-primary"] == set()
    assert snap.host.node(1).hugepages[1048576].total - snap.host.node(1).hugepages[1048576].free == 32
    # a throttled disk running at its limit
    bk = snap.guest("backup-01")
    vdb = next(d for d in bk.disks if d.target == "vdb")
    assert vdb.iotune["total_bytes_sec"] == 50 * MB
    assert 0.95 * 50 * MB <= rates["backup-01"].disks["vdb"].total_bytes_s <= 50 * MB
    assert "storage.at_limit" in warn["backup-01"]
    # two guests KSM merges, growing
    for name in ("web-01", "web-02"):
        assert snap.guest(name).ksm.merging_pages > before.guest(name).ksm.merging_pages > 0
    # hard_limit close to its use
    assert "memtune.hard_limit_close" in warn["cache-01"]
    # one shut off
    off = snap.guest("legacy-erp")
    assert off.state == "shut off" and off.pid is None and off.id is None
    # memory per node agrees with the tree's own RssAnon (+ hugepages)
    for g in snap.guests:
        if g.running:
            status = parse.status(demo.fs.read_text(f"proc/{g.pid}/status"))
            assert sum(g.numa_memory_kib.values()) == status["RssAnon"] + status["HugetlbPages"]


def test_vcpu_load_and_host_cpu_time_advance(demo):
    a, b = ticks(demo, 2)
    assert b.time - a.time == DT
    rate = guest_rates(a, b)["analytics"]
    assert 10 < rate.cpu_percent < 1700          # 16 vCPUs around 60 % each
    busy = host_cpu_percent(a, b)
    assert all(v is not None and 0 <= v <= 100 for v in busy.values())
    # a pinned busy guest's CPUs are busier than a CPU nobody is pinned to on an idle node
    br = b.guest("build-runner")
    assert sum(busy[v.pcpu] for v in br.vcpus) / len(br.vcpus) > 20


def test_pin_moves_the_vcpu_thread(demo):
    c = DemoFeed(demo)
    c.next()
    demo.hv.pin_vcpu("web-01", 0, (20, 21))
    snap = c.next()
    v = snap.guest("web-01").vcpus[0]
    assert v.affinity == (20, 21) and v.pinned and v.pcpu in (20, 21)
    st = parse.task_stat(demo.fs.read_text(f"proc/{snap.guest('web-01').pid}/task/{v.tid}/stat"))
    assert st.processor in (20, 21)
    for _ in range(5):
        assert c.next().guest("web-01").vcpus[0].pcpu in (20, 21)


def test_numatune_strict_migrates_memory_over_a_few_ticks(demo):
    c = DemoFeed(demo)
    start = c.next().guest("analytics").numa_memory_kib
    total = sum(start.values())
    demo.hv.set_numatune("analytics", "strict", "2")
    seen = [c.next().guest("analytics") for _ in range(5)]
    assert seen[0].numatune.mode == "strict" and seen[0].numatune.nodeset == "2"
    first = seen[0].numa_memory_kib
    assert start[3] > first[3] > 0                   # moving, not there at once
    last = seen[-1].numa_memory_kib
    assert last[3] == 0 and last[2] == pytest.approx(total, rel=0.001)


def test_ksm_run_controls_merging(demo):
    c = DemoFeed(demo)
    c.next()

    def merging():
        return c.next().guest("web-01").ksm.merging_pages

    a, b = merging(), merging()
    assert b > a
    demo.fs.write_text("sys/kernel/mm/ksm/run", "0")
    x, y = merging(), merging()
    assert x == y and c.next().host.ksm.run == 0
    demo.fs.write_text("sys/kernel/mm/ksm/pages_to_scan", "10000")
    demo.fs.write_text("sys/kernel/mm/ksm/run", "1")
    p, q = merging(), merging()
    assert q - p > 5 * (b - a)                       # 10x the scan rate merges faster
    demo.fs.write_text("sys/kernel/mm/ksm/run", "2")
    snap = c.next()
    assert snap.guest("web-01").ksm.merging_pages == 0
    assert snap.host.ksm.pages_shared == 0 and snap.host.ksm.pages_sharing == 0


def test_ksm_unmerge_is_answered_between_ticks(demo):
    """The kernel unmerges at once on run=2: actions wait for it without a collection."""
    import time
    demo.fs.write_text("sys/kernel/mm/ksm/run", "2")
    deadline = time.monotonic() + 5
    while demo.fs.read_int("sys/kernel/mm/ksm/pages_shared") > 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert demo.fs.read_str("sys/kernel/mm/ksm/run") == "2"


def test_merge_across_nodes_is_refused_while_pages_are_shared(demo):
    c = DemoFeed(demo)
    demo.fs.write_text("sys/kernel/mm/ksm/merge_across_nodes", "0")
    assert c.next().host.ksm.merge_across_nodes == 1     # EBUSY: put back
    demo.fs.write_text("sys/kernel/mm/ksm/run", "2")
    c.next()
    demo.fs.write_text("sys/kernel/mm/ksm/merge_across_nodes", "0")
    assert c.next().host.ksm.merge_across_nodes == 0


def test_disk_limit_caps_traffic(demo):
    c = DemoFeed(demo)
    a = c.next()
    demo.hv.set_block_iotune("backup-01", "vdb", {"total_bytes_sec": 0})
    b, d = c.next(), c.next()
    free = guest_rates(b, d)["backup-01"].disks["vdb"].total_bytes_s
    assert free > 100e6 and d.guest("backup-01").disks[1].iotune["total_bytes_sec"] == 0
    demo.hv.set_block_iotune("backup-01", "vdb", {"write_bytes_sec": 10 * MB, "read_iops_sec": 5})
    e, f = c.next(), c.next()
    r = guest_rates(e, f)["backup-01"].disks["vdb"]
    assert 0.95 * 10 * MB <= r.wr_bytes_s <= 10 * MB and r.rd_iops <= 5
    assert a.guest("backup-01").disks[1].iotune["total_bytes_sec"] == 50 * MB


def test_hugepage_pool_writes_change_free_counts(demo):
    c = DemoFeed(demo)
    h = c.next().host
    p2 = h.hugepages[2048]
    demo.fs.write_text("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", str(p2.total + 400))
    h2 = c.next().host
    assert h2.hugepages[2048].total == p2.total + 400 and h2.hugepages[2048].free == p2.free + 400
    assert sum(n.hugepages[2048].total for n in h2.nodes) == p2.total + 400
    assert [n.hugepages[2048].total - h.node(n.id).hugepages[2048].total for n in h2.nodes] == [100] * 4
    assert h2.node(2).mem_free_kib < h.node(2).mem_free_kib - 150 * MIB
    # per node, and never below what guests hold (mail-01 holds 2048 pages on node 0)
    demo.fs.write_text("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "0")
    h3 = c.next().host
    assert h3.node(0).hugepages[2048].total == 2048 and h3.node(0).hugepages[2048].free == 0
    assert h3.hugepages[2048].total == h2.hugepages[2048].total - (h2.node(0).hugepages[2048].total - 2048)


def test_thp_and_numa_balancing_writes(demo):
    c = DemoFeed(demo)
    demo.fs.write_text("sys/kernel/mm/transparent_hugepage/enabled", "never")
    demo.fs.write_text("proc/sys/kernel/numa_balancing", "0")
    h = c.next().host
    assert h.thp_enabled == "never" and h.numa_balancing == 0
    assert demo.fs.read_str("sys/kernel/mm/transparent_hugepage/enabled") == "always madvise [never]"
    demo.fs.write_text("sys/kernel/mm/transparent_hugepage/enabled", "sometimes")   # EINVAL
    assert c.next().host.thp_enabled == "never"


def test_same_seed_same_snapshots():
    runs = []
    for seed in (5, 5, 6):
        src = open_demo(seed=seed)
        try:
            c = DemoFeed(src)
            snaps = [c.next() for _ in range(3)]
            src.hv.pin_vcpu("web-02", 1, (3,))
            src.hv.set_numatune("build-runner", "strict", "2")
            snaps += [c.next() for _ in range(3)]
            runs.append([s.to_json() for s in snaps])
        finally:
            src.close()
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert [s["time"] for s in runs[0]] == [1735700000.0 + DT * i for i in range(1, 7)]


def test_close_removes_the_tree():
    src = open_demo()
    root = src.fs.root
    assert (root / "proc/stat").exists()
    src.close()
    assert not os.path.exists(root)


def test_scale_mode():
    src = open_demo(seed=3, guests=300)
    try:
        c = DemoFeed(src)
        a, b = c.next(), c.next()
        assert len(b.guests) == 300 and not b.errors
        running = [g for g in b.guests if g.running]
        assert len(running) >= 280
        assert all(g.numa_memory_kib and len(g.vcpus) == g.nvcpus for g in running)
        assert any(g.hugepages for g in running) and any(v.pinned for g in running for v in g.vcpus)
        for pool in b.host.hugepages.values():
            assert 0 <= pool.free <= pool.total
        rates = guest_rates(a, b)
        assert all(rates[g.name].cpu_percent is not None for g in running)
    finally:
        src.close()


def test_cpu_figures_come_through_the_demo_proc_tree(demo):
    """As on a real host, the demo's hypervisor gives no vCPU count and no CPU times (kvmtune
    does not ask libvirt for them): the collector reads each vCPU thread's schedstat and the
    guest cgroup's cpuacct.usage in the demo's tree, and counts the vCPU threads."""
    feed = DemoFeed(demo)
    feed.next()
    assert all(i.nvcpus is None for i in demo.hv.list_guests())
    assert all(not s.vcpu_time_ns and s.cpu_time_ns is None for s in demo.hv.guest_stats().values())
    g = feed.next().guest("db-primary")
    root = demo.fs.root
    tids = {int(t) for t in os.listdir(root / f"proc/{g.pid}/task")
            if (root / f"proc/{g.pid}/task/{t}/comm").read_text().startswith("CPU ")}
    assert g.nvcpus == len(g.vcpus) == len(tids) == 8 and {v.tid for v in g.vcpus} == tids
    # the files as they are now (the simulator stands still between two feed steps)
    for v in g.vcpus:
        assert v.cpu_time_ns == int((root / f"proc/{g.pid}/task/{v.tid}/schedstat").read_text().split()[0])
    usage = root / f"sys/fs/cgroup/cpu,cpuacct/machine/qemu-{g.id}-{g.name}.libvirt-qemu/cpuacct.usage"
    assert g.cpu_time_ns == int(usage.read_text()) > sum(v.cpu_time_ns or 0 for v in g.vcpus)
    # a shut-off guest has no threads: its vCPU count is its domain XML's
    off = next(x for x in feed.next().guests if not x.running)
    assert off.nvcpus == demo.hv.domain_config(off.name).current_vcpus == len(off.vcpus) > 0


# -- the hypervisor interface: libvirt's rules -------------------------------------------------

def test_hypervisor_is_complete(demo):
    assert isinstance(demo.hv, Hypervisor) and demo.hv.host_cpu_count() == 64
    assert demo.hv.changed_guests() == {g.name for g in demo.hv.list_guests()}   # first call: all
    assert demo.hv.changed_guests() == set()
    demo.hv.set_memtune("cache-01", {"hard_limit_kib": 20 * GIB})
    demo.hv.set_blkio("web-01", {"weight": 300})
    assert demo.hv.changed_guests() == {"cache-01", "web-01"}
    assert demo.hv.memtune("cache-01").hard_limit_kib == 20 * GIB
    assert demo.hv.blkio("web-01")["weight"] == 300
    cfg = demo.hv.domain_config("db-primary")
    assert [d.target for d in cfg.disks] == ["vda", "vdb"] and cfg.memory_backing.page_size_kib == 1048576
    assert [t.affinity for t in demo.hv.iothreads("db-primary")] == [(42,)]
    assert demo.hv.emulator_affinity("db-primary") == (40, 41)
    demo.hv.pin_iothread("db-primary", 1, (11,))
    demo.hv.pin_emulator("db-primary", (12, 13))
    xml = demo.hv.domain_xml("db-primary")
    assert "<iothreadpin iothread=\"1\" cpuset=\"11\" />" in xml and "<emulatorpin cpuset=\"12-13\" />" in xml


def test_hypervisor_refuses_like_libvirt(demo):
    hv = demo.hv
    with pytest.raises(GuestGone):
        hv.numatune("no-such-guest")
    with pytest.raises(VirtError, match="can't change numatune mode"):
        hv.set_numatune("db-primary", "interleave", "0-1")
    with pytest.raises(VirtError, match="does not exist"):
        hv.pin_vcpu("web-01", 0, (64,))
    with pytest.raises(VirtError, match="out of range"):
        hv.pin_vcpu("web-01", 9, (1,))
    with pytest.raises(VirtError, match="unavailable"):
        hv.set_numatune("web-01", "strict", "4")
    with pytest.raises(VirtError, match="cannot be set at the same time"):
        hv.set_block_iotune("backup-01", "vdb", {"total_bytes_sec": 1000, "read_bytes_sec": 1000})
    hv.set_block_iotune("backup-01", "vdb", {"read_bytes_sec": 1000})   # resets total, as libvirt does
    assert hv.block_iotune("backup-01", "vdb")["total_bytes_sec"] == 0
    with pytest.raises(VirtError, match="weight range"):
        hv.set_blkio("web-01", {"weight": 5})
    with pytest.raises(VirtError, match="swap_hard_limit"):
        hv.set_memtune("cache-01", {"swap_hard_limit_kib": 1 * GIB})
    with pytest.raises(GuestGone, match="not running"):
        hv.pin_vcpu("legacy-erp", 0, (1,), scope="live")
    hv.pin_vcpu("legacy-erp", 0, (1,), scope="config")
    assert hv.vcpu_affinity("legacy-erp")[0] == (1,)
    hv.available = False
    with pytest.raises(Disconnected):
        hv.ensure_connected()
    snap = DemoFeed(demo).next()
    assert snap.disconnected and snap.host.nodes


# -- through the action objects and the Executor, as the TUI and CLI apply them -----------------

def test_actions_show_their_effect_in_the_following_snapshots(demo, tmp_path):
    from kvmtune import actions
    ex = actions.Executor(demo, log_path=str(tmp_path / "audit.log"))
    c = DemoFeed(demo)
    snap = c.next()

    def run(action):
        r = ex.run(action, snap, confirmed=True)
        assert r.status == "applied", r.message
        return r

    run(actions.VcpuPin("web-02", 2, (44,)))
    run(actions.NumaTune("analytics", None, "3"))   # libvirt: no mode change while running
    run(actions.BlkDevIoTune("web-01", "vda", {"read_bytes_sec": 256 * 1024}))
    run(actions.KsmSet({"run": 0}))
    snaps = [c.next() for _ in range(5)]
    first, last = snaps[0], snaps[-1]
    v = first.guest("web-02").vcpus[2]
    assert v.affinity == (44,) and v.pcpu == 44
    assert first.guest("analytics").numa_memory_kib[2] > last.guest("analytics").numa_memory_kib[2] == 0
    assert guest_rates(snaps[1], snaps[2])["web-01"].disks["vda"].rd_bytes_s <= 256 * 1024
    assert first.host.ksm.run == 0
    assert first.guest("web-01").ksm.merging_pages == last.guest("web-01").ksm.merging_pages
    # undo (newest first) puts KSM back to run=1, and merging resumes
    assert ex.undo(last, confirmed=True).status == "applied"
    a, b = c.next(), c.next()
    assert b.host.ksm.run == 1 and b.guest("web-01").ksm.merging_pages > a.guest("web-01").ksm.merging_pages


def test_host_actions_and_move_through_the_executor(demo, tmp_path):
    from kvmtune import actions
    ex = actions.Executor(demo, log_path=str(tmp_path / "audit.log"))
    c = DemoFeed(demo)
    snap = c.next()
    # merge_across_nodes while pages are shared: the action unmerges first (run=2) and waits
    # for the kernel; the demo answers between ticks, as a kernel does.
    r = ex.run(actions.KsmSet({"merge_across_nodes": 0}), snap, confirmed=True)
    assert r.status == "applied", r.message
    r = ex.run(actions.HugepagePool(2048, None, snap.host.hugepages[2048].total + 40), snap, confirmed=True)
    assert r.status == "applied", r.message
    r = ex.run(actions.MoveToNode("build-runner", (2,)), snap, confirmed=True)
    assert r.status == "applied", r.message
    after = [c.next() for _ in range(5)]
    h = after[0].host
    assert h.ksm.merge_across_nodes == 0 and h.ksm.run == 1
    assert h.hugepages[2048].total == snap.host.hugepages[2048].total + 40
    br = after[-1].guest("build-runner")
    assert br.numatune is not None and br.numatune.nodeset == "2"
    assert set(br.numa_memory_kib) == {0, 1, 2, 3} and br.numa_memory_kib[3] == 0
    assert all(after[-1].host.node_of_cpu(v.pcpu) == 2 for v in br.vcpus)
    assert "numa.split" not in {w.code for w in evaluate(after[-1]).guests["build-runner"]}


# -- the advisor's facts: every check has a guest that breaks it ---------------------------------

def test_host_facts_on_the_demo_tree(demo):
    """tuned's pid file is stale, numad does not run, arp_filter is off, zero-copy TX is on (not its default)."""
    h = ticks(demo, 1)[0].host
    assert (h.tuned_profile, h.tuned_running, h.numad_running) == ("virtual-host", False, False)
    assert (h.arp_filter, h.vhost_zcopytx) == (0, 1)


def test_showcase_domain_facts_break_each_check(demo):
    """What scenario.py's table promises, as the collector reads it from the demo's XML."""
    snap = ticks(demo, 2)[-1]
    assert not snap.errors
    d = {g.name: g.domain for g in snap.guests}
    disk = {(g.name, x.target): (x.cache, x.io) for g in snap.guests for x in g.disks}
    assert d["analytics"].pmu is False                                       # 2.3
    assert d["web-02"].sounds == ("ich9",) and "tablet/usb" in d["web-02"].inputs \
        and d["web-02"].redirdevs == 2                                       # 3.2.2
    br = d["build-runner"]
    # 3.3.2: QEMU's default model, named in the XML as libvirt 9 does (running or not)
    assert (br.cpu_mode, br.cpu_model) == ("custom", "qemu64") == (d["legacy-erp"].cpu_mode, d["legacy-erp"].cpu_model)
    assert (br.sockets, br.cores, br.threads) == (1, 2, 4)                   # 3.3.3: host cores have 2 threads
    assert [n.model for n in d["web-01"].nics] == ["e1000"]                  # 5.3
    assert [n.model for n in d["legacy-erp"].nics] == ["rtl8139"]
    assert [(n.model, n.driver) for n in d["web-02"].nics] == [("virtio", "qemu")]
    assert [(n.model, n.queues) for n in d["analytics"].nics] == [("virtio", None)]   # 5.5.2, 16 vCPUs
    assert disk["backup-01", "vdb"] == ("writeback", "threads") and disk["build-runner", "vda"][0] == "unsafe"
    assert disk["analytics", "vda"] == ("none", "threads")                  # 6.4
    assert ("scsi", "virtio-scsi", None) in [(c.type, c.model, c.queues) for c in d["analytics"].controllers]
    assert len(snap.guest("backup-01").disks) == 2 and d["backup-01"].disk_iothreads == {}
    assert d["web-02"].max_memory_kib == 12 * GIB > snap.guest("web-02").memory_kib        # 7.2
    assert snap.guest("legacy-erp").memory_backing.locked and snap.guest("legacy-erp").memtune.hard_limit_kib is None
    assert d["cache-01"].vcpu_placement == "auto"                            # 8.4.2 (numad not running)
    assert len(d["analytics"].cells) == 8 > len(snap.host.nodes)             # 8.4.8
    assert sum(c.memory_kib for c in d["analytics"].cells) == snap.guest("analytics").memory_kib
    dns = snap.guest("dns-01")
    assert dns.memory_backing.nosharepages and dns.ksm.merging_pages > 0     # 8.5


def test_db_primary_is_the_satisfied_guest(demo):
    """The well-tuned guest is clean on every XML fact the advisor reads."""
    snap = ticks(demo, 1)[0]
    db = snap.guest("db-primary")
    f = db.domain
    assert (f.cpu_mode, f.sockets, f.cores, f.threads) == ("host-passthrough", 1, 8, 1)
    assert [(n.model, n.driver, n.queues) for n in f.nics] == [("virtio", "vhost", 8)]
    assert all((x.cache, x.io) == ("none", "native") for x in db.disks)
    assert f.disk_iothreads == {"vda": 1, "vdb": 1} and f.iothreads == 1
    assert ("scsi", "virtio-scsi", 8) in [(c.type, c.model, c.queues) for c in f.controllers]
    assert (f.sounds, f.redirdevs, f.vcpu_placement, f.pmu) == ((), 0, "static", None)
    assert "tablet/usb" not in f.inputs


def test_scale_guests_carry_violations_too():
    src = open_demo(seed=3, guests=40)
    try:
        snap = DemoFeed(src).next()
        assert not snap.errors
        running = [g for g in snap.guests if g.running]
        assert sum(len(g.vcpus) for g in running) > len(snap.host.cpus)                 # overcommit
        big = snap.guest("vm-0003")
        assert len(big.vcpus) == 20 and all(v.pinned for v in big.vcpus)
        assert len({snap.host.node_of_cpu(c) for v in big.vcpus for c in v.affinity}) == 1
        partly = [g for g in running if any(v.pinned for v in g.vcpus) and not all(v.pinned for v in g.vcpus)]
        assert partly and all(g.domain.nics[0].model == "e1000" for g in partly)
        idle = [g for g in running if g.domain.cpu_model == "qemu64"]
        assert idle and all(x.limit("total_iops_sec") == 500 for g in idle for x in g.disks if x.target == "vdb")
    finally:
        src.close()
