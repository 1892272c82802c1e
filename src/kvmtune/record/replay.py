"""A recording as a feed: `kvmtune replay` shows it in the same TUI as a live host.

ReplayFeed yields the recorded Snapshots one after another from a cursor that can be moved
(seek, step, a time, the previous or next recorded action or error). It has no source, so
the TUI runs it with no executor: every action is disabled by construction. Speed is how
many recorded seconds pass per second of replay; the UI polls every interval / speed.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Collection
from pathlib import Path

from ..inputs import Moment
from ..model import Snapshot
from .store import Event, Recording

SPEEDS = (1.0, 2.0, 10.0, 60.0)
DEFAULT_INTERVAL = 2.0   # a recording that does not say its interval
MAX_GAP = 5              # recorded intervals: a longer pause between two samples plays as this long
GROWING_FOR = 3          # recorded intervals since the file's last write: still being recorded


class ReplayFeed:
    """The samples of a Recording from a cursor; `next()` gives the one under it and moves on."""

    def __init__(self, recording: Recording, speed: float = 1.0):
        self.rec = recording
        self.label = f"replay {recording.path.name}"
        self.speed = speed
        self.position = -1            # the sample last given by next() (-1: none yet)
        self._next = 0                # the sample next() gives
        self._set_events(recording.events())

    # -- the Feed protocol -------------------------------------------------------------------
    @property
    def source(self) -> None:
        return None                   # a recording cannot be tuned

    def next(self) -> Snapshot:
        """The sample under the cursor; the cursor moves to the one after it (RecordingError
        for a damaged sample: the cursor has moved on all the same, so replay goes on)."""
        if self._next >= len(self.rec):
            self.refresh()
        i = min(self._next, len(self.rec) - 1)
        if i < 0:
            raise IndexError("the recording has no samples")
        self.position, self._next = i, i + 1
        return self.rec.snapshot(i)

    def close(self) -> None:
        self.rec.close()

    # -- the cursor --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rec)

    @property
    def interval(self) -> float:
        """The recorded interval in seconds."""
        return self.rec.interval or DEFAULT_INTERVAL

    @property
    def poll_interval(self) -> float:
        """Seconds until the next sample at this speed: the recorded time between the two (1x is
        real time, whatever interval the recorder was given), a long gap (the recorder was
        stopped) cut to a few intervals."""
        times, i = self.rec.times, self.position
        gap = times[i + 1] - times[i] if 0 <= i < len(times) - 1 else self.interval
        return min(max(gap, 0.0), MAX_GAP * self.interval) / self.speed

    def cycle_speed(self) -> float:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else -1
        self.speed = SPEEDS[(i + 1) % len(SPEEDS)]
        return self.speed

    @property
    def at_end(self) -> bool:
        """The sample shown is the last one recorded (so far)."""
        return self._next >= len(self.rec)

    @property
    def time(self) -> float | None:
        """The recorded time of the sample shown (of the first one before any is)."""
        times = self.rec.times
        if not times:
            return None
        return times[max(self.position, 0)]

    def seek(self, index: int) -> int:
        """Make sample `index` (clamped to the file) the one next() gives; returns it."""
        index = max(0, min(index, len(self.rec) - 1))
        self._next = index
        return index

    def target(self, n: int) -> int:
        """The sample n samples from the one shown, clamped to the file."""
        return max(0, min(max(self.position, 0) + n, len(self.rec) - 1))

    def step(self, n: int) -> int:
        """Seek n samples from the one shown (back when n < 0)."""
        return self.seek(self.target(n))

    def index_at(self, when: float) -> int:
        return self.rec.index_at(when)

    def index_after(self, seconds: float) -> int:
        """The sample `seconds` of recorded time from the one shown (the last at or before it)."""
        t = self.time
        return self.position if t is None else self.rec.index_at(t + seconds)

    def key_start(self, index: int) -> int:
        """The first sample of the chain `index` is in: decoding from there costs no more than
        decoding `index` alone, so a jump can refill history from it for free."""
        seqs, keys = self.rec.seqs, self.rec.keys
        if not 0 <= index < len(seqs):
            return max(0, index)
        return min(index, bisect_left(seqs, keys[index]))

    def snapshot(self, index: int, guests: Collection[str] | None = None) -> Snapshot:
        return self.rec.snapshot(index, guests)

    # -- events ------------------------------------------------------------------------------
    def event_near(self, forward: bool) -> tuple[int, Event] | None:
        """The first recorded event after the sample shown (forward) or the last one before it,
        and the sample where its effect shows (the first at or after its time)."""
        t = self.time
        events, times = self._events   # one read: the poll worker may swap in new ones meanwhile
        if t is None or not events:
            return None
        if forward:
            k = bisect_right(times, t)
            if k >= len(events):
                return None
        else:
            k = bisect_left(times, t) - 1
            if k < 0:
                return None
        ev = events[k]
        return min(bisect_left(self.rec.times, ev.time), len(self.rec) - 1), ev

    # -- a file still being recorded ---------------------------------------------------------
    def refresh(self) -> int:
        """Read the samples (and events) written since; how many samples are new."""
        n = self.rec.refresh()
        if n:
            self._set_events(self.rec.events())
        return n

    @property
    def events(self) -> list[Event]:
        return self._events[0]

    def _set_events(self, events: list[Event]) -> None:
        self._events = (events, [e.time for e in events])   # swapped in whole

    def growing(self, now: float | None = None) -> bool:
        """The file was written in the last few recorded intervals: a recorder is still at it."""
        now = time.time() if now is None else now
        newest = 0.0
        for p in (self.rec.path, Path(f"{self.rec.path}-wal")):
            try:
                newest = max(newest, p.stat().st_mtime)
            except OSError:
                pass
        return now - newest < GROWING_FOR * self.interval

    # -- times typed by a user ---------------------------------------------------------------
    def resolve(self, when: Moment) -> float:
        """A typed moment as a timestamp (inputs.moment: a time of day is the first at or
        after the recording's start; local time, as the header shows it)."""
        times = self.rec.times
        return when.place(times[0], times[-1]) if times else when.place(0, 0)


__all__ = ["SPEEDS", "ReplayFeed"]
