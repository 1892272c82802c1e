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


class Collector:
    def __init__(self, source: Source, settings_every: float = 30.0, numa_maps_every: float = 60.0,
                 clock: Callable[[], float] = time.time):
        self.source = source
        self.clock = clock
        self.host = HostCollector(source.fs)
        self.guests = GuestCollector(source, settings_every, numa_maps_every)

    def collect(self) -> Snapshot:
        errors: list[Error] = []
        host = self.host.collect(errors)
        guests: tuple[Guest, ...] = ()
        disconnected = False
        if self.source.hv is not None:
            guests, disconnected = self.guests.collect(host.cpu_ids, errors)
        return Snapshot(time=self.clock(), host=host, guests=guests,
                        errors=tuple(errors), disconnected=disconnected)

    def close(self) -> None:
        """Release what collection holds (caches now; perf counters once they exist)."""
        self.guests.reset()
        self.host.reset()


__all__ = ["Collector"]
