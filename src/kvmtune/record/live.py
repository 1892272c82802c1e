"""Recording what a feed shows: what `kvmtune record` and the TUI's record key share.

Each snapshot goes in as the feed gave it (never the UI's carry-over). Actions are taken
from the audit log the host's actions go to, so an action made by any kvmtune process
(this TUI, `kvmtune apply`, another TUI) while recording is in the recording; each is
stored at the time of the first sample taken after it, the moment its effect can show.
"""

from __future__ import annotations

import os
from pathlib import Path

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
        self.actions = 0

    @property
    def samples(self) -> int:
        return self.recorder.samples

    @property
    def size(self) -> int:
        return self.recorder.size

    def add(self, snap: Snapshot) -> None:
        """Record one snapshot and the actions logged on this source since the last one."""
        entries, self._offset = self.log.since(self._offset)
        for e in entries:
            if e.get("source") == self.source:
                self.recorder.add_event("action", snap.time, e)
                self.actions += 1
        self.recorder.add(snap)

    def close(self) -> None:
        self.recorder.close()
