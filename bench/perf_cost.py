"""What perf counting costs: kvmtune's perf_event_open reads against `perf stat` subprocesses
(prints figures, never asserts).

  read          one read() of a thread's group (5 software counters, PERF_FORMAT_GROUP)
  tick          kvmtune's perf step for every lab guest (PerfCollector.annotate: a read
                per QEMU thread), CPU time per tick and per vCPU thread
  perf stat     a long-running `perf stat -x, -I MS --per-thread -p PID` per lab guest:
                its own CPU per tick plus kvmtune parsing its lines, per vCPU thread;
                and a plain `perf stat -p PID` over the same interval, for scale
  start-up      opening the counters of 10 guests (10 processes of 6 threads, as a lab QEMU)
                against starting 10 perf stat processes (until their first line)
  changes       what each way does when a guest adds a thread (a vCPU) and when it stops
  demo scale    a Collector tick on the demo host with N guests, with and without --perf
Needs root and the lab (`make lab-up`) for the kernel figures; the demo part runs anywhere.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kvmtune.collect import Collector, perfevents, perfparse
from kvmtune.collect.perf import PerfCollector
from kvmtune.hostfs import HostFS
from kvmtune.model import Guest, Vcpu

URI = "qemu:///system"
EVENTS = "task-clock,context-switches,cpu-migrations,page-faults,major-faults"
INTERVAL_MS = 1000
TICKS = 8


def cpu_s(pid: int) -> float:
    """CPU time of a process's threads, in seconds (schedstat: ns, not clock ticks)."""
    return sum(int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
               for t in os.listdir(f"/proc/{pid}/task")) / 1e9


def lab_guests() -> list[Guest]:
    from kvmtune.source import open_live
    src = open_live(URI)
    try:
        snap = Collector(src).collect()
    finally:
        src.close()
    return [g for g in snap.guests if g.running and g.pid]


def bench_reads(guests: list[Guest]) -> None:
    tid = next(v.tid for g in guests for v in g.vcpus if v.tid)
    grp = perfevents.Group(tid, perfevents.SOFTWARE)
    n = 20000
    t0 = time.thread_time()
    for _ in range(n):
        grp.read()
    print(f"read        one group read: {(time.thread_time() - t0) / n * 1e6:6.1f} µs CPU")
    grp.close()


def bench_tick(guests: list[Guest]) -> float:
    pc = PerfCollector(HostFS("/"))
    pc.enable(True)
    pc.annotate(guests, 0.0, [])       # opens
    vcpus = sum(len(g.vcpus) for g in guests)
    costs = []
    for i in range(TICKS * 50):
        t0 = time.thread_time()
        pc.annotate(guests, float(i), [])
        costs.append(time.thread_time() - t0)
    threads = pc.open_threads
    pc.close()
    per = statistics.median(costs)
    print(f"tick        kvmtune, {len(guests)} guests, {threads} threads, {vcpus} vCPU threads: "
          f"{per * 1e6:7.1f} µs CPU per tick = {per / vcpus * 1e6:5.1f} µs per vCPU thread "
          f"(goal ≤ 30), {per / threads * 1e6:4.1f} µs per thread read")
    return per / vcpus


def perf_stat(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def bench_perf_stat(guests: list[Guest]) -> None:
    vcpus = sum(len(g.vcpus) for g in guests)
    procs = [perf_stat(["perf", "stat", "-x,", "-I", str(INTERVAL_MS), "--per-thread", "-p", str(g.pid),
                        "-e", EVENTS]) for g in guests]
    plain = [perf_stat(["perf", "stat", "-x,", "-I", str(INTERVAL_MS), "-p", str(g.pid), "-e", EVENTS])
             for g in guests]
    time.sleep(1.5)
    c0 = [cpu_s(p.pid) for p in procs]
    q0 = [cpu_s(p.pid) for p in plain]
    window = TICKS * INTERVAL_MS / 1000
    time.sleep(window)
    ticks = window * 1000 / INTERVAL_MS
    own = sum(cpu_s(p.pid) - c for p, c in zip(procs, c0, strict=True)) / ticks
    own_plain = sum(cpu_s(p.pid) - c for p, c in zip(plain, q0, strict=True)) / ticks
    for p in procs + plain:
        p.send_signal(2)
    out = [p.communicate(timeout=10)[1] for p in procs]
    for p in plain:
        p.communicate(timeout=10)
    t0 = time.thread_time()
    for o in out:
        perfparse.stat_csv(o, interval=True, per_thread=True)
    parse_tick = (time.thread_time() - t0) / (ticks + 1.5)
    print(f"perf stat   --per-thread -p, one per guest: {own * 1e6:7.1f} µs CPU per tick in perf "
          f"+ {parse_tick * 1e6:6.1f} µs parsing = {(own + parse_tick) / vcpus * 1e6:6.1f} µs per vCPU thread")
    print(f"perf stat   -p PID (no per-thread), same interval: {own_plain * 1e6:7.1f} µs CPU per tick "
          f"= {own_plain / vcpus * 1e6:6.1f} µs per vCPU thread")


CHILD = """
import sys, threading, time
ev = threading.Event()
for _ in range(5):
    threading.Thread(target=ev.wait, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "thread":
        threading.Thread(target=lambda: [sum(range(1000)) for _ in range(100000)], daemon=True).start()
        print("added", flush=True)
"""


def children(n: int) -> list[subprocess.Popen[str]]:
    kids = [subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True) for _ in range(n)]
    for k in kids:
        assert k.stdout is not None and k.stdout.readline().strip() == "ready"
    return kids


def fake_guest(i: int, pid: int) -> Guest:
    tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    return Guest(name=f"g{i}", uuid=str(i), id=i, state="running", pid=pid, memory_kib=1,
                 vcpus=tuple(Vcpu(j, t, None, (), False) for j, t in enumerate(tids[1:3])))


def bench_startup() -> None:
    kids = children(10)
    try:
        guests = [fake_guest(i, k.pid) for i, k in enumerate(kids)]
        pc = PerfCollector(HostFS("/"))
        pc.enable(True)
        t0 = time.perf_counter()
        pc.annotate(guests, 0.0, [])
        took = time.perf_counter() - t0
        print(f"start-up    kvmtune, 10 guests ({pc.open_threads} threads): {took * 1e3:6.1f} ms (goal ≤ 200)")
        pc.close()
        t0 = time.perf_counter()
        procs = [subprocess.Popen(["perf", "stat", "-x,", "-I", "100", "--per-thread", "-p", str(k.pid),
                                   "-e", EVENTS], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for k in kids]
        for p in procs:
            assert p.stderr is not None
            p.stderr.readline()
        took = time.perf_counter() - t0 - 0.1
        print(f"start-up    perf stat, 10 processes: {took * 1e3:6.1f} ms until each printed "
              f"(less its 100 ms interval)")
        for p in procs:
            p.send_signal(2)
            p.communicate(timeout=10)
        bench_changes(kids[0])
    finally:
        for k in kids:
            k.kill()
            k.wait()


def bench_changes(kid: subprocess.Popen[str]) -> None:
    assert kid.stdin is not None and kid.stdout is not None
    pc = PerfCollector(HostFS("/"), rescan_every=0.0)
    pc.enable(True)
    pc.annotate([fake_guest(0, kid.pid)], 0.0, [])
    before = pc.open_threads
    p = subprocess.Popen(["perf", "stat", "-x,", "-I", "200", "--per-thread", "-p", str(kid.pid), "-e",
                          "task-clock"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    kid.stdin.write("thread\n")
    kid.stdin.flush()
    kid.stdout.readline()
    time.sleep(0.6)
    pc.annotate([fake_guest(0, kid.pid)], 1.0, [])
    p.send_signal(2)
    err = p.communicate(timeout=10)[1]
    rows = perfparse.stat_csv(err, interval=True, per_thread=True)
    last = max(r.time or 0 for r in rows)
    seen = {r.tid for r in rows if r.time == last}
    new = max(int(t) for t in os.listdir(f"/proc/{kid.pid}/task"))
    print(f"changes     a new thread: kvmtune counts it in the guest total through its creator's inherited "
          f"counters ({before} -> {pc.open_threads} threads open); perf stat -p counts it too (inherit), and its "
          f"--per-thread output {'has a row for it' if new in seen else 'has no row for it (its creator has it)'}")
    kid.kill()
    kid.wait()
    p = subprocess.Popen(["perf", "stat", "-x,", "-p", str(os.getpid()), "-e", "task-clock"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pc.annotate([], 2.0, [])
    print(f"changes     the guest stops: kvmtune closes its counters at the next tick ({pc.open_threads} open); "
          f"a perf stat per guest exits with it and must be restarted for the next run")
    p.kill()
    p.wait()
    pc.close()


def bench_demo(n: int = 500) -> None:
    from kvmtune.demo import DemoFeed, open_demo
    for perf in (False, True):
        feed = DemoFeed(open_demo(guests=n))
        feed.collector.perf.enable(perf)
        feed.next()
        feed.next()
        pc, sim = feed.collector.perf, feed.sim
        spent = {"annotate": 0.0, "sim": 0.0}

        def timed(fn, key, spent=spent):
            def run(*a, **kw):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    spent[key] += time.perf_counter() - t0
            return run
        pc.annotate = timed(pc.annotate, "annotate")          # type: ignore[method-assign]
        sim.perf.advance = timed(sim.perf.advance, "sim")     # type: ignore[method-assign]
        t0 = time.perf_counter()
        for _ in range(3):
            snap = feed.next()
        took = (time.perf_counter() - t0) / 3
        vcpus = sum(len(g.vcpus) for g in snap.guests if g.perf is not None)
        feed.close()
        extra = (f"; kvmtune's perf step {spent['annotate'] / 3 * 1e3:6.1f} ms = "
                 f"{spent['annotate'] / 3 / max(1, vcpus) * 1e6:5.1f} µs per vCPU thread ({vcpus}), "
                 f"the simulator's counters {spent['sim'] / 3 * 1e3:6.1f} ms" if perf else "")
        print(f"demo scale  {n} guests, a whole demo tick {'with' if perf else 'without'} --perf: "
              f"{took * 1e3:7.1f} ms{extra}")


def bench_exits(n: int = 500) -> None:
    """KVM's exit counters from a fake debugfs tree of `n` VMs (this machine runs TCG: no real one)."""
    import tempfile

    from kvmtune.collect.perf import DEBUGFS, EXIT_STATS, KernelPerf
    with tempfile.TemporaryDirectory() as root:
        for pid in range(1000, 1000 + n):
            d = f"{root}/{DEBUGFS}/{pid}-12"
            os.makedirs(d)
            for s in EXIT_STATS + ("remote_tlb_flush", "mmu_cache_miss", "blocking", "guest_mode"):
                with open(f"{d}/{s}", "w") as f:
                    f.write("123456\n")
        kp = KernelPerf(HostFS(root))
        for pid in range(1000, 1000 + n):
            kp.kvm_exits(pid)     # the first tick finds the directories
        t0 = time.thread_time()
        for _ in range(5):
            for pid in range(1000, 1000 + n):
                kp.kvm_exits(pid)
        per = (time.thread_time() - t0) / 5
        print(f"kvm exits   fake debugfs, {n} VMs: {per * 1e3:6.1f} ms CPU per tick = "
              f"{per / n * 1e6:5.1f} µs per guest ({len(EXIT_STATS)} files each)")
        kp.forget(None)


def main() -> int:
    bench_demo()
    bench_exits()
    if os.geteuid() != 0:
        print("kernel figures skipped: not root (perf_event_paranoid needs root here)")
        return 0
    try:
        guests = lab_guests()
    except Exception as e:   # no libvirt, no lab: say so
        print(f"lab figures skipped: {e}")
        guests = []
    if guests:
        bench_reads(guests)
        bench_tick(guests)
        bench_perf_stat(guests)
    else:
        print("lab figures skipped: no running lab guest (make lab-up)")
    bench_startup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
