"""perf counters per vCPU thread and per guest, and KVM exits: opened when a guest appears,
closed when it goes. No Textual here.

Counting is perf_event_open(2) on each thread of the QEMU process (perfevents.py), one
read() per thread and tick: bench/perf_cost.py measured it against a `perf stat -I`
subprocess per guest (README, "perf counters"). vCPU threads are taken from the guest
collector's figures every tick (a new vCPU is counted from the tick it appears). The
guest's first scan opens every thread with inherit, so a thread QEMU starts later (even one
that lives less than a tick) counts into the thread that started it, as `perf stat -p`
counts; a vCPU thread started later gets its own counters for its figures, kept out of the
total (its creator's has it). Every `rescan_every` seconds a thread that is gone adds its
last counts to the guest's total before its fds are closed, so the total never goes backwards.
KVM exits come from KVM's own per-VM counters in
debugfs (sys/kernel/debug/kvm/PID-FD/), where the kernel has them.

The backend (`PerfBackend`) is the kernel on a live host; the demo host passes its own
simulated one (demo/perfsim.py), so the pane can be seen without a PMU.
"""

from __future__ import annotations

import copy
import errno
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import AccessDenied, HostFSError
from ..hostfs import HostFS
from ..model import Error, Guest
from ..perfmodel import HARDWARE, SOFTWARE, GuestPerf, PerfCounters
from .perfkernel import DEBUGFS, EXIT_STATS, VM_LOOK_EVERY, KernelPerf

TCG_NOTE = "no KVM exits: this guest runs under TCG (QEMU emulates the CPU; nothing exits to KVM)"


class CounterGroup(Protocol):
    def read(self) -> tuple[int | None, ...]:
        """The counts now, in the order of the names opened (None: enabled but never scheduled
        on the PMU, so not counted); () once closed."""
    def close(self) -> None: ...


class PerfBackend(Protocol):
    def open(self, tid: int, names: Sequence[str], inherit: bool = False) -> CounterGroup:
        """Counters `names` on thread `tid` (`inherit`: and on the threads it starts from now on);
        OSError (with an errno) when they cannot be opened."""
    def kvm_exits(self, pid: int) -> dict[str, int] | None:
        """KVM's exit counters for the VM of QEMU process `pid`; None when the kernel shows none."""
    def forget(self, pid: int | None) -> None:
        """Release what `kvm_exits(pid)` holds (None: for every pid)."""
    def why(self, e: OSError) -> str:
        """What a failed open means for the user, and how to enable it."""


ALL = SOFTWARE + HARDWARE    # PerfCounters' fields, in order
# Hardware counters open as small groups, each probed on its own: a group must fit the PMU at
# once (Intel with HT: 4 general counters, 2 offcore registers), so one group of all 7 is
# refused (EINVAL) where each of these fits. Concatenated they are HARDWARE, in order.
HW_GROUPS: tuple[tuple[str, ...], ...] = (("cycles", "instructions"), ("cache_misses",),
                                          ("llc_loads", "llc_load_misses"), ("node_loads", "node_load_misses"))
# what the kernel answers for an event the CPU has not (EINVAL is not one: a group that does not fit)
_NO_PMU = (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV)
NO_PMU = "not available on this host (no PMU)"
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)
OUT_OF_FDS = "out of file descriptors: raise LimitNOFILE / ulimit -n"


@dataclass
class _Thread:
    sw: CounterGroup
    hw: list[CounterGroup] = field(default_factory=list)   # the host's HW_GROUPS that open, in order
    in_total: bool = True    # False: a thread started after the guest's first scan (already in its creator's)

    def read(self) -> tuple[int | None, ...]:
        """SOFTWARE's counts, then HARDWARE's where they are open (PerfCounters' field order)."""
        values = self.sw.read()
        for g in self.hw:
            values += g.read()
        return values

    def close(self) -> None:
        self.sw.close()
        self.close_hw()

    def close_hw(self) -> None:
        for g in self.hw:
            g.close()
        self.hw = []


@dataclass
class _GuestState:
    pid: int
    since: float
    accel: str | None = None
    threads: dict[int, _Thread] = field(default_factory=dict)     # tid -> its counters
    retired: list[int] = field(default_factory=lambda: [0] * len(ALL))   # threads gone since `since`
    rescan_at: float = float("-inf")
    scanned: bool = False    # the first scan opened every thread: later ones count into their creators

    def close(self) -> None:
        for t in self.threads.values():
            t.close()
        self.threads.clear()


class PerfCollector:
    def __init__(self, fs: HostFS, backend: PerfBackend | None = None, rescan_every: float = 30.0,
                 clock: Callable[[], float] | None = None):
        self.fs = fs
        self.backend: PerfBackend = backend if backend is not None else KernelPerf(fs)
        self.rescan_every = rescan_every
        self.clock = clock or time.monotonic
        self.enabled = False
        self._guests: dict[str, _GuestState] = {}
        self._hw: tuple[tuple[str, ...], ...] | None = None   # HW_GROUPS this host counts (None: not tried yet)
        self._hw_why: str | None = None           # why some or all of them are not counted
        self._blocked: tuple[str, float] | None = None   # (why, when to try again)
        self._fd_short: dict[str, float] = {}    # guests not opened for want of fds -> when to try again

    def enable(self, on: bool) -> None:
        """Count from the next tick on, or stop: the next tick (or `close`) closes every counter.

        Only a flag: the UI thread may call it while a poll worker collects."""
        self.enabled = on

    def close(self) -> None:
        for st in self._guests.values():
            st.close()
        self._guests.clear()
        self.backend.forget(None)
        self._blocked = None
        self._fd_short.clear()

    @property
    def open_threads(self) -> int:
        """How many threads have counters open (tests and the bench look at it)."""
        return sum(len(st.threads) for st in self._guests.values())

    def annotate(self, guests: Sequence[Guest], stamp: float, errors: list[Error]) -> tuple[Guest, ...]:
        """`guests` with their `perf` figures; counters of guests that went are closed."""
        if not self.enabled:
            if self._guests or self._blocked:
                self.close()
            return tuple(guests)
        live = {g.name: g.pid for g in guests if g.running and g.pid is not None}
        for name in [n for n, st in self._guests.items() if live.get(n) != st.pid]:
            st = self._guests.pop(name)
            st.close()
            self.backend.forget(st.pid)
        for name in [n for n in self._fd_short if n not in live]:
            del self._fd_short[name]
        now = self.clock()
        out = []
        for g in guests:
            pid = live.get(g.name)
            out.append(g if pid is None else _with_perf(g, self._guest(g, pid, stamp, now, errors)))
        return tuple(out)

    # -- one guest ---------------------------------------------------------------------------
    def _guest(self, g: Guest, pid: int, stamp: float, now: float, errors: list[Error]) -> GuestPerf:
        if self._blocked is not None:
            reason, until = self._blocked
            if now < until:
                return GuestPerf(since=stamp, unavailable=reason)
            self._blocked = None
        retry = self._fd_short.get(g.name)
        if retry is not None:
            if now < retry:
                return GuestPerf(since=stamp, unavailable=OUT_OF_FDS)
            del self._fd_short[g.name]
        st = self._guests.get(g.name)
        if st is None:
            st = self._guests[g.name] = _GuestState(pid, stamp)
        index_of = {v.tid: v.index for v in g.vcpus if v.tid is not None}   # vCPU thread -> its index
        try:
            if st.accel is None and index_of:
                st.accel = self._accel(pid, next(iter(index_of)))
            for tid in index_of:
                if tid not in st.threads:
                    try:
                        self._open(st, tid)
                    except OSError as e:
                        if e.errno != errno.ESRCH:
                            raise    # (a dead vCPU thread id: that vCPU has no figures, the rest do)
            if now >= st.rescan_at:
                self._rescan(st, set(index_of))
                st.rescan_at = now + self.rescan_every
        except OSError as e:
            if e.errno in (errno.ESRCH,):
                pass    # a thread exited while we opened it: the next scan sees it gone
            elif e.errno in _OUT_OF_FDS:
                # what is open stays open; this guest is tried again at the next rescan
                self._guests.pop(g.name).close()
                self._fd_short[g.name] = now + self.rescan_every
                return GuestPerf(since=stamp, unavailable=OUT_OF_FDS)
            else:
                reason = self.backend.why(e)
                self.close()   # all or nothing: the pane says why for every guest
                self._blocked = (reason, now + self.rescan_every)   # tried again later: opening is not free
                return GuestPerf(since=stamp, unavailable=reason)
        # tuples in the order of `names`: this loop is the per-tick cost (bench/perf_cost.py)
        names = SOFTWARE + tuple(n for grp in self._hw or () for n in grp)
        n = len(names)
        vcpus: dict[int, PerfCounters] = {}
        sums: list[int | None] = list(st.retired[:n])
        for tid, t in st.threads.items():
            values = t.read()
            if len(values) != n:
                values = values[:n]
            for i, v in enumerate(values if t.in_total else ()):
                if v is None:
                    sums[i] = None     # a thread's counter not scheduled: no total, rather than a short one
                else:
                    s = sums[i]
                    if s is not None:
                        sums[i] = s + v
            index = index_of.get(tid)
            if index is not None and len(values) == n:
                vcpus[index] = _counters(names, values)
        total = _counters(names, sums)
        exits, note = self._exits(st, errors, g.name)
        return GuestPerf(since=st.since, vcpus=vcpus, total=total, accel=st.accel,
                         hardware=self._hw_why, exits=exits, exits_note=note)

    def _open(self, st: _GuestState, tid: int) -> None:
        # inherit: a thread QEMU starts later (a thread-pool worker lives ~10 s, less than a
        # rescan) counts into the thread that started it, so the total has it; a vCPU thread
        # started later is counted that way too, so its own counters stay out of the total
        t = _Thread(self.backend.open(tid, SOFTWARE, True), in_total=not st.scanned)
        try:
            if self._hw is None:
                t.hw = self._probe_hardware(tid)
            else:
                for grp in self._hw:
                    t.hw.append(self.backend.open(tid, grp, True))
        except OSError as e:
            if e.errno == errno.ESRCH or e.errno in _OUT_OF_FDS:   # (out of fds: the PMU is still there)
                t.close()
                raise
            # the PMU was there and now is not (out of counters, out of fds): none for anybody,
            # rather than totals that silently leave threads out
            t.close_hw()
            self._hw, self._hw_why = (), self.backend.why(e)
            for other in self._all_threads():
                other.close_hw()
        st.threads[tid] = t

    def _probe_hardware(self, tid: int) -> list[CounterGroup]:
        """The first thread's hardware groups; which of HW_GROUPS the CPU counts is learnt here
        (a CPU may count cycles but have no node-loads event), each group on its own."""
        opened: list[CounterGroup] = []
        have: list[tuple[str, ...]] = []
        failed: list[OSError] = []
        for grp in HW_GROUPS:
            try:
                opened.append(self.backend.open(tid, grp, True))
                have.append(grp)
            except OSError as e:
                if e.errno == errno.ESRCH or e.errno in _OUT_OF_FDS:
                    self._hw = None    # not learnt: probed again on the next thread
                    for g in opened:
                        g.close()
                    raise
                failed.append(e)
        self._hw = tuple(have)
        if not have:
            no_pmu = all(e.errno in _NO_PMU for e in failed)
            self._hw_why = NO_PMU if no_pmu else self.backend.why(next(e for e in failed if e.errno not in _NO_PMU))
        elif failed:
            self._hw_why = "not counted by this CPU: " + ", ".join(
                n for grp in HW_GROUPS if grp not in have for n in grp)
        return opened

    def _all_threads(self) -> list[_Thread]:
        return [t for s in self._guests.values() for t in s.threads.values()]

    def _rescan(self, st: _GuestState, vcpu_tids: set[int]) -> None:
        tids = {int(t) for t in self.fs.listdir(f"proc/{st.pid}/task", []) if t.isdigit()}
        for tid in [t for t in st.threads if t not in tids and t not in vcpu_tids]:
            t = st.threads.pop(tid)
            for i, v in enumerate(t.read() if t.in_total else ()):
                if v is not None:
                    st.retired[i] += v
            t.close()
        if st.scanned:
            return   # threads started since the first scan count into the (inherited) counters of their creators
        for tid in sorted(tids - set(st.threads)):
            try:
                self._open(st, tid)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
        st.scanned = True

    def _accel(self, pid: int, tid: int) -> str | None:
        comm = self.fs.read_str(f"proc/{pid}/task/{tid}/comm", "")
        return "kvm" if comm.endswith("/KVM") else "tcg" if comm.endswith("/TCG") else None

    def _exits(self, st: _GuestState, errors: list[Error], name: str) -> tuple[dict[str, int] | None, str | None]:
        if st.accel == "tcg":
            return None, TCG_NOTE
        if st.accel != "kvm":
            return None, "no vCPU thread named CPU N/KVM: cannot tell whether this guest runs under KVM"
        try:
            exits = self.backend.kvm_exits(st.pid)
        except AccessDenied as e:    # kernel lockdown, or not root: a fact of this host, not a failing tick
            return None, f"KVM exit counters not readable: {e}"
        except HostFSError as e:
            errors.append(Error(f"{name}: kvm exits", str(e)))
            return None, str(e)
        if exits is None:
            return None, ("KVM's exit counters are not visible: mount debugfs "
                          "(`mount -t debugfs none /sys/kernel/debug`) as root")
        return exits, None


def _counters(names: tuple[str, ...], values: Sequence[int | None]) -> PerfCounters:
    if len(names) == len(SOFTWARE) or len(names) == len(ALL):   # SOFTWARE [+ HARDWARE]: the fields' order
        return PerfCounters(*values)
    return PerfCounters(**dict(zip(names, values, strict=True)))


def _with_perf(g: Guest, perf: GuestPerf) -> Guest:
    """`replace(g, perf=perf)` at a tenth of the cost (replace re-runs __init__ over every field:
    38 µs per guest on the lab machine, more than reading its counters)."""
    new = copy.copy(g)
    object.__setattr__(new, "perf", perf)
    return new


__all__ = ["DEBUGFS", "EXIT_STATS", "VM_LOOK_EVERY", "KernelPerf", "PerfCollector"]
