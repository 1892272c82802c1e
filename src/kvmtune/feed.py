"""Feeds: where a consumer's Snapshots come from, one after another.

A feed yields Snapshots: live collection (LiveFeed), the demo host (demo.DemoFeed, which
steps its simulated clock), later a recording being replayed. The TUI, the recorder,
`snapshot`, the exporter take a feed and turn its snapshots into frames (frame.py); none
of them knows which feed it has. `source` is what actions apply to; a feed without one
(a replay) can be watched but not tuned.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .collect import Collector
from .model import Snapshot
from .source import Source


@runtime_checkable
class Feed(Protocol):
    label: str

    @property
    def source(self) -> Source | None:
        """The host actions apply to; None when nothing can be tuned (a replay)."""

    def next(self) -> Snapshot:
        """The next snapshot (blocking: a live feed collects it now)."""

    def close(self) -> None:
        """Stop collecting and release what the feed holds (connections, temp trees)."""


class LiveFeed:
    """Snapshots collected from a Source when asked."""

    def __init__(self, source: Source, collector: Collector | None = None):
        self._source = source
        self.label = source.label
        self.collector = collector if collector is not None else Collector(source)

    @property
    def source(self) -> Source:
        return self._source

    def next(self) -> Snapshot:
        return self.collector.collect()

    def budget_settings(self, seconds: float | None) -> None:
        """Read guests' settings for at most `seconds` a tick; the others show with
        `settings_pending` and are read on the next ticks (None: every guest every tick it is due)."""
        self.collector.guests.settings_budget = seconds

    def reread(self, guests: set[str]) -> None:
        """The next snapshot reads these guests' settings afresh (another process changed them)."""
        self.collector.guests.forget(guests)

    def close(self) -> None:
        self.collector.close()
        self._source.close()
