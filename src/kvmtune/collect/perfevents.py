"""perf_event_open(2) through ctypes: per-thread counter groups, one read() per group.

A `Group` is one leader and its members opened on one thread with PERF_FORMAT_GROUP, so a
single read() returns every counter of the group (bench/perf_cost.py measured this
against a `perf stat` subprocess: README "perf counters"). Software events work on any
Linux; hardware ones need a PMU and open in their own group, so a host without one still
gets the software figures. Nothing here parses text and nothing runs a process.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import resource
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..hostfs import HostFS

# perf_event_attr.type
TYPE_HARDWARE, TYPE_SOFTWARE, TYPE_HW_CACHE = 0, 1, 3
# read_format bits
_FORMAT_TOTAL_TIME_ENABLED, _FORMAT_TOTAL_TIME_RUNNING, _FORMAT_GROUP = 1, 2, 8
_READ_FORMAT = _FORMAT_GROUP | _FORMAT_TOTAL_TIME_ENABLED | _FORMAT_TOTAL_TIME_RUNNING
# attr flag bits: counting the guest's own work, so kernel and hypervisor time count too
_FLAG_DISABLED, _FLAG_INHERIT = 1 << 0, 1 << 1   # inherit: threads the counted one starts count into it
_PERF_FLAG_FD_CLOEXEC = 1 << 3
_ATTR_SIZE = 128    # PERF_ATTR_SIZE_VER7; a kernel accepts a larger struct when the tail is zero

_SYSCALL = {"x86_64": 298, "aarch64": 241, "ppc64le": 319, "s390x": 331, "riscv64": 241}
_IOC_ENABLE = 0x2400   # PERF_EVENT_IOC_ENABLE
_IOC_FLAG_GROUP = 1


def _cache(cache: int, op: int, result: int) -> int:
    return cache | (op << 8) | (result << 16)


_LL, _NODE, _READ, _ACCESS, _MISS = 2, 6, 0, 0, 1


class Event(NamedTuple):
    name: str      # the model's field name (perfmodel.PerfCounters)
    type: int
    config: int


SOFTWARE: tuple[Event, ...] = (
    Event("task_clock_ns", TYPE_SOFTWARE, 1),
    Event("context_switches", TYPE_SOFTWARE, 3),
    Event("cpu_migrations", TYPE_SOFTWARE, 4),
    Event("page_faults", TYPE_SOFTWARE, 2),
    Event("major_faults", TYPE_SOFTWARE, 6),
)
HARDWARE: tuple[Event, ...] = (
    Event("cycles", TYPE_HARDWARE, 0),
    Event("instructions", TYPE_HARDWARE, 1),
    Event("cache_misses", TYPE_HARDWARE, 3),
    Event("llc_loads", TYPE_HW_CACHE, _cache(_LL, _READ, _ACCESS)),
    Event("llc_load_misses", TYPE_HW_CACHE, _cache(_LL, _READ, _MISS)),
    # node-loads / node-load-misses: DRAM reads served by the local node / by another one
    Event("node_loads", TYPE_HW_CACHE, _cache(_NODE, _READ, _ACCESS)),
    Event("node_load_misses", TYPE_HW_CACHE, _cache(_NODE, _READ, _MISS)),
)


class PerfError(OSError):
    """perf_event_open failed; `errno` says why (see `why`)."""


_libc: ctypes.CDLL | None = None


def _syscall() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.syscall


def _attr(ev: Event, leader: bool, inherit: bool, grouped: bool) -> ctypes.Array[ctypes.c_char]:
    flags = (_FLAG_DISABLED if leader else 0) | (_FLAG_INHERIT if inherit else 0)
    fmt = _READ_FORMAT if grouped else _READ_FORMAT & ~_FORMAT_GROUP
    head = struct.pack("=IIQQQQQ", ev.type, _ATTR_SIZE, ev.config, 0, 0, fmt, flags)
    return ctypes.create_string_buffer(head.ljust(_ATTR_SIZE, b"\0"), _ATTR_SIZE)


def perf_event_open(ev: Event, tid: int, group_fd: int = -1, inherit: bool = False, grouped: bool = True) -> int:
    """An fd counting `ev` on thread `tid` on any CPU (`grouped`: read with PERF_FORMAT_GROUP);
    PerfError on failure."""
    nr = _SYSCALL.get(platform.machine())
    if nr is None:
        raise PerfError(errno.ENOSYS, f"perf_event_open: no syscall number known for {platform.machine()}")
    fn = _syscall()
    fd = int(fn(ctypes.c_long(nr), _attr(ev, group_fd < 0, inherit, grouped), ctypes.c_int(tid), ctypes.c_int(-1),
                ctypes.c_int(group_fd), ctypes.c_ulong(_PERF_FLAG_FD_CLOEXEC)))
    if fd < 0:
        e = ctypes.get_errno()
        raise PerfError(e, f"perf_event_open({ev.name}, tid {tid}): {os.strerror(e)}")
    return fd


class Group:
    """Counters on one thread, read together. Closed by `close()` (idempotent).

    `inherit`: threads the counted thread starts later count into it. A kernel that refuses
    inherit with PERF_FORMAT_GROUP (EINVAL, older kernels) gets one fd per counter, each read
    on its own (`solo`)."""

    def __init__(self, tid: int, events: Sequence[Event], inherit: bool = False):
        self.tid = tid
        self.names = tuple(ev.name for ev in events)
        self.fds: list[int] = []
        self.solo = False
        try:
            try:
                self._open(events, inherit)
            except PerfError as e:
                if not (inherit and e.errno == errno.EINVAL):
                    raise
                self.close()
                self.solo = True
                self._open(events, inherit)
        except BaseException:
            self.close()
            raise
        self._format = struct.Struct("=3Q" if self.solo else f"={3 + len(self.fds)}Q")

    def _open(self, events: Sequence[Event], inherit: bool) -> None:
        for ev in events:
            leader = -1 if self.solo or not self.fds else self.fds[0]
            self.fds.append(perf_event_open(ev, self.tid, leader, inherit, grouped=not self.solo))
        for fd in self.fds if self.solo else self.fds[:1]:
            fcntl.ioctl(fd, _IOC_ENABLE, _IOC_FLAG_GROUP)

    def _read_solo(self) -> tuple[int | None, ...]:
        out: list[int | None] = []
        for fd in self.fds:
            value, enabled, running = self._format.unpack(os.read(fd, self._format.size))
            out.append(_scaled(value, enabled, running))
        return tuple(out)

    def read(self) -> tuple[int | None, ...]:
        """Every counter's value now, in the order opened (scaled when the PMU multiplexed
        them; None when enabled but never on the PMU: not counted, which is not 0);
        () once closed."""
        if not self.fds:
            return ()
        if self.solo:
            return self._read_solo()
        v = self._format.unpack(os.read(self.fds[0], self._format.size))   # nr, enabled, running, values...
        if v[2] < v[1]:
            if not v[2]:
                return (None,) * (len(v) - 3)
            return tuple(x * v[1] // v[2] for x in v[3:])   # multiplexed: scaled to the whole time
        return v[3:]

    def close(self) -> None:
        fds, self.fds = self.fds, []
        for fd in reversed(fds):
            try:
                os.close(fd)
            except OSError:
                pass


def _scaled(value: int, enabled: int, running: int) -> int | None:
    if running < enabled:
        return value * enabled // running if running else None
    return value


def raise_fd_limit() -> None:
    """The soft limit on open files up to the hard one (as the perf tool does): a counter is an
    fd, five per thread (twelve with a PMU), and 1024 is a few dozen guests."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            pass   # the limit stays; an open past it says "raise ulimit -n"


def why(e: OSError, fs: HostFS | None = None) -> str:
    """What a failed open means for the user, and how to enable it."""
    if e.errno in (errno.EACCES, errno.EPERM):
        # without CAP_PERFMON the kernel also wants ptrace rights over the thread: QEMU runs as
        # root or libvirt-qemu, so no perf_event_paranoid lets another user count it
        if os.geteuid() != 0:
            return (f"perf counters need root (or CAP_PERFMON and CAP_SYS_PTRACE): kvmtune runs as uid "
                    f"{os.geteuid()} and may not count QEMU's threads (run kvmtune as root)")
        paranoid = fs.read_str("proc/sys/kernel/perf_event_paranoid", None) if fs is not None else None
        if paranoid is not None and paranoid.lstrip("-").isdigit() and int(paranoid) >= 3:
            return (f"perf counters refused to root: kernel.perf_event_paranoid is {paranoid} "
                    f"(`sysctl kernel.perf_event_paranoid=2` allows root), or the kernel is locked down")
        return ("perf counters refused to root: the kernel is locked down "
                "(see /sys/kernel/security/lockdown) or a security module denies perf_event_open")
    if e.errno == errno.ENOSYS:
        return "this kernel has no perf events (CONFIG_PERF_EVENTS is off)"
    if e.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        return "not available on this host (no PMU)"
    if e.errno == errno.EINVAL:
        return "the kernel refused these counters (Invalid argument: e.g. more than the PMU counts at once)"
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return "out of file descriptors: raise LimitNOFILE / ulimit -n"
    return os.strerror(e.errno or 0) if e.errno else str(e)
