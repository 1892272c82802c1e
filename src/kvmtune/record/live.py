"""Recording what a feed shows: what `kvmtune record` and the TUI's record key share.

Each snapshot goes in as the feed gave it (never the UI's carry-over). Actions are taken
from the audit log the host's actions go to, so an action made by any kvmtune process
(this TUI, `kvmtune apply`, another TUI) while recording is in the recording; each is
stored with the first sample whose collection began after it was logged, the first
sample that surely shows its effect.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..actions.auditlog import AuditLog
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
        self._waiting: list[dict[str, Any]] = []   # logged while the last sample was being taken
        self.actions = 0

    @property
    def samples(self) -> int:
        return self.recorder.samples

    @property
    def size(self) -> int:
        return self.recorder.size

    def add(self, snap: Snapshot, started: float | None = None) -> None:
        """Record one snapshot, with the actions on this source logged before `started` (the
        wall-clock time its collection began; None: every action logged so far). One logged
        later may have come too late for this snapshot: it waits for the next."""
        entries, self._offset = self.log.since(self._offset)
        mine = self._waiting + [e for e in entries if e.get("source") == self.source]
        self._waiting = [] if started is None else [
            e for e in mine if not isinstance(e.get("time"), (int, float)) or e["time"] >= started]
        for e in mine:
            if not any(e is w for w in self._waiting):
                self.recorder.add_event("action", snap.time, e)
                self.actions += 1
        self.recorder.add(snap)

    def close(self) -> None:
        self.recorder.close()
