"""perf counters: the model and its JSON, the rates, a recording's round trip, the demo's
simulated counters, and the collector on real threads through perf_event_open."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from kvmtune.collect import perfevents
from kvmtune.collect.perf import TCG_NOTE, PerfCollector
from kvmtune.demo import DemoFeed, open_demo
from kvmtune.frame import Framer
from kvmtune.hostfs import HostFS
from kvmtune.model import Guest, Snapshot, Vcpu
from kvmtune.perfmodel import GuestPerf, PerfCounters
from kvmtune.rates import perf_rate
from kvmtune.record.store import Recording
from kvmtune.record.writer import Recorder


@pytest.fixture
def demo():
    feed = DemoFeed(open_demo())
    feed.collector.perf.enable(True)
    yield feed
    feed.close()


def frames(feed, n):
    fr = Framer()
    return [fr.push(feed.next()) for _ in range(n)]


def test_perf_off_leaves_guests_without_perf_and_json_null():
    feed = DemoFeed(open_demo())
    try:
        snap = feed.next()
        assert all(g.perf is None for g in snap.guests)
        assert all(g["perf"] is None for g in snap.to_json()["guests"])
        assert feed.collector.perf.open_threads == 0
    finally:
        feed.close()


def test_demo_counts_every_thread_and_the_json_round_trips(demo):
    snap = frames(demo, 2)[-1].snap
    g = next(g for g in snap.guests if g.running)
    assert g.perf is not None and g.perf.accel == "kvm" and g.perf.hardware is None
    assert set(g.perf.vcpus) == {v.index for v in g.vcpus}
    assert g.perf.total.task_clock_ns >= sum(c.task_clock_ns for c in g.perf.vcpus.values()) > 0
    assert g.perf.exits and g.perf.exits["exits"] > 0
    again = Snapshot.loads(snap.dumps())
    assert again == snap and again.guest(g.name).perf == g.perf


def test_demo_rates_ipc_and_exits(demo):
    f = frames(demo, 3)[-1]
    g = next(g for g in f.snap.guests if g.running)
    r = f.rates[g.name].perf
    assert r is not None and r.total is not None
    c = r.vcpus[0]
    assert 0 < c.task_clock_percent <= 100 and c.get("context_switches") > 0
    assert 0.5 < c.ipc < 2.0
    assert r.exits["exits"] > 0 and r.exits["halt_exits"] >= 0


def test_demo_pinned_vcpu_stops_migrating(demo):
    fs = frames(demo, 2)
    g = next(g for g in fs[-1].snap.guests if g.running and len(g.vcpus) >= 2)
    assert fs[-1].rates[g.name].perf.vcpus[0].get("cpu_migrations") > 1   # unpinned: it moves
    demo.source.hv.pin_vcpu(g.name, 0, (5,))
    demo.reread({g.name})
    f = frames(demo, 3)[-1]
    r = f.rates[g.name].perf
    assert f.snap.guest(g.name).vcpus[0].pinned
    assert r.vcpus[0].get("cpu_migrations") == 0
    assert r.vcpus[1].get("cpu_migrations") > 1


def test_rates_start_afresh_when_the_counters_were_reopened():
    a = GuestPerf(since=10.0, vcpus={0: PerfCounters(task_clock_ns=1_000_000_000, cpu_migrations=5)})
    b = replace(a, vcpus={0: PerfCounters(task_clock_ns=1_500_000_000, cpu_migrations=9)})
    r = perf_rate(a, b, 2.0)
    assert r.vcpus[0].task_clock_percent == pytest.approx(25.0) and r.vcpus[0].get("cpu_migrations") == 2
    assert r.vcpus[0].ipc is None and r.vcpus[0].get("cycles") is None   # not counted: None, never 0
    reopened = replace(b, since=11.0)
    assert perf_rate(a, reopened, 2.0).vcpus[0].task_clock_percent is None
    assert perf_rate(None, None, 2.0) is None


def test_a_recording_replays_the_perf_counters_and_their_rates(demo, tmp_path):
    snaps = [demo.next() for _ in range(5)]
    rec = Recorder(tmp_path / "perf.kvmrec", source="demo", interval=2.0)
    for s in snaps:
        rec.add(s)
    rec.close()
    back = Recording(tmp_path / "perf.kvmrec")
    got = [back.snapshot(i) for i in range(len(snaps))]
    assert [s.to_json() for s in got] == [s.to_json() for s in snaps]
    name = next(g.name for g in snaps[0].guests if g.running)
    assert got[3].guest(name).perf == snaps[3].guest(name).perf
    live, replayed = Framer(), Framer()
    for s, r in zip(snaps, got, strict=True):
        a, b = live.push(s), replayed.push(r)
    assert b.rates[name].perf == a.rates[name].perf and a.rates[name].perf.vcpus[0].task_clock_percent


# -- the kernel: perf_event_open on real threads ------------------------------------------

CHILD = """
import sys, threading, time
def spin(stop):
    while not stop.is_set():
        sum(range(2000))
stops = [threading.Event() for _ in range(2)]
for s in stops:
    threading.Thread(target=spin, args=(s,), daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "stop1":
        stops[1].set()
"""


@pytest.fixture
def child():
    p = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    yield p
    p.kill()
    p.wait()


def threads_of(pid):
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


def guest_of(pid, tids):
    return Guest(name="g", uuid="u", id=1, state="running", pid=pid, memory_kib=1,
                 vcpus=tuple(Vcpu(i, t, None, (), False) for i, t in enumerate(tids)))


def perf_fds() -> set[int]:
    """This process's perf event fds: not every fd, which other tests' threads and the
    garbage collector open and close meanwhile in a long test run."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[perf_event]":
                out.add(int(fd))
        except OSError:
            pass
    return out


def test_kernel_counters_on_real_threads_and_close_releases_every_fd(child):
    fs = HostFS("/")
    tids = threads_of(child.pid)[1:]          # the two spinning threads are "vCPUs"
    before = perf_fds()
    pc = PerfCollector(fs, rescan_every=0.0)
    pc.enable(True)
    errors: list = []
    (g1,) = pc.annotate([guest_of(child.pid, tids)], 1.0, errors)
    if g1.perf.unavailable:   # not root here: the pane's reason, never a traceback
        assert os.geteuid() != 0 and "needs root" in g1.perf.unavailable
        return
    time.sleep(0.3)
    (g2,) = pc.annotate([guest_of(child.pid, tids)], 2.0, errors)
    assert not errors
    p = g2.perf
    assert p.accel is None and "cannot tell" in p.exits_note     # python threads are no CPU N/KVM
    assert all(p.vcpus[i].task_clock_ns > 50_000_000 for i in range(2))
    assert p.total.task_clock_ns >= sum(c.task_clock_ns for c in p.vcpus.values())
    if p.hardware:   # a host without a PMU says so and leaves the counters None, never 0
        assert p.hardware == "not available on this host (no PMU)" and p.vcpus[0].cycles is None
    else:
        assert p.vcpus[0].cycles > 0 and p.vcpus[0].instructions > 0
    assert pc.open_threads == len(threads_of(child.pid)) and perf_fds() - before
    # the guest goes: its counters are closed
    assert pc.annotate([], 3.0, errors) == ()
    assert pc.open_threads == 0 and not perf_fds() - before
    pc.annotate([guest_of(child.pid, tids)], 4.0, errors)
    pc.close()
    assert not perf_fds() - before


def test_kernel_total_never_goes_back_when_a_thread_exits(child):
    pc = PerfCollector(HostFS("/"), rescan_every=0.0)
    pc.enable(True)
    tids = threads_of(child.pid)
    g = guest_of(child.pid, tids[1:2])
    first = pc.annotate([g], 1.0, [])[0].perf
    if first.unavailable:
        pytest.skip(first.unavailable)
    time.sleep(0.2)
    mid = pc.annotate([g], 2.0, [])[0].perf.total.task_clock_ns
    child.stdin.write("stop1\n")
    child.stdin.flush()
    deadline = time.monotonic() + 5
    while len(threads_of(child.pid)) == len(tids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(threads_of(child.pid)) == len(tids) - 1
    after = pc.annotate([g], 3.0, [])[0].perf
    assert after.total.task_clock_ns >= mid and pc.open_threads == len(tids) - 1
    pc.close()


def test_turning_perf_off_closes_at_the_next_tick(child):
    pc = PerfCollector(HostFS("/"))
    pc.enable(True)
    g = guest_of(child.pid, threads_of(child.pid)[1:])
    if pc.annotate([g], 1.0, [])[0].perf.unavailable:
        pytest.skip("perf not permitted here")
    assert pc.open_threads > 0
    pc.enable(False)
    (out,) = pc.annotate([g], 2.0, [])
    assert out.perf is None and pc.open_threads == 0


def test_why_says_how_to_enable_it():
    import errno
    fs = HostFS("/")
    as_root = perfevents.why(OSError(errno.EACCES, "x"), fs)   # (root here: the kernel refused root)
    assert "perf_event_paranoid=0" not in as_root and "root" in as_root
    assert perfevents.why(OSError(errno.ENOENT, "x")) == "not available on this host (no PMU)"


def test_tcg_guest_says_there_are_no_exits():
    assert "TCG" in TCG_NOTE and TCG_NOTE.startswith("no KVM exits")


def test_counters_fields_are_software_then_hardware_in_order():
    from dataclasses import fields

    from kvmtune.perfmodel import HARDWARE, SOFTWARE
    assert tuple(f.name for f in fields(PerfCounters)) == SOFTWARE + HARDWARE
    assert tuple(e.name for e in perfevents.SOFTWARE + perfevents.HARDWARE) == SOFTWARE + HARDWARE


def test_demo_exit_rates_from_the_second_snapshot(demo):
    """KVM's counters exist, at 0, from a VM's start: the first sample has every reason, so the
    second one has their rates (the demo's first sample had none: a tick of '-/s')."""
    first, second = frames(demo, 2)
    g = next(g for g in first.snap.guests if g.running)
    assert set(g.perf.exits) >= {"exits", "halt_exits", "io_exits", "mmio_exits"}
    assert second.rates[g.name].perf.exits["exits"] > 0


NOBODY = """
import os, sys, threading
from kvmtune.collect import perfevents   # (now: nobody cannot read these files later)
from kvmtune.collect.perf import PerfCollector
from kvmtune.hostfs import HostFS
from kvmtune.model import Guest, Vcpu
os.setgid(65534); os.setuid(65534)   # (after the imports: nobody cannot read this python's files)
pc = PerfCollector(HostFS("/"))
pc.enable(True)
qemu = os.getppid()   # root's process, as QEMU is root's or libvirt-qemu's
g = Guest(name="g", uuid="u", id=1, state="running", pid=qemu, memory_kib=1,
          vcpus=(Vcpu(0, qemu, None, (), False),))
print(pc.annotate([g], 1.0, [])[0].perf.unavailable)
print(pc.open_threads)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_not_root_says_why_and_how_to_enable_it():
    """As another user than QEMU's (at any perf_event_paranoid: the kernel wants ptrace rights
    too) the guest's perf says why and how, and nothing is held."""
    p = subprocess.run([sys.executable, "-c", NOBODY], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(perfevents.__file__).rsplit("/kvmtune/", 1)[0]})
    assert p.returncode == 0, p.stderr
    why, fds = p.stdout.splitlines()
    assert why == ("perf counters need root (or CAP_PERFMON and CAP_SYS_PTRACE): kvmtune runs as uid 65534 "
                   "and may not count QEMU's threads (run kvmtune as root)")
    assert "paranoid" not in why
    assert fds == "0"


def test_a_cpu_without_some_hardware_events_counts_the_others():
    """A PMU without node-loads events (a mock of that CPU on the demo: none here to provoke it):
    the other hardware counters are counted, the missing ones are None and named."""
    import errno

    from kvmtune.demo.perfsim import SimPerf
    from kvmtune.ui.perfpane import perf_pane

    class NoNodeEvents(SimPerf):
        def open(self, tid, names, inherit=False):
            if any(n.startswith("node_") for n in names):
                raise OSError(errno.ENOENT, "no such event")
            return super().open(tid, names, inherit)

    src = open_demo()
    src.sim.perf = src.perf_backend = NoNodeEvents(src.sim.guests, src.sim.lock)
    feed = DemoFeed(src)
    feed.collector.perf.enable(True)
    try:
        f = frames(feed, 2)[-1]
        g = next(g for g in f.snap.guests if g.running)
        p = g.perf
        assert p.hardware == "not counted by this CPU: node_loads, node_load_misses"
        assert p.vcpus[0].cycles > 0 and p.vcpus[0].llc_loads > 0 and p.vcpus[0].node_loads is None
        assert f.rates[g.name].perf.vcpus[0].ipc > 0
        text = perf_pane(f, g)
        assert "not counted by this CPU" in text and "LLC loads/s" in text
    finally:
        feed.close()


FD_LIMIT = """
import resource, threading
from kvmtune.collect.perf import KernelPerf
from kvmtune.hostfs import HostFS
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
try:
    KernelPerf(HostFS("/")).open(threading.get_native_id(), ("task_clock_ns",)).close()
except OSError as e:
    print("no perf", e)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard)
"""


def test_turning_perf_on_raises_the_open_files_limit():
    """Five fds per thread: 1024 would be a few dozen guests. The first open takes the hard limit."""
    p = subprocess.run([sys.executable, "-c", FD_LIMIT], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "True", p.stdout


@pytest.mark.parametrize("bad", [1, "x", {}, {"since": "a"}, {"since": 1, "vcpus": {"a": {}}},
                                 {"since": 1, "vcpus": {"0": {"task_clock_ns": "x"}}}, {"since": 1, "total": 5},
                                 {"since": 1, "exits": []}, {"since": 1, "exits": {"a": None}},
                                 {"since": 1, "vcpus": {"0": {"task_clock_ns": [1]}}}, {"since": None}])
def test_a_broken_perf_key_is_a_value_error(demo, bad):
    """Snapshot.from_json's promise (ValueError for any JSON, nothing else) holds for "perf" too."""
    doc = demo.next().to_json()
    doc["guests"][0]["perf"] = bad
    with pytest.raises(ValueError):
        Snapshot.from_json(doc)
