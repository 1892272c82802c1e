"""vhost-net workers: QEMU's own threads (Linux 6.4 on) and the kernel threads of older
kernels, on generated /proc trees; and the demo host's through the whole collector, the
rates, the JSON and pane 2."""

from __future__ import annotations

from kvmtune.collect import process
from kvmtune.collect.vhost import VhostReader
from kvmtune.devmodel import NetIf
from kvmtune.hostfs import HostFS
from kvmtune.vocab import CLK_TCK

VHOST_NIC = (NetIf(mac="52:54:00:00:00:01", model="virtio", vhost=True),)


def _tree(tmp_path, tree, extra):
    files = tree.guest_files(pid=4242, name="web1", vcpus={0: (4250, 3, 150)}, anon_pages={0: 10})
    files.update(extra)
    return HostFS(tree.write_tree(tmp_path, files))


def test_a_vhost_worker_among_qemus_threads(tmp_path, tree):
    fs = _tree(tmp_path, tree, {
        "proc/4242/task/4260/comm": "vhost-4242\n",
        "proc/4242/task/4260/stat": tree.task_stat(4260, "vhost-4242", 30, 10, 5),
        "proc/4242/task/4260/schedstat": "123456789 0 0\n",
        "proc/4242/task/4260/status": "Name:\tvhost-4242\nCpus_allowed_list:\t4-7\n",
    })
    names: dict[str, int | None] = {}
    assert set(process.vcpu_threads(fs, 4242, names)) == {0}   # the worker is not a vCPU
    errors: list = []
    (w,) = VhostReader(fs, 30).read("web1", 4242, names, VHOST_NIC, 0.0, errors)
    assert (w.tid, w.pcpu, w.affinity, w.cpu_time_ns, w.kernel) == (4260, 5, (4, 5, 6, 7), 123456789, False)
    assert errors == []
    # no NIC on vhost: nothing is looked for
    assert VhostReader(fs, 30).read("web1", 4242, names, (NetIf(model="e1000", vhost=False),), 0.0, errors) == ()


def test_kernel_threads_of_older_kernels_are_found_by_one_cached_scan(tmp_path, tree):
    fs = _tree(tmp_path, tree, {
        "proc/77/comm": "vhost-4242\n",
        "proc/77/stat": tree.task_stat(77, "vhost-4242", 20, 5, 2),
        "proc/77/status": "Name:\tvhost-4242\nCpus_allowed_list:\t0-3\n",
        "proc/78/comm": "kworker/0:1\n",
    })
    names: dict[str, int | None] = {}
    process.vcpu_threads(fs, 4242, names)
    reader, errors = VhostReader(fs, 30), []
    (w,) = reader.read("web1", 4242, names, VHOST_NIC, 0.0, errors)
    assert (w.tid, w.pcpu, w.affinity, w.kernel) == (77, 2, (0, 1, 2, 3), True)
    assert w.cpu_time_ns == 25 * (1_000_000_000 // CLK_TCK)   # no schedstat: utime + stime in clock ticks
    # a second worker appears: the scan is cached, so it shows once `every` seconds have passed
    (tmp_path / "proc/79").mkdir()
    (tmp_path / "proc/79/comm").write_text("vhost-4242\n")
    (tmp_path / "proc/79/stat").write_text(tree.task_stat(79, "vhost-4242", 1, 1, 3))
    assert len(reader.read("web1", 4242, names, VHOST_NIC, 10.0, errors)) == 1
    assert {t.tid for t in reader.read("web1", 4242, names, VHOST_NIC, 31.0, errors)} == {77, 79}
    assert errors == []


def test_the_demo_hosts_vhost_workers_through_collection_rates_json_and_pane_2():
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.frame import Framer
    from kvmtune.model import Snapshot
    from kvmtune.ui import panes
    feed = DemoFeed(open_demo(seed=1))
    try:
        framer = Framer()
        framer.push(feed.next())
        frame = framer.push(feed.next())
    finally:
        feed.close()
    db = frame.snap.guest("db-primary")
    (w,) = db.vhost_threads
    assert w.affinity == db.emulator_affinity and not w.kernel   # QEMU's thread, in its emulator pin
    assert frame.snap.guest("web-02").vhost_threads == ()         # virtio with <driver name='qemu'/>
    assert frame.snap.guest("web-01").vhost_threads == ()         # e1000: emulated, no vhost
    pct = frame.rates["db-primary"].vhost_percent[w.tid]
    assert pct is not None and pct > 0
    assert Snapshot.loads(frame.snap.dumps()).guest("db-primary").vhost_threads == (w,)
    row = next(ln for ln in panes.vcpu_pane(frame, db).splitlines() if ln.startswith("vhost"))
    assert str(w.tid) in row and row.rstrip().endswith("40-41")
