"""psutil against kvmtune's own procfs readers, figure by figure (prints, never asserts).

For each figure kvmtune reads from /proc by hand, times psutil's way and kvmtune's way
(HostFS + kvmtune.parse) in this process on the real /proc, and prints microseconds per
call (median of many timed calls after a warm-up, the two readers interleaved), the files
each opens or lists per call, and the ratio against psutil as the baseline:

  1  per-CPU busy/total      psutil.cpu_times(percpu=True)  vs  proc/stat + parse.proc_stat_cpus
  2  load average, uptime    os.getloadavg (= psutil.getloadavg), psutil.boot_time()
                             vs  proc/loadavg, proc/uptime through HostFS
  3  per-thread CPU, time,   Process(pid).threads() + Process(tid).cpu_num()/name()
     comm of a QEMU-like     vs  collect.process.vcpu_threads (task/ listdir, comm once, stat)
     process                 on a Python child with 8 threads named "CPU N/KVM", and on the
                             first qemu-system-x86_64 process found (if any)
  4  RssAnon + HugetlbPages  Process(pid).memory_full_info()  vs  parse.status(proc/PID/status)

Then: which psutil readers follow psutil.PROCFS_PATH to another root (as `--root DIR`
needs), on a psutil-shaped tree and on a tree shaped like kvmtune's captures
(tests/fixtures/make_tree.py), and what a relocated call costs; and the PROCFS_PATH race:
thread A reads a fake tree (proc/stat with impossible CPU lines) through PROCFS_PATH while
thread B reads the real /proc through psutil, counting the calls that got the other
thread's data: A back to back, A once per millisecond, A under a lock B does not take,
and both under one lock.

Needs psutil (`.venv/bin/pip install psutil`; without it, one line and exit 0). No root
needed: readers the kernel refuses (smaps_rollup of another user's process) say so.

    .venv/bin/python bench/procfs_readers.py [--calls 2000] [--race 20000] [--qemu-pid PID]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

try:
    import psutil
except ImportError:
    print("bench/procfs_readers.py: psutil is not installed; run `.venv/bin/pip install psutil` first")
    sys.exit(0)

from kvmtune import parse
from kvmtune.collect.process import vcpu_threads
from kvmtune.hostfs import HostFS
from kvmtune.vocab import CLK_TCK

MAGIC = 4_200_000_000     # user ticks of every cpuN line in the fake tree: no real host has it
FAKE_BTIME = 1_000_000_000
FAKE_LOADAVG = "9.99 8.88 7.77 1/100 4242\n"
FAKE_UPTIME = "4242.42 1234.56\n"
FAKE_CPU = 99             # task stat field 39 in the fake tree
FAKE_ANON_KIB = 424242

CHILD = r"""
import os, sys, threading, time
def vcpu(i):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(f"CPU {i}/KVM")            # QEMU's vCPU thread names (debug-threads=on)
    n = 0
    while True:
        for _ in range(200):
            n += 1
        time.sleep(0.005)
for i in range(8):
    threading.Thread(target=vcpu, args=(i,), daemon=True).start()
time.sleep(0.2)
print("ready", flush=True)
sys.stdin.read()                           # exits when the bench closes its stdin
"""


# -- timing and counting ---------------------------------------------------------------------

def _per_call_us(fns: list[Callable[[], Any]], calls: int, rounds: int = 5) -> list[float]:
    """Median µs per call of each fn; warmed up, then timed call by call in interleaved rounds."""
    pc = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in fns]
    for fn in fns:
        for _ in range(max(20, calls // 20)):
            fn()
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        for fn, s in zip(fns, samples):
            for _ in range(per_round):
                t = pc()
                fn()
                s.append(pc() - t)
    return [statistics.median(s) / 1000 for s in samples]


_count: dict[str, int] | None = None


def _audit(event: str, args: tuple) -> None:
    if _count is not None and event in ("open", "os.listdir", "os.scandir"):
        _count[event] = _count.get(event, 0) + 1


def files_per_call(fn: Callable[[], Any]) -> str:
    """Files opened + directories listed by Python code in one call ("1+1" = 1 open, 1 listdir)."""
    global _count
    _count = {}
    try:
        fn()
    except Exception:
        pass
    finally:
        c, _count = _count, None
    opens, lists = c.get("open", 0), c.get("os.listdir", 0) + c.get("os.scandir", 0)
    return f"{opens}+{lists}" if lists else f"{opens}"


def attempt(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return fn(), None
    except psutil.Error as e:
        return None, f"{type(e).__name__} (pid {getattr(e, 'pid', '?')})"
    except (OSError, ValueError) as e:
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:60]}"


# -- the readers -----------------------------------------------------------------------------

def ps_cpus() -> list[tuple[float, float]]:
    out = []
    for t in psutil.cpu_times(percpu=True):
        total = t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal
        out.append((total - t.idle - t.iowait, total))
    return out


def own_cpus(fs: HostFS) -> dict[int, tuple[float, float]]:
    return {c: (t.busy / CLK_TCK, t.total / CLK_TCK)
            for c, t in parse.proc_stat_cpus(fs.read_text("proc/stat")).items()}


def own_loadavg(fs: HostFS) -> tuple[float, float, float]:
    a, b, c = fs.read_text("proc/loadavg").split()[:3]
    return float(a), float(b), float(c)


def ps_uptime() -> float:
    return time.time() - psutil.boot_time()


def own_uptime(fs: HostFS) -> float:
    return float(fs.read_text("proc/uptime").split()[0])


def ps_threads_cpu_num(pid: int) -> dict[int, tuple[int, float]]:
    """What the brief names: threads() + Process(tid).cpu_num(). No comm."""
    return {t.id: (psutil.Process(t.id).cpu_num(), t.user_time + t.system_time)
            for t in psutil.Process(pid).threads()}


def ps_threads_full(pid: int) -> dict[int, tuple[str, int, float]]:
    """The same figure as vcpu_threads, fresh objects: threads() + per thread name() and cpu_num()."""
    out = {}
    for t in psutil.Process(pid).threads():
        p = psutil.Process(t.id)
        with p.oneshot():
            out[t.id] = (p.name(), p.cpu_num(), t.user_time + t.system_time)
    return out


class PsThreadsCached:
    """psutil at its cheapest per tick: Process objects and thread names kept across calls."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.procs: dict[int, psutil.Process] = {}
        self.names: dict[int, str] = {}

    def __call__(self) -> dict[int, tuple[int, float]]:
        out = {}
        for t in self.proc.threads():
            if t.id not in self.procs:
                self.procs[t.id] = p = psutil.Process(t.id)
                self.names[t.id] = p.name()
            if self.names[t.id].startswith("CPU "):
                out[t.id] = (self.procs[t.id].cpu_num(), t.user_time + t.system_time)
        return out


def own_mem(fs: HostFS, pid: int) -> int:
    st = parse.status(fs.read_text(f"proc/{pid}/status"))
    return st["RssAnon"] + st.get("HugetlbPages", 0)


def find_qemu() -> list[int]:
    """pids whose comm is qemu-system-x86 (comm keeps 15 characters) and argv[0] qemu-system-x86_64."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/comm") as f:
                if f.read().strip() != "qemu-system-x86":
                    continue
            with open(f"/proc/{e}/cmdline", "rb") as f:
                if os.path.basename(f.read().split(b"\0")[0]) == b"qemu-system-x86_64":
                    out.append(int(e))
        except OSError:
            continue
    return sorted(out)


# -- trees under another root ------------------------------------------------------------------

def _slurp(path: str) -> str:
    with open(path) as f:
        return f.read()


def _fake_stat_text() -> str:
    lines = []
    for line in _slurp("/proc/stat").splitlines():
        parts = line.split()
        if parts and parts[0].startswith("cpu") and parts[0] != "cpu":
            n = int(parts[0][3:])
            parts = [parts[0], str(MAGIC + n)] + ["0"] * (len(parts) - 2)
        elif parts and parts[0] == "btime":
            parts = ["btime", str(FAKE_BTIME)]
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def _fake_task_stat(real: str) -> str:
    close = real.rfind(")")
    rest = real[close + 1:].split()
    rest[11], rest[12], rest[36] = "424242", "0", str(FAKE_CPU)
    return real[:close + 1] + " " + " ".join(rest) + "\n"


def make_trees(base: str, pid: int) -> tuple[str, str]:
    """Two captured trees of this host + the child `pid`, with recognisable values.

    kvmtune-shaped: what kvmtune reads (proc/stat, loadavg, uptime, proc/PID/status and
    task/TID/{comm,stat}), as tests/fixtures/make_tree.py writes. psutil-shaped: also
    what psutil opens: proc/PID/stat, proc/TID/stat for each thread, statm, smaps_rollup.
    """
    ktree, ptree = os.path.join(base, "kvmtune-shaped"), os.path.join(base, "psutil-shaped")
    status = "".join(f"RssAnon:\t{FAKE_ANON_KIB} kB\n" if line.startswith("RssAnon:") else line
                     for line in _slurp(f"/proc/{pid}/status").splitlines(keepends=True))
    files = {"proc/stat": _fake_stat_text(), "proc/loadavg": FAKE_LOADAVG,
             "proc/uptime": FAKE_UPTIME, f"proc/{pid}/status": status}
    tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
    task_stats = {}
    for tid in tids:
        d = f"/proc/{pid}/task/{tid}"
        files[f"proc/{pid}/task/{tid}/comm"] = _slurp(f"{d}/comm")
        files[f"proc/{pid}/task/{tid}/stat"] = task_stats[tid] = _fake_task_stat(_slurp(f"{d}/stat"))
    extra = {f"proc/{pid}/stat": task_stats[str(pid)],
             f"proc/{pid}/cmdline": _slurp(f"/proc/{pid}/cmdline"),
             f"proc/{pid}/statm": "100000 1000 500 10 0 2000 0\n",
             f"proc/{pid}/smaps_rollup": f"Rss: 4000 kB\nPss: 3000 kB\nPrivate_Clean: 0 kB\n"
                                         f"Private_Dirty: {FAKE_ANON_KIB} kB\nSwap: 0 kB\n"}
    extra.update({f"proc/{tid}/stat": s for tid, s in task_stats.items()})
    for root, fs in ((ktree, files), (ptree, {**files, **extra})):
        for rel, text in fs.items():
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
    return ktree, ptree


_lock = threading.Lock()


def relocated(root: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """fn with psutil.PROCFS_PATH at root/proc, under a lock (that only kvmtune would take)."""
    proc = os.path.join(root, "proc")

    def call() -> Any:
        with _lock:
            old = psutil.PROCFS_PATH
            psutil.PROCFS_PATH = proc
            try:
                return fn()
            finally:
                psutil.PROCFS_PATH = old
    return call


# -- the race ------------------------------------------------------------------------------------

def _is_fake(cpus: list) -> bool:
    return bool(cpus) and round(cpus[0].user * CLK_TCK) >= MAGIC


def race(tree: str, n: int, mode: str) -> dict[str, int]:
    """Thread A reads the fake tree through PROCFS_PATH (set, call, restore), thread B reads
    the real /proc through psutil, n times. mode: "none" (no lock, A back to back),
    "paced" (no lock, A once per millisecond, a collector's duty cycle), "A-locks" (A takes
    a lock B does not know of), "both-lock" (every psutil call in the process under one lock)."""
    fake = os.path.join(tree, "proc")
    lock = threading.Lock()
    res = {"A calls": 0, "A got real": 0, "B got fake": 0, "B Process() gone": 0, "A err": 0, "B err": 0}
    barrier = threading.Barrier(2)
    b_done = threading.Event()
    me = os.getpid()

    def a() -> None:
        barrier.wait()
        i = 0
        while (i < n) if mode != "paced" else not b_done.is_set():
            i += 1
            if mode in ("A-locks", "both-lock"):
                lock.acquire()
            old = psutil.PROCFS_PATH
            psutil.PROCFS_PATH = fake
            try:
                if not _is_fake(psutil.cpu_times(percpu=True)):
                    res["A got real"] += 1
            except Exception:
                res["A err"] += 1
            finally:
                psutil.PROCFS_PATH = old
                if mode in ("A-locks", "both-lock"):
                    lock.release()
            if mode == "paced":
                time.sleep(0.001)
        res["A calls"] = i

    def b() -> None:
        barrier.wait()
        for i in range(n):
            if mode == "both-lock":
                lock.acquire()
            try:
                if _is_fake(psutil.cpu_times(percpu=True)):
                    res["B got fake"] += 1
                if i % 4 == 0:       # a Process made in A's window keeps the fake root for life
                    try:
                        psutil.Process(me).cpu_num()
                    except psutil.NoSuchProcess:
                        res["B Process() gone"] += 1
            except Exception:
                res["B err"] += 1
            finally:
                if mode == "both-lock":
                    lock.release()
        b_done.set()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    res["ms"] = round((time.perf_counter() - t0) * 1000)
    return res


# -- main ------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000, help="timed calls per reader (default 2000)")
    ap.add_argument("--race", type=int, default=20000, help="iterations per thread in the race (default 20000)")
    ap.add_argument("--qemu-pid", type=int, help="the QEMU process for figures 3-4 (default: first found)")
    args = ap.parse_args()

    fs = HostFS("/")
    ncpu = len(ps_cpus())
    print(f"psutil {psutil.__version__}, Python {sys.version.split()[0]}, kernel {os.uname().release}, "
          f"{ncpu} CPUs, uid {os.getuid()}, CLK_TCK {CLK_TCK}")

    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    tmp = tempfile.mkdtemp(prefix="kvmtune-procfs-bench-")
    try:
        if child.stdout is None or child.stdout.readline().strip() != "ready":
            print("the threaded child did not start")
            return 0
        qemus = [args.qemu_pid] if args.qemu_pid else find_qemu()
        targets = [("py child", child.pid)] + ([("qemu", qemus[0])] if qemus else [])
        print(f"targets: Python child pid {child.pid} ({len(os.listdir(f'/proc/{child.pid}/task'))} threads, "
              f"8 named 'CPU N/KVM')" + (f"; qemu-system-x86_64 pid {qemus[0]} "
              f"({len(os.listdir(f'/proc/{qemus[0]}/task'))} threads; {len(qemus)} found)"
              if qemus else "; no qemu-system-x86_64 running"))
        return run(args, fs, targets, tmp, child.pid)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, fs: HostFS, targets: list[tuple[str, int]], tmp: str, child: int) -> int:
    calls = args.calls
    # (figure, psutil label, psutil fn, own label, own fn)
    pairs: list[tuple[str, str, Callable[[], Any], str, Callable[[], Any]]] = [
        ("1 per-CPU busy/total", "cpu_times(percpu=True)", ps_cpus,
         "proc/stat + proc_stat_cpus", lambda: own_cpus(fs)),
        ("2 load average", "os/psutil.getloadavg()", os.getloadavg,
         "proc/loadavg via HostFS", lambda: own_loadavg(fs)),
        ("2 uptime", "time() - boot_time()", ps_uptime, "proc/uptime via HostFS", lambda: own_uptime(fs)),
    ]
    for name, pid in targets:
        cached, names = PsThreadsCached(pid), {}   # type: ignore[var-annotated]
        pairs += [
            (f"3 threads, {name}", "threads()+cpu_num() [no comm]", lambda p=pid: ps_threads_cpu_num(p),
             "vcpu_threads, cold", lambda p=pid: vcpu_threads(fs, p)),
            (f"3 threads, {name}", "threads()+name()+cpu_num()", lambda p=pid: ps_threads_full(p),
             "vcpu_threads, cold", lambda p=pid: vcpu_threads(fs, p)),
            (f"3 threads, {name}", "same, Process objs cached", cached,
             "vcpu_threads, names cached", lambda p=pid, n=names: vcpu_threads(fs, p, n)),
        ]
    for name, pid in targets:
        pairs += [
            (f"4 memory, {name}", "memory_full_info()", lambda p=pid: psutil.Process(p).memory_full_info(),
             "status: RssAnon+Hugetlb", lambda p=pid: own_mem(fs, p)),
            (f"4 memory, {name}", "memory_info() [statm: rss only]", lambda p=pid: psutil.Process(p).memory_info(),
             "status: RssAnon+Hugetlb", lambda p=pid: own_mem(fs, p)),
        ]

    print(f"\n== cost on the real /proc: median µs per call of {calls} timed calls; psutil = 1.00")
    hdr = (f"{'figure':<22} {'psutil reader':<31} {'µs':>8} {'files':>5}   "
           f"{'kvmtune reader':<27} {'µs':>7} {'files':>5} {'own/psutil':>10} {'psutil/own':>10}")
    print(hdr)
    print("-" * len(hdr))
    timed = []
    for fig, pl, pf, ol, of in pairs:
        _, perr = attempt(pf)
        _, oerr = attempt(of)
        fns = [f for f, e in ((pf, perr), (of, oerr)) if e is None]
        us = iter(_per_call_us(fns, calls) if fns else [])
        pus = None if perr else next(us)
        ous = None if oerr else next(us)
        timed.append((fig, pl, pf, perr, pus, ol, of, oerr, ous))
    sys.addaudithook(_audit)   # after the timing: a hook costs every later open a call
    for fig, pl, pf, perr, pus, ol, of, oerr, ous in timed:
        ps = f"{pus:8.1f} {files_per_call(pf):>5}" if pus is not None else f"{perr.split()[0][:14]:>14}"
        own = f"{ous:7.1f} {files_per_call(of):>5}" if ous is not None else f"{oerr.split()[0][:13]:>13}"
        ratio = f"{ous / pus:10.2f} {pus / ous:9.1f}x" if pus and ous else f"{'-':>10} {'-':>10}"
        print(f"{fig:<22} {pl:<31} {ps}   {ol:<27} {own} {ratio}")
        for who, err in (("psutil", perr), ("kvmtune", oerr)):
            if err:
                print(f"{'':<22}   {who}: {err}" + (": smaps_rollup needs ptrace access to the process"
                                                    if "AccessDenied" in err else ""))
    libc = " ".join(platform.libc_ver()) or "libc"
    print(f"files = files opened (+ directories listed) by Python per call. os.getloadavg is libc's getloadavg(3)"
          f" (here {libc};\nwith glibc 2.36 strace shows one sysinfo(2) call): nothing under PROCFS_PATH, "
          "not counted, not relocatable.")

    print("\n== agreement (same figure from both)")
    ps, own = ps_cpus(), own_cpus(fs)
    d = max(abs(ps[i][1] - own[c][1]) for i, c in enumerate(sorted(own))) if len(ps) == len(own) else None
    print(f"1 per-CPU: psutil {len(ps)} CPUs (a list: position, not CPU id), kvmtune {len(own)} (keyed by id); "
          f"max |total| difference {d:.2f} s (reads moments apart)" if d is not None else "1 per-CPU: counts differ")
    print(f"2 psutil.getloadavg is os.getloadavg: {psutil.getloadavg is os.getloadavg}; "
          f"uptime psutil {ps_uptime():.2f} s vs proc/uptime {own_uptime(fs):.2f} s (boot_time is wall-clock based)")
    for name, pid in targets:
        full = ps_threads_full(pid)
        mine = vcpu_threads(fs, pid)
        ps_v = {tid: v for tid, v in full.items() if parse_vcpu(v[0]) is not None}
        same_cpu = sum(1 for v in mine.values() if ps_v.get(v.tid, ("", -1))[1] == v.pcpu)
        print(f"3 {name}: psutil {len(full)} threads, {len(ps_v)} vCPU by name; kvmtune {len(mine)} vCPU; "
              f"same tids {set(ps_v) == {v.tid for v in mine.values()}}, same CPU {same_cpu}/{len(mine)}; "
              f"psutil thread fields {psutil.Process(pid).threads()[0]._fields}")
        warm: dict[str, int | None] = {}
        vcpu_threads(fs, pid, warm)
        alone = files_per_call(lambda p=pid: psutil.Process(p).threads())
        with_cpu = files_per_call(lambda p=pid: ps_threads_cpu_num(p))
        cached_files = files_per_call(lambda p=pid, n=warm: vcpu_threads(fs, p, n))
        print(f"  processor (field 39) per thread: threads() alone opens {alone} "
              f"files and drops it; + Process(tid).cpu_num() opens {with_cpu}; "
              f"vcpu_threads with names cached opens {cached_files}")
    for name, pid in targets:
        m, err = attempt(lambda p=pid: psutil.Process(p).memory_full_info())
        st = parse.status(fs.read_text(f"proc/{pid}/status"))
        psm = (f"rss {m.rss // 1024} uss {m.uss // 1024} pss {m.pss // 1024} KiB" if m else err)
        print(f"4 {name}: status RssAnon {st['RssAnon']} + HugetlbPages {st.get('HugetlbPages', 0)} = "
              f"{st['RssAnon'] + st.get('HugetlbPages', 0)} KiB; psutil {psm} (no RssAnon/HugetlbPages field)")

    relocation(fs, tmp, child, calls)
    race_report(tmp, child, args.race)
    return 0


def parse_vcpu(comm: str) -> int | None:
    if comm.startswith("CPU ") and "/" in comm:
        try:
            return int(comm[4:comm.index("/")])
        except ValueError:
            return None
    return None


def relocation(fs: HostFS, tmp: str, pid: int, calls: int) -> None:
    ktree, ptree = make_trees(tmp, pid)
    kfs = HostFS(ktree)
    fake_cpu = lambda v: bool(v) and round(v[0][0] * CLK_TCK) >= MAGIC
    checks: list[tuple[str, Callable[[], Any], Callable[[Any], bool], Callable[[HostFS], Any]]] = [
        ("1 cpu_times(percpu=True)", ps_cpus, fake_cpu, lambda f: own_cpus(f)),
        ("2 getloadavg()", psutil.getloadavg, lambda v: abs(v[0] - 9.99) < 1e-6, lambda f: own_loadavg(f)),
        ("2 boot_time()", psutil.boot_time, lambda v: v == FAKE_BTIME, lambda f: own_uptime(f)),
        ("3 threads()+name()+cpu_num()", lambda: ps_threads_full(pid),
         lambda v: all(c == FAKE_CPU for _, c, _ in v.values()), lambda f: vcpu_threads(f, pid)),
        ("4 memory_full_info()", lambda: psutil.Process(pid).memory_full_info(),
         lambda v: v.uss // 1024 == FAKE_ANON_KIB, lambda f: own_mem(f, pid)),
    ]
    print("\n== --root: psutil with PROCFS_PATH=<tree>/proc (set, call, restore under a lock) vs HostFS(<tree>)")
    print(f"{'psutil reader':<31} {'psutil-shaped tree':<44} {'µs':>7}   {'kvmtune-shaped tree':<40} {'HostFS µs':>9}")
    for label, fn, is_fake, own in checks:
        cols = []
        for tree in (ptree, ktree):
            v, err = attempt(relocated(tree, fn))
            cols.append(err[:44] if err else "reads the tree" if is_fake(v) else "reads the REAL /proc")
        rfn = relocated(ptree, fn)
        us = f"{_per_call_us([rfn], calls // 2)[0]:7.1f}" if cols[0] == "reads the tree" else f"{'-':>7}"
        _, oerr = attempt(lambda own=own: own(kfs))
        ous = f"{_per_call_us([lambda own=own: own(kfs)], calls // 2)[0]:9.1f}" if oerr is None else oerr[:9]
        print(f"{label:<31} {cols[0]:<44} {us}   {cols[1]:<40} {ous}")
    print("kvmtune-shaped = the files kvmtune reads (as tests/fixtures/make_tree.py writes them); "
          "psutil-shaped adds proc/PID/stat,\nstatm, smaps_rollup and a top-level proc/TID/stat per thread.")


def race_report(tmp: str, pid: int, n: int) -> None:
    tree = os.path.join(tmp, "psutil-shaped")
    print(f"\n== the PROCFS_PATH race: {n} iterations per thread. A: PROCFS_PATH=fake tree, cpu_times, restore;"
          f"\n   B: cpu_times on the real /proc, and every 4th iteration Process(own pid).cpu_num()."
          f" switch interval {sys.getswitchinterval() * 1000:.0f} ms."
          "\n   none: A back to back; paced: A once per ms (no lock); A-locks: A under a lock B does not take;"
          " both-lock: both under one lock")
    for mode in ("none", "paced", "A-locks", "both-lock"):
        r = race(tree, n, mode)
        errs = f", errors A {r['A err']} B {r['B err']}" if r["A err"] or r["B err"] else ""
        print(f"  {mode:<9}: A got the real /proc {r['A got real']:>5}/{r['A calls']:<5}  B got the fake tree "
              f"{r['B got fake']:>5}/{n}  B's Process(self) NoSuchProcess {r['B Process() gone']:>4}/{n // 4}"
              f"{errs}  ({r['ms']} ms)")
    print("  A-locks: a lock kvmtune takes does not stop a psutil call elsewhere in the process "
          "(UI thread, a plugin, a library).")


if __name__ == "__main__":
    sys.exit(main())
