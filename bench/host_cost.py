"""What a tick costs the whole host: kvmtune's CPU, libvirtd's, QEMU's, and wall (no pass/fail).

For the running guests of --uri (the lab: `make lab-up`), three ways of reading them, each
--ticks times in rounds (one call of each way per round, a round every --interval s,
kvmtune's tick first: so it ticks at its own interval, and drift weighs on all alike),
after one warm-up call:

  kvmtune tick             kvmtune.collect.Collector(open_live(uri)).collect()
  getAllDomainStats(all)   conn.getAllDomainStats(0, 0) on one plain connection kept open
                           (what virt-top and the libvirt exporters do)
  virsh domstats           `virsh -c URI domstats`, a process per call (the admin script's way)

Columns, medians over the calls: wall; the caller's CPU (kvmtune's and the plain call's:
the whole process's CPU clock, because libvirt's event thread runs in the process and
does its part of the RPC there; virsh's: RUSAGE_CHILDREN); libvirtd's CPU; QEMU's CPU the
call causes (an estimate, a mean: see qemu_share); their total and that per guest. Then
each stats group alone (NOWAIT): libvirtd's CPU and wall. Then the headline: kvmtune +
libvirtd CPU per tick / that of one getAllDomainStats(all), beside issue 17's goal (<= 0.5).

Other processes' CPU times come from their CPU clocks (clock_gettime, nanoseconds, all
threads): a call costs libvirtd a few ms, below /proc/PID/stat's 10 ms clock tick, so a
median of stat deltas would be 0 or 10. Each phase also prints libvirtd's stat delta
summed over all its calls, as a check. Needs root, libvirt-python, a libvirtd and a running guest; otherwise it says
which is missing in one line and exits 0.

    python bench/host_cost.py [--uri qemu:///system] [--ticks 20] [--interval 2.0]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from kvmtune.parse import task_stat  # (the package from this tree, as for the collector)

GOAL = 0.5
CLK = os.sysconf("SC_CLK_TCK")
LAB_PIDFILE = Path(os.environ.get("KVMTUNE_LAB_DIR", "/var/tmp/kvmtune-lab")) / "libvirtd.pid"
GROUPS = ("state", "balloon", "vcpu", "cpu-total", "block", "interface")


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def libvirtd_pid() -> tuple[int, str] | None:
    """The lab's pid file, then the system's, then the QEMU driver's, then a scan of /proc for "libvirtd"."""
    for f in (LAB_PIDFILE, Path("/run/libvirtd.pid"), Path("/run/libvirt/qemu/driver.pid")):
        try:
            pid = int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if comm(pid) == "libvirtd":
            return pid, str(f)
    found = [int(d) for d in os.listdir("/proc") if d.isdigit() and comm(int(d)) == "libvirtd"]
    return (found[0], "/proc scan") if len(found) == 1 else None


def cpu_ns(pids: list[int]) -> int:
    """CPU time of the processes `pids`, ns: their CPU clocks, as clock_getcpuclockid(3) names them
    (glibc's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)): every thread, the exited ones included,
    current to the read (schedstat lags a running thread by up to a scheduler tick)."""
    total = 0
    for pid in pids:
        try:
            total += time.clock_gettime_ns(((~pid) << 3) | 2)
        except OSError:
            total += stat_ticks(pid) * 1_000_000_000 // CLK   # no such clock: the 10 ms figure
    return total


def stat_ticks(pid: int) -> int:
    st = task_stat(Path(f"/proc/{pid}/stat").read_text())
    return st.utime + st.stime   # the process's: its dead threads included


class Phase:
    """One way of reading the guests, called `reps` times: per-call figures in ms."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wall: list[float] = []
        self.caller: list[float] = []
        self.lvd: list[float] = []
        self.q_call = self.q_idle = self.t_call = self.t_idle = 0.0
        self.stat_ticks = 0

    def run(self, call: Callable[[], object], reps: int, lvd: int, qemu: list[int],
            caller_cpu: Callable[[], float] = time.process_time) -> Phase:
        """`reps` calls back to back."""
        for _ in range(reps):
            self.once(call, lvd, qemu, caller_cpu)
        return self

    def once(self, call: Callable[[], object], lvd: int, qemu: list[int],
             caller_cpu: Callable[[], float] = time.process_time) -> float:
        """One measured call; returns when it ended."""
        s0 = stat_ticks(lvd)
        q0 = cpu_ns(qemu)
        tq0, l0 = time.perf_counter(), cpu_ns([lvd])
        c0, w0 = caller_cpu(), time.perf_counter()
        call()
        w1, c1 = time.perf_counter(), caller_cpu()
        l1, tq1 = cpu_ns([lvd]), time.perf_counter()
        q1 = cpu_ns(qemu)
        self.stat_ticks += stat_ticks(lvd) - s0
        self.wall.append((w1 - w0) * 1e3)
        self.caller.append((c1 - c0) * 1e3)
        self.lvd.append((l1 - l0) / 1e6)
        self.q_call += (q1 - q0) / 1e6
        self.t_call += tq1 - tq0   # QEMU's window: the call and the libvirtd reads around it
        return tq1

    def gap(self, start: float, interval: float, q1: float, t1: float, qemu: list[int]) -> None:
        """Sleep to about `interval` after `start` (jittered, so the calls do not keep step with
        a guest's periodic work); QEMU's CPU in the sleep is its idle rate."""
        time.sleep(max(0.0, interval * random.uniform(0.75, 1.25) - (time.perf_counter() - start)))
        self.q_idle += (cpu_ns(qemu) - q1) / 1e6
        self.t_idle += time.perf_counter() - t1

    @property
    def lvd_stat_ms(self) -> float:
        """libvirtd's CPU per call from /proc/PID/stat (10 ms ticks, summed over the calls)."""
        return self.stat_ticks * 1e3 / CLK / len(self.wall) if self.wall else float("nan")

    def idle_rate(self) -> float:
        """QEMU's CPU in the sleeps between calls, ms per s of wall (all guests)."""
        return self.q_idle / self.t_idle if self.t_idle else float("nan")

    def qemu_share(self, idle_rate: float | None = None) -> float:
        """QEMU's CPU per call (ms) beyond its idle rate: what its threads used while the call
        ran (libvirtd waits for QEMU's monitor replies, so QEMU's part is done when the call
        returns), minus the rate they ran at in the sleeps between calls times the call's wall;
        a mean over all calls, as the TCG guests' own noise is of the same size as the signal.
        Calls made back to back have no gaps: they take `idle_rate` from the other phases."""
        rate = self.idle_rate() if idle_rate is None else idle_rate
        return (self.q_call - rate * self.t_call) / len(self.wall) if self.wall else float("nan")

    def med(self, xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    def host(self) -> float:
        """Median of caller + libvirtd CPU per call, ms (the issue's "total host CPU")."""
        return self.med([c + x for c, x in zip(self.caller, self.lvd)])


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> int:
    p = argparse.ArgumentParser(description="Whole-host cost of a collection tick against getAllDomainStats "
                                "and virsh domstats (libvirtd, QEMU and the caller's CPU).")
    p.add_argument("--uri", default="qemu:///system", help="libvirt URI (default qemu:///system)")
    p.add_argument("--ticks", type=int, default=20, help="calls measured per way (default 20)")
    p.add_argument("--interval", type=float, default=2.0,
                   help="seconds per round of calls: kvmtune's tick interval (default 2, the TUI's)")
    a = p.parse_args()
    try:
        import libvirt
    except ImportError:
        print("host_cost: skipped: libvirt-python is not installed")
        return 0
    if os.geteuid() != 0:
        print("host_cost: skipped: needs root (libvirtd's and QEMU's /proc entries, qemu:///system)")
        return 0
    found = libvirtd_pid()
    if found is None:
        print(f"host_cost: skipped: no libvirtd (no live pid in {LAB_PIDFILE}, /run/libvirtd.pid or the QEMU driver's, "
              "and not exactly one process named libvirtd)")
        return 0
    lvd, how = found
    libvirt.registerErrorHandler(lambda _c, _e: None, None)
    try:
        return measure(a, libvirt, lvd, how)
    except (libvirt.libvirtError, OSError) as e:   # libvirtd or a guest went away meanwhile
        print(f"host_cost: stopped: {e}")
        return 0


def measure(a: argparse.Namespace, libvirt: Any, lvd: int, how: str) -> int:
    try:
        conn = libvirt.open(a.uri)
    except libvirt.libvirtError as e:
        print(f"host_cost: skipped: cannot connect to {a.uri}: {e.get_error_message()}")
        return 0
    from kvmtune.collect import Collector
    from kvmtune.source import open_live

    src = open_live(a.uri)
    try:
        col = Collector(src)
        first = Phase("").run(col.collect, 1, lvd, [])   # reads every guest's settings: reported apart
        snap = col.collect()
        guests = [g for g in snap.guests if g.running and g.pid]
        if not guests:
            print(f"host_cost: skipped: no running guest on {a.uri}")
            return 0
        qemu = [g.pid for g in guests if g.pid]
        print(f"{a.uri}: {len(guests)} running guests ({', '.join(g.name for g in guests)}), {len(snap.guests)} "
              f"defined; libvirtd pid {lvd} (from {how}); {a.ticks} rounds of a call per way, {a.interval:g} s")
        kv, ga, vs = Phase("kvmtune tick"), Phase("getAllDomainStats(all)"), Phase("virsh domstats")
        ways: list[tuple[Phase, Callable[[], object], Callable[[], float]]] = [
            (kv, col.collect, time.process_time),
            (ga, lambda: conn.getAllDomainStats(0, 0), time.process_time)]
        virsh = shutil.which("virsh")
        if virsh:
            argv = [virsh, "-c", a.uri, "domstats"]
            vrun = lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            vrun()
            ways.append((vs, vrun, children_cpu))
        conn.getAllDomainStats(0, 0)
        # In rounds of --interval: a kvmtune tick, then one call of each other way, then a
        # sleep to the round's end. kvmtune ticks at its own interval (its settings and balloon
        # refreshes per tick depend on it), and the guests' own load and the machine's drift
        # over minutes (libvirtd's cost of one getAllDomainStats moved by a third between runs
        # here) weigh on every way alike; each round gives a ratio of neighbouring calls.
        for _ in range(a.ticks):
            start = time.perf_counter()
            for ph, call, clock in ways:
                end = ph.once(call, lvd, qemu, clock)
            kv.gap(start, a.interval, cpu_ns(qemu), end, qemu)
        kv_thread = Phase("").run(col.collect, 3, lvd, qemu, time.thread_time)
    finally:
        src.close()
    phases = [ph for ph, _c, _k in ways]
    nowait = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
    groups = [(g, getattr(libvirt, "VIR_DOMAIN_STATS_" + g.upper().replace("-", "_"))) for g in GROUPS]
    by_group = [Phase(g).run(lambda f=f: conn.getAllDomainStats(f, nowait), a.ticks, lvd, qemu)
                for g, f in groups]
    by_group.append(Phase("all (0), NOWAIT").run(lambda: conn.getAllDomainStats(0, nowait), a.ticks, lvd, qemu))
    conn.close()
    report(phases, by_group, first, kv_thread, len(guests), a.ticks)
    return 0


def report(phases: list[Phase], by_group: list[Phase], first: Phase, kv_thread: Phase, n: int, ticks: int) -> None:
    kv, ga = phases[0], phases[1]
    print()
    head = (f"{'per call (median)':<24} {'wall ms':>8} {'caller CPU ms':>14} {'libvirtd CPU ms':>16} "
            f"{'QEMU CPU ms (est.)':>19} {'total host CPU ms':>18} {'per guest µs':>13}")
    print(head)
    print("-" * len(head))
    idle = kv.idle_rate()   # (the rounds' gaps: the guests' own rate, for every way)
    for ph in phases:
        q = ph.qemu_share(idle)
        total = ph.host() + q
        print(f"{ph.name:<24} {ph.med(ph.wall):>8.1f} {ph.med(ph.caller):>14.2f} {ph.med(ph.lvd):>16.2f} "
              f"{q:>19.2f} {total:>18.2f} {total / n * 1e3:>13.0f}")
    print("caller CPU: the calling process's (libvirt's event thread included); virsh's from RUSAGE_CHILDREN.")
    print("total = caller + libvirtd (the median of their sum) + QEMU; QEMU, an estimate: its threads' CPU while "
          "the call ran, less their idle rate in the gaps between rounds, a mean over the calls.")
    for ph in phases:
        print(f"  {ph.name}: wall {min(ph.wall):.1f}–{max(ph.wall):.1f} ms; libvirtd mean "
              f"{statistics.fmean(ph.lvd):.2f} ms (check, /proc/PID/stat over all calls: {ph.lvd_stat_ms:.1f} ms)")
    print(f"  QEMU idle (in the gaps between rounds) {idle:.0f} ms per s for {n} guests")
    print(f"  kvmtune: first tick (every guest's settings) {first.wall[0]:.1f} ms wall, {first.caller[0]:.2f} ms "
          f"CPU, libvirtd {first.lvd[0]:.2f} ms; the ticks' mean CPU {statistics.fmean(kv.caller):.2f} ms, "
          f"max {max(kv.caller):.2f}; the collecting thread alone {kv_thread.med(kv_thread.caller):.2f} ms")
    print()
    print(f"by stats group, each alone with NOWAIT, {ticks} calls back to back (medians; QEMU: a mean, "
          f"less the idle rate above):")
    for ph in by_group:
        print(f"  {ph.name:<16} libvirtd {ph.med(ph.lvd):6.2f} ms CPU  wall {ph.med(ph.wall):6.1f} ms  "
              f"caller {ph.med(ph.caller):5.2f} ms  QEMU (est.) {ph.qemu_share(idle):6.2f} ms")
    print()
    ratio = kv.host() / ga.host() if ga.host() > 0 else float("inf")
    rounds = sorted((c + x) / (gc + gx) for c, x, gc, gx in zip(kv.caller, kv.lvd, ga.caller, ga.lvd) if gc + gx > 0)
    both = (kv.host() + kv.qemu_share(idle)) / (ga.host() + ga.qemu_share(idle))
    print(f"headline: host CPU (kvmtune + libvirtd) per kvmtune tick {kv.host():.2f} ms / one getAllDomainStats(all) "
          f"{ga.host():.2f} ms = {ratio:.2f} (goal ≤ {GOAL}: {'met' if ratio <= GOAL else 'NOT met'}); "
          f"with QEMU's estimate {both:.2f}; {n} guests, {ticks} rounds")
    if rounds:
        print(f"  the same ratio round by round (a tick and the getAllDomainStats call after it): median "
              f"{statistics.median(rounds):.2f}, {rounds[0]:.2f}–{rounds[-1]:.2f}")
    mk, mg = (statistics.fmean(c + x for c, x in zip(ph.caller, ph.lvd)) for ph in (kv, ga))
    print(f"  of the means (what the ticks cost over time, those that re-read some guests' settings "
          f"included): {mk:.2f} / {mg:.2f} ms = {mk / mg:.2f}")


if __name__ == "__main__":
    sys.exit(main())
