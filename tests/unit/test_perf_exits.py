"""KVM's exit counters read from a fake debugfs tree (a tmp dir as the host root)."""

from __future__ import annotations

import errno
import os
import shutil

from kvmtune.collect.perf import DEBUGFS, EXIT_STATS, KernelPerf, PerfCollector
from kvmtune.errors import HostFSError
from kvmtune.hostfs import HostFS
from kvmtune.model import Guest, Vcpu


class CountingFS(HostFS):
    """The real HostFS, counting listings of debugfs's kvm directory."""
    def __init__(self, root, deny=False):
        super().__init__(root)
        self.listed, self.deny = 0, deny

    def listdir(self, rel, *default):
        if rel == DEBUGFS:
            self.listed += 1
            if self.deny:   # kernel lockdown: debugfs refuses even root (not provoked here)
                raise HostFSError.from_os(rel, OSError(errno.EPERM, "Operation not permitted"))
        return super().listdir(rel, *default)


def tree(tmp_path, pids):
    for pid in pids:
        d = tmp_path / DEBUGFS / f"{pid}-12"
        d.mkdir(parents=True)
        for s in EXIT_STATS:
            (d / s).write_text(f"{pid}\n")
        (d / "remote_tlb_flush").write_text("1\n")
        task = tmp_path / f"proc/{pid}/task/{pid + 1}"
        task.mkdir(parents=True)
        (task / "comm").write_text("CPU 0/KVM\n")


def test_debugfs_is_listed_once_across_ticks_for_every_guest(tmp_path):
    pids = range(1000, 1050)
    tree(tmp_path, pids)
    fs = CountingFS(str(tmp_path))
    kp = KernelPerf(fs)
    for _ in range(5):
        for pid in pids:
            e = kp.kvm_exits(pid)
            assert e is not None and e["exits"] == pid and "remote_tlb_flush" not in e
    assert fs.listed == 1
    # the guest goes: the collector forgets it, its fds are closed; a new VM of that pid is found again
    def under_tree() -> int:   # the fds open on the tree (not every fd: other tests' threads open and close theirs)
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                n += os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path))
            except OSError:
                pass
        return n
    fds = under_tree()
    assert fds == 50 * len(EXIT_STATS)
    kp.forget(1000)
    assert under_tree() == fds - len(EXIT_STATS)
    shutil.rmtree(tmp_path / DEBUGFS / "1000-12")
    assert kp.kvm_exits(1000) is None and fs.listed == 2
    kp.forget(None)
    assert under_tree() == 0


class FakeGroup:
    def read(self):
        return (1, 1, 1, 1, 1)

    def close(self):
        pass


class NoPerfOpen(KernelPerf):
    def open(self, tid, names, inherit=False):
        if names[0] != "task_clock_ns":
            raise OSError(errno.ENOENT, "no PMU")
        return FakeGroup()


def test_debugfs_access_denied_is_a_note_never_an_error(tmp_path):
    tree(tmp_path, [2000])
    fs = CountingFS(str(tmp_path), deny=True)
    pc = PerfCollector(fs, backend=NoPerfOpen(fs))
    pc.enable(True)
    g = Guest(name="g", uuid="u", id=1, state="running", pid=2000, memory_kib=1,
              vcpus=(Vcpu(0, 2001, None, (), False),))
    errors: list = []
    for i in range(3):
        p = pc.annotate([g], float(i), errors)[0].perf
    assert errors == []
    assert p.accel == "kvm" and p.exits is None
    assert p.exits_note.startswith("KVM exit counters not readable: ")


def test_demo_simulator_forgets_every_thread_once_perf_is_off():
    from kvmtune.demo import DemoFeed, open_demo
    feed = DemoFeed(open_demo())
    try:
        feed.collector.perf.enable(True)
        feed.next()
        feed.next()
        assert feed.sim.perf._counts and feed.sim.perf._exits
        feed.collector.perf.enable(False)
        feed.next()
        assert feed.collector.perf.open_threads == 0
        assert feed.sim.perf._counts == {} and feed.sim.perf._exits == {}   # nothing advanced each tick
    finally:
        feed.close()
