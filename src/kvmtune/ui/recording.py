"""Recording from the TUI: `R` starts and stops, `--record FILE` starts with it on. Mixed into
KvmtuneApp.

Each poll's raw snapshot (the feed's, never the carried-over stale guests) is added in the
poll worker, after the frame is made; a write error stops the recording and says why,
and the view goes on. Recording changes nothing on the host, so it works in --read-only;
a replay cannot be recorded (it is a recording already).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from textual.message import Message

from .. import fmt
from ..errors import RecordingError
from ..model import Snapshot
from ..record.live import LiveRecording


class RecordingStopped(Message):
    """The poll worker could not write a sample: recording stopped, for this reason."""

    def __init__(self, reason: str, recorder: LiveRecording) -> None:
        super().__init__()
        self.reason, self.recorder = reason, recorder


def default_name(host: str, when: float | None = None) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host) or "host"
    return f"kvmtune-{safe}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}.kvmrec"


class Recordable:
    """Needs a KvmtuneApp."""

    # provided by KvmtuneApp (and Textual's App)
    feed: Any
    executor: Any
    interval: float
    replay: Any
    set_status: Callable[..., None]
    post_message: Callable[[Message], bool]
    _render_header: Callable[[], None]

    def _init_recording(self, path: str | None) -> None:
        self.recorder: LiveRecording | None = None
        self._record_lock = threading.Lock()   # the worker adds while the UI thread may stop
        self._record_first = path              # --record FILE: started on mount

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def recording_badge(self) -> str:
        r = self.recorder
        return "RECORDING" if r is None else f"RECORDING {fmt.size_text(r.size / 1024)}"

    def record_on_start(self) -> None:
        if self._record_first:
            self.start_recording(self._record_first)

    def on_unmount(self) -> None:
        self.stop_recording(quiet=True)   # the app has ended (a test's too): close the file

    def start_recording(self, path: str | None = None) -> bool:
        if self.replay is not None:
            self.set_status("recording is not available in a replay: this is a recording already", "warning")
            return False
        if path is None:
            snap = getattr(self, "snap", None)
            path = default_name(snap.host.hostname if snap is not None else self.feed.label)
        ex = self.executor
        try:
            rec = LiveRecording(path, source=ex.source.label if ex is not None else self.feed.label,
                                interval=self.interval, log_path=ex.log.path if ex is not None else None)
        except (RecordingError, OSError) as e:
            self.set_status(f"cannot record: {e}", "error")
            return False
        with self._record_lock:
            self.recorder = rec
        self.set_status(f"recording to {rec.path} (R stops)", "ok")
        self._render_header()
        return True

    def stop_recording(self, reason: str | None = None, rec: LiveRecording | None = None,
                       quiet: bool = False) -> None:
        """Stop and close the recording (quiet: the app has ended, there is no screen to tell)."""
        if rec is None:
            with self._record_lock:
                rec, self.recorder = self.recorder, None
        if rec is None:
            return
        size = fmt.size_text(rec.size / 1024)
        try:
            rec.close()
        except (RecordingError, OSError):
            pass   # every sample is committed as it is added: nothing is lost by this
        if quiet:
            return
        if reason is None:
            self.set_status(f"recorded {rec.samples} samples ({size}) to {rec.path}")
        else:
            self.set_status(f"recording stopped: {reason}", "error")
        self._render_header()

    def action_record(self) -> None:
        if self.recorder is not None:
            self.stop_recording()
        else:
            self.start_recording()

    def _record_pending(self) -> None:
        """In the poll worker, before collecting: an action logged since (by any process) is
        filed with the coming sample, and that sample re-reads its guest's settings."""
        with self._record_lock:
            if self.recorder is not None:
                self.recorder.before_collect(self.feed)

    def _record_sample(self, raw: Snapshot) -> None:
        """In the poll worker: add this poll's raw snapshot to the recording, if one is on."""
        with self._record_lock:
            rec = self.recorder
            if rec is None:
                return
            try:
                rec.add(raw)
            except (RecordingError, OSError) as e:
                self.recorder = None          # no more adds; the UI thread closes it
                self.post_message(RecordingStopped(str(e), rec))

    def on_recording_stopped(self, message: RecordingStopped) -> None:
        self.stop_recording(message.reason, message.recorder)


__all__ = ["Recordable", "RecordingStopped", "default_name"]
