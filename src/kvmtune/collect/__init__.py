"""Collection: one call turns a Source into a Snapshot. No Textual here.

`Collector` keeps the little state that makes ticks cheap (the CPU topology, cached
settings, pids, cgroup paths, the last hugepage read); everything it returns is a
frozen Snapshot, stamped by its `clock` (wall time live; the demo feed passes its own).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..model import Error, Guest, Snapshot
from ..source import Source
from .guests import GuestCollector
from .host import HostCollector
from .perf import PerfCollector


class Collector:
    def __init__(self, source: Source, settings_every: float = 30.0, numa_maps_every: float = 60.0,
                 clock: Callable[[], float] = time.time, perf: bool = False):
        self.source = source
        self.clock = clock
        self.host = HostCollector(source.fs)
        self.guests = GuestCollector(source, settings_every, numa_maps_every)
        # perf counters (opt-in: --perf, or P in the TUI); the demo brings its simulated backend
        self.perf = PerfCollector(source.fs, source.perf_backend, rescan_every=settings_every)
        self.perf.enable(perf)

    def collect(self) -> Snapshot:
        errors: list[Error] = []
        host = self.host.collect(errors)
        guests: tuple[Guest, ...] = ()
        disconnected = False
        if self.source.hv is not None:
            guests, disconnected = self.guests.collect(host.cpu_ids, errors)
        stamp = self.clock()
        guests = self.perf.annotate(guests, stamp, errors)
        self.source.fs.sweep_kept()   # the fds of files no longer read (a guest that went)
        return Snapshot(time=stamp, host=host, guests=guests,
                        errors=tuple(errors), disconnected=disconnected)

    def close(self) -> None:
        """Release what collection holds: caches, and every perf counter's fd."""
        self.perf.close()
        self.source.fs.close_kept()
        self.guests.reset()
        self.host.reset()


__all__ = ["Collector"]
