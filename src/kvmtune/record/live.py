"""Recording what a feed shows: what `kvmtune record` and the TUI's record key share.

Each snapshot goes in as the feed gave it (never the UI's carry-over). Actions are taken
from the audit log the host's actions go to, so an action made by any kvmtune process
(this TUI, `kvmtune apply`, another TUI) while recording is in the recording. Before each
collection the caller calls `before_collect(feed)`: actions logged since are filed with the snapshot
about to be taken, and the guests they name are to be re-read by it (`LiveFeed.reread`):
another process's change raises no libvirt event for most settings (blkiotune), and the
collector would otherwise show the cached value for up to half a minute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..actions.auditlog import AuditLog
from ..errors import RecordingError
from ..feed import LiveFeed
from ..model import Snapshot
from .writer import Recorder


class LiveRecording:
    def __init__(self, path: str | os.PathLike[str], *, source: str, interval: float,
                 log_path: str | os.PathLike[str] | None = None, max_size: int | None = None):
        self.path = Path(path)
        self.source = source
        self.recorder = Recorder(path, source=source, interval=interval, max_size=max_size)
        self.log = AuditLog(log_path)
        self._offset = self.log.size()     # only what is done from now on
        self._waiting: list[dict[str, Any]] = []   # found in the log: filed with the next snapshot
        self._last: float | None = None
        self._asked = False        # pending() was called since the last add
        self._closed = False
        self.actions = 0

    @property
    def samples(self) -> int:
        return self.recorder.samples

    @property
    def size(self) -> int:
        return self.recorder.size

    def before_collect(self, feed: object) -> None:
        """Call before each collection: the actions logged since (by any process) are filed
        with the snapshot about to be taken, and that snapshot re-reads their guests."""
        guests = self.pending()
        if guests and isinstance(feed, LiveFeed):
            feed.reread(guests)

    def pending(self) -> set[str]:
        """Take the actions logged since the last look (filed with the next snapshot added)
        and return the guests they name."""
        entries, self._offset = self.log.since(self._offset)
        new = [e for e in entries if e.get("source") == self.source]
        self._waiting += new
        self._asked = True
        return {str(e["target"]) for e in new if e.get("target") not in (None, "host")}

    def add(self, snap: Snapshot) -> None:
        """Record one snapshot, with the actions logged before its collection (a caller that
        did not call `before_collect`: every action logged until now), in one commit."""
        if not self._asked:
            self.pending()
        self.recorder.add(snap, self._waiting)   # a failed write keeps them waiting
        self.actions += len(self._waiting)
        self._waiting, self._asked = [], False
        self._last = snap.time

    def close(self) -> None:
        """Close the file (once); actions logged after the last sample are filed with it."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._last is not None:
                self.pending()
                for e in self._waiting:
                    self.recorder.add_event("action", self._last, e)
        except RecordingError:
            pass   # the file cannot take them (full disk): they stay in the audit log, and closing goes on
        finally:
            self.recorder.close()
