"""The status line: one message at a time, gone after a while, every one kept for the log
screen (`L`), where a message longer than the line is read in full."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from textual.widgets import Static

from .markup import escape

# how long a message stays: what went wrong stays longer than what went right
EXPIRE_S = {"info": 15.0, "ok": 15.0, "warning": 30.0, "error": 60.0}
KEPT = 200   # messages the log screen lists


@dataclass
class Message:
    time: float
    level: str
    text: str
    count: int = 1   # the same message again: counted, not listed twice


class StatusLine:
    """`set_status` and what the log screen lists. Needs a KvmtuneApp."""

    query_one: Any
    set_timer: Any
    size: Any

    def _init_status(self) -> None:
        self.messages: deque[Message] = deque(maxlen=KEPT)
        self._status_shown: Message | None = None
        self._status_timer: Any = None

    def set_status(self, text: str, level: str = "info") -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.text == text and last.level == level:
            last.count += 1
            last.time = time.time()
            msg = last
        else:
            msg = Message(time.time(), level, text)
            self.messages.append(msg)
        self._status_shown = msg
        st = self.query_one("#status", Static)
        st.set_classes(f"status-{level}")
        room = self.size.width - 2   # (app.tcss #status: one cell of padding each side)
        shown = text
        if cell_len(text) > room:
            more = " … (L: in full)"
            shown = text[:max(0, room - len(more))] + more
        st.update(escape(shown))
        if self._status_timer is not None:
            self._status_timer.stop()
        self._status_timer = self.set_timer(EXPIRE_S.get(level, 15.0), self._status_expired)

    def _status_expired(self) -> None:
        self._status_timer = None
        self._status_shown = None
        st = self.query_one("#status", Static)
        st.set_classes("")
        st.update("")

    @property
    def status_text(self) -> str:
        """The message on the status line now, in full ("" once it has expired)."""
        return "" if self._status_shown is None else self._status_shown.text
