"""Collection: one call turns a Source into a Snapshot. No Textual here.

`Collector` keeps the little state that makes ticks cheap (cached settings, pids,
cgroup paths, the last hugepage read); everything it returns is a frozen Snapshot.
"""

from __future__ import annotations

from ..model import Error, Snapshot
from ..source import Source
from .guests import GuestCollector
from .host import collect_host


class Collector:
    def __init__(self, source: Source, settings_every: float = 30.0, numa_maps_every: float = 60.0):
        self.source = source
        self.guests = GuestCollector(source, settings_every, numa_maps_every)

    def collect(self) -> Snapshot:
        self.source.before_tick()
        errors: list[Error] = []
        host = collect_host(self.source.fs, errors)
        guests, disconnected = (), False
        if self.source.hv is not None:
            online = host.cpu_ids
            guests, disconnected = self.guests.collect(online, errors)
        return Snapshot(time=self.source.now(), host=host, guests=guests,
                        errors=tuple(errors), disconnected=disconnected)


__all__ = ["Collector"]
