"""Blocking hypervisor calls with a deadline, so one stalled guest does not stall a tick.

A libvirt call for a guest whose QEMU does not answer its monitor (the process stopped,
blocked on storage, or busy in a long monitor command) waits as long as QEMU does: libvirt
has no timeout for monitor replies. Each call here runs in a daemon thread (a stuck one
must not keep the process from exiting; idle ones are kept for the next tick) and the
caller waits at most `timeout` seconds.
A call that missed its deadline is left to finish on its own; until it does its key
(a guest's name) is *busy*, and no further call is made for it — so a stalled guest ties
up at most one of libvirtd's workers (and of the connection's request slots: 5 by
default), not one per tick.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..errors import Stalled

T = TypeVar("T")

IDLE_MAX = 8   # workers kept waiting for the next call (a tick makes 5 or 6 at once)


class _Workers:
    """Daemon threads kept between ticks: starting one costs ~70 us of CPU here, and a tick
    ran 5 or 6. A worker stuck in a call past its deadline is simply not idle: the next
    call starts another."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = not self._idle
            if not start:
                self._idle -= 1   # that worker takes this job (or another's: each is taken)
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._work, name="kvmtune-deadline", daemon=True).start()

    def _work(self) -> None:
        while True:
            self._jobs.get()()   # (a job hands its exception to its caller: it never raises)
            with self._lock:
                if self._idle >= IDLE_MAX:
                    return
                self._idle += 1


_WORKERS = _Workers()


class Deadlines:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[str] = set()

    def busy(self, key: str) -> bool:
        """An earlier call under this key missed its deadline and has not returned yet."""
        with self._lock:
            return key in self._pending

    def any_busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def run(self, key: str, fn: Callable[[], T], timeout: float) -> T:
        """fn()'s result (or its exception, raised) within `timeout` s; else raise Stalled."""
        out = self.run_many({key: fn}, timeout, workers=1)[key]
        if isinstance(out, BaseException):
            raise out
        return out

    def run_many(self, calls: Mapping[str, Callable[[], T]], timeout: float,
                 workers: int = 8) -> dict[str, T | BaseException]:
        """Each call's result or exception, by key, under one deadline of `timeout` s for all
        (`workers` calls at a time). A call that missed it, or that was not started because
        its key is busy, maps to Stalled."""
        results: dict[str, T | BaseException] = {}
        todo: list[str] = []
        for key in calls:
            if self.busy(key):
                results[key] = Stalled(f"an earlier call is still waiting for an answer ({key})")
            else:
                todo.append(key)
        cond = threading.Condition()
        running: set[str] = set()

        def work() -> None:
            while True:
                with cond:
                    if not todo:
                        return
                    key = todo.pop(0)
                    running.add(key)
                with self._lock:
                    self._pending.add(key)   # removed below, on time or late
                try:
                    out: T | BaseException = calls[key]()
                except BaseException as e:   # handed to the caller, not lost in this thread
                    out = e
                with self._lock:
                    self._pending.discard(key)
                with cond:
                    running.discard(key)
                    results.setdefault(key, out)
                    cond.notify_all()

        for _ in range(min(workers, len(todo))):
            _WORKERS.submit(work)
        with cond:
            cond.wait_for(lambda: not todo and not running, timeout)
            late = [*todo, *running]
            todo.clear()   # not started in time: nobody starts them now
            for key in late:
                results[key] = Stalled(f"no answer within {timeout:g} s")
        return results
