"""The demo host's perf counters and KVM exits, kept consistent with the simulation.

It implements collect.perf.PerfBackend. Counting follows the simulated threads: task-clock
is the thread's CPU time (the same figure as its /proc stat); a vCPU migrates while its
affinity has more than one CPU and not at all once pinned to one; instructions per cycle
and the local/remote DRAM loads follow where the vCPU runs relative to the guest's memory
(a vCPU on a node far from its memory retires fewer instructions per cycle); exits follow
load and disk requests. Only guests whose counters are open are advanced, so scale mode
costs nothing without --perf. Counts start at 0 when a group is opened, as the kernel's do.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Sequence

from . import scenario as sc
from .state import ALL_CPUS, SimGuest

GHZ = 2.4e9


class SimPerf:
    def __init__(self, guests: list[SimGuest], lock: threading.RLock):
        self.guests = guests
        self.lock = lock
        self._counts: dict[int, dict[str, float]] = {}     # tid -> cumulative counts (watched threads)
        self._exits: dict[int, dict[str, float]] = {}      # pid -> cumulative exits (watched guests)
        self._index: dict[int, tuple[SimGuest, str]] = {}
        self._groups: dict[int, int] = {}     # tid -> its open groups: at 0 it is not advanced any more

    def _closed(self, tid: int) -> None:
        with self.lock:
            n = self._groups.get(tid, 0) - 1
            if n > 0:
                self._groups[tid] = n
            else:
                self._groups.pop(tid, None)
                self._counts.pop(tid, None)

    # -- PerfBackend -----------------------------------------------------------------------
    def open(self, tid: int, names: Sequence[str], inherit: bool = False) -> SimGroup:
        with self.lock:
            if self._guest_of(tid) is None:
                raise OSError(errno.ESRCH, f"no such thread {tid}")
            counts = self._counts.setdefault(tid, {})
            self._groups[tid] = self._groups.get(tid, 0) + 1
            return SimGroup(self, tid, tuple(names), {n: counts.get(n, 0.0) for n in names})

    def kvm_exits(self, pid: int) -> dict[str, int] | None:
        with self.lock:
            g = next((g for g in self.guests if g.pid == pid), None)
            if g is None:
                return None
            if pid not in self._exits:
                self._guest_exits(g, 0.0)   # every reason from the start, at 0, as KVM's own counters
            ex = self._exits[pid]
            return {k: int(v) for k, v in ex.items() if not k.startswith("_")}

    def forget(self, pid: int | None) -> None:
        with self.lock:
            if pid is None:
                self._exits.clear()
            else:
                self._exits.pop(pid, None)

    def why(self, e: OSError) -> str:
        from ..collect import perfevents
        return perfevents.why(e)

    # -- the simulation ----------------------------------------------------------------------
    def _guest_of(self, tid: int) -> tuple[SimGuest, str] | None:
        # an index of every running thread, rebuilt when it misses (a guest started or
        # restarted): a scan per open would make the first --perf tick of 5000 guests quadratic
        hit = self._index.get(tid)
        if hit is None or hit[0].pid is None or hit[0].tids().get(hit[1]) != tid:
            self._index = {t: (g, comm) for g in self.guests if g.pid is not None for comm, t in g.tids().items()}
            hit = self._index.get(tid)
        return hit

    def advance(self, dt: float) -> None:
        """Move the watched counters on by dt simulated seconds (the simulator's step calls it)."""
        if not self._counts and not self._exits:
            return
        for g in self.guests:
            if g.pid is None:
                continue
            tids = g.tids()
            if not any(t in self._counts for t in tids.values()) and g.pid not in self._exits:
                continue
            home = _local_share(g)
            for comm, tid in tids.items():
                c = self._counts.get(tid)
                if c is not None:
                    _thread(g, comm, tid == g.pid, c, dt, home)
            self._guest_exits(g, dt)

    def _guest_exits(self, g: SimGuest, dt: float) -> None:
        ex = self._exits.setdefault(g.main_pid(), {})
        load = sum(g.vcpu_load)
        reqs = sum(d.rd_reqs + d.wr_reqs for d in g.disks)
        last = ex.get("_reqs", reqs)
        io = max(0.0, reqs - last)
        ex["_reqs"] = reqs
        idle = max(0.0, g.spec.vcpus - load)
        add = {
            "halt_exits": idle * 900 * dt, "halt_successful_poll": idle * 600 * dt,
            "halt_attempted_poll": idle * 850 * dt, "halt_wakeup": idle * 880 * dt,
            "io_exits": io * 1.2 + 3 * dt, "mmio_exits": io * 2.0 + load * 150 * dt,
            "irq_exits": load * 1200 * dt + 50 * dt, "irq_window_exits": load * 40 * dt,
            "signal_exits": 0.2 * dt, "hypercalls": load * 30 * dt,
        }
        for k, v in add.items():
            ex[k] = ex.get(k, 0.0) + v
        ex["exits"] = ex.get("exits", 0.0) + sum(add.values()) - add["halt_successful_poll"] \
            - add["halt_attempted_poll"] - add["halt_wakeup"]   # polls and wakeups are not exits


def _local_share(g: SimGuest) -> dict[int, float]:
    """The share of the guest's memory on each node."""
    total = sum(g.anon.values()) + sum(g.huge.values()) * (g.spec.hugepage_kib or 0)
    if total <= 0:
        return {}
    per = dict(g.anon)
    for n, pages in g.huge.items():
        per[n] = per.get(n, 0.0) + pages * (g.spec.hugepage_kib or 0)
    return {n: v / total for n, v in per.items()}


def _thread(g: SimGuest, comm: str, main: bool, c: dict[str, float], dt: float, share: dict[int, float]) -> None:
    if comm.startswith("CPU "):
        i = int(comm[4:comm.index("/")])
        load, cpu = g.vcpu_load[i], g.vcpu_cpu[i]
        wide = len(g.vcpu_affinity(i)) > 1
    else:
        load, cpu = 0.03 * sum(g.vcpu_load) * (0.4 if main else 0.1), g.emu_cpu
        wide = len(g.live.emulator_pin or ALL_CPUS) > 1
    local = share.get(sc.cpu_node(cpu), 0.0)
    cycles = load * dt * GHZ
    llc = cycles * 0.012
    misses = llc * (0.15 + 0.2 * (1 - local))
    add = {
        "task_clock_ns": load * dt * 1e9,
        "context_switches": dt * (150 + 900 * load),
        "cpu_migrations": dt * (4 + 30 * load) if wide else 0.0,   # one CPU: nowhere to go
        "page_faults": dt * (2 + 25 * load), "major_faults": dt * 0.01,
        "cycles": cycles, "instructions": cycles * (0.7 + 0.9 * local),   # remote memory stalls
        "cache_misses": misses * 1.1, "llc_loads": llc, "llc_load_misses": misses,
        "node_loads": misses * local, "node_load_misses": misses * (1 - local),
    }
    for k, v in add.items():
        c[k] = c.get(k, 0.0) + v


class SimGroup:
    def __init__(self, perf: SimPerf, tid: int, names: tuple[str, ...], base: dict[str, float]):
        self.perf, self.tid, self.names, self.base = perf, tid, names, base
        self.open = True

    def read(self) -> tuple[int, ...]:
        if not self.open:
            return ()
        with self.perf.lock:
            c = self.perf._counts.get(self.tid, {})
            return tuple(int(c.get(n, 0.0) - self.base[n]) for n in self.names)

    def close(self) -> None:
        if self.open:
            self.open = False
            self.perf._closed(self.tid)


__all__ = ["SimGroup", "SimPerf"]
