"""Time travel in a replay (`kvmtune replay FILE`): play/pause, step, jumps, go to a time,
the previous/next recorded action or error, speed. Mixed into KvmtuneApp.

The cursor lives in the ReplayFeed (record/replay.py); keys only move it and ask for a
poll. A jump resets the Framer and, in the poll worker, pushes the samples before the
target first, so the rates show at once and the sparklines have their history. Decoding
any sample decodes its chain from the key before it, so the history is refilled from
that key (for the guest on screen only, the others are not built): it costs little more
than the jump itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.widgets import Input

from .. import fmt, inputs
from ..errors import RecordingError
from ..frame import HISTORY, Framer
from ..model import Snapshot
from ..record.replay import ReplayFeed
from .keys import ACTION_KEYS

REPLAY_ACTIONS = {"play", "step", "jump", "goto", "goto_done", "goto_cancel", "event", "speed"}


class Replaying:
    """Needs a KvmtuneApp."""

    # provided by KvmtuneApp (and Textual's App)
    feed: Any
    framer: Framer
    set_status: Callable[..., None]
    start_poll: Callable[[], None]
    query_one: Callable[..., Any]
    selected_guest: Callable[[], Any]
    _render_header: Callable[[], None]
    screen: Any
    read_only: bool
    first_time: float | None
    executor: Any
    _record_pending: Callable[[], None]   # (ui/recording.py)
    focused: Any
    size: Any

    def _init_replay(self, start_at: int | None) -> None:
        self.playing = False                  # a replay opens paused (space plays)
        self._jump_lock = threading.Lock()
        self._jump: tuple[int, tuple[str, ...]] | None = None
        if self.replay is not None and start_at is not None:
            self._jump = (start_at, ())

    def on_mount(self) -> None:
        # (KvmtuneApp.on_mount runs first: Textual calls each class's handler)
        r = self.replay
        if r is None:
            return
        self.first_time = r.rec.times[0]   # the header's "up": time since the recording began
        if r.rec.newer:
            by = r.rec.meta.get("created_by", "a newer kvmtune")
            self.set_status(f"made by {by} with a newer schema: read with what this version knows", "warning")
        else:
            self.set_status("replay: paused (space plays, ? shows the keys)")

    @property
    def replay(self) -> ReplayFeed | None:
        return self.feed if isinstance(self.feed, ReplayFeed) else None

    # -- the poll worker's side ----------------------------------------------------------------
    def _next_snapshot(self) -> Snapshot | None:
        """The feed's next snapshot; in a replay, after a pending jump, and None at the end of
        the file when nothing more was written (called in the poll worker)."""
        r = self.replay
        if r is None:
            self._record_pending()    # (ui/recording.py) actions logged since, before collecting
            return self.feed.next()   # type: ignore[no-any-return]
        with self._jump_lock:
            jump, self._jump = self._jump, None
        if jump is not None:
            self._refill(r, *jump)
            r.seek(jump[0])
        elif r.at_end and not r.refresh():
            return None
        return r.next()

    def _refill(self, r: ReplayFeed, index: int, names: tuple[str, ...]) -> None:
        self.framer.reset()
        if index <= 0:
            return
        try:
            for i in range(max(r.key_start(index - 1), index - HISTORY), index - 1):
                self.framer.push(r.snapshot(i, names))
            self.framer.push(r.snapshot(index - 1))   # the whole sample before: rates at once
        except RecordingError:
            self.framer.reset()                      # a damaged sample: no rates this once

    def poll_delay(self) -> float | None:
        """Seconds until the next poll; None: no poll (a paused replay, or its end)."""
        r = self.replay
        if r is None:
            return float(getattr(self, "interval", 2.0))
        if not self.playing:
            return None
        if r.at_end:
            if r.growing():
                self.set_status("at the end of a file still being recorded: waiting for more samples")
                return r.interval
            self.playing = False
            self.set_status(f"end of the recording ({len(r)} samples): paused", "warning")
            self._render_header()
            return None
        return r.poll_interval

    # -- what the header shows -----------------------------------------------------------------
    def with_replay_line(self, header: str) -> str:
        """The header with, in a replay, the recorded time and the timeline under its first line."""
        if self.replay is None:
            return header
        first, _, rest = header.partition("\n")
        return "\n".join(x for x in (first, self.replay_line(self.size.width), rest) if x)

    def replay_line(self, width: int) -> str:
        r = self.replay
        if r is None:
            return ""
        state = "▶" if self.playing else "⏸"
        when = fmt.clock(r.time)
        count = f"{max(r.position, 0) + 1}/{len(r)}"
        head = f"{state} {r.speed:g}x  {when}  "
        bar = fmt.timeline(max(r.position, 0), len(r), max(8, width - 2 - len(head) - len(count) - 2))
        return f"[b]{head}[/][$accent]{bar}[/]  {count}"

    # -- keys ----------------------------------------------------------------------------------
    def replay_check(self, action: str) -> bool | None:
        """check_action for the replay keys and, in a replay, for the action keys (hidden:
        the footer keeps room for time travel; pressing one says why, see replay_refusal)."""
        goto_open = self._goto_focused()
        if action in ("goto_done", "goto_cancel"):
            return goto_open
        if action in REPLAY_ACTIONS:
            return self.replay is not None and not goto_open
        return not (goto_open and action in ("filter", "filter_done", "filter_clear"))

    def refusal(self, key: str) -> str | None:
        """What the status line says for an action key pressed in a replay or in read-only."""
        if key not in ACTION_KEYS.values() or self._goto_focused():
            return None
        name = next(k for k, v in ACTION_KEYS.items() if v == key)
        if self.replay is not None:
            return f"replay: '{key}' ({name}) is disabled: this is a recording"
        return f"read-only: '{key}' ({name}) is disabled" if self.read_only else None

    def disabled_keys(self) -> dict[str, str]:
        """For the help: the keys that are off, and why."""
        if self.executor is not None and not self.read_only:
            return {}
        return dict.fromkeys(ACTION_KEYS.values(), "replay" if self.replay is not None else "read-only")

    def _goto_focused(self) -> bool:
        f = self.focused
        return f is not None and f.id == "goto"

    def _go(self, index: int, what: str = "") -> None:
        """Show sample `index`: the next one is a plain poll (continuous rates), any other a jump."""
        r = self.replay
        if r is None:
            return
        if index != r.position + 1 or r.position < 0:
            g = self.selected_guest()
            with self._jump_lock:
                self._jump = (index, (g.name,) if g is not None else ())
        else:
            r.seek(index)
        if what:
            self.set_status(what)
        self.start_poll()

    def action_play(self) -> None:
        r = self.replay
        if r is None:
            return
        if not self.playing and r.at_end and not r.growing():
            self.set_status("at the end of the recording: step back or go to a time first", "warning")
            return
        self.playing = not self.playing
        self.set_status(f"playing at {r.speed:g}x" if self.playing else "paused")
        self._render_header()
        if self.playing:
            self.start_poll()

    def action_step(self, n: int) -> None:
        r = self.replay
        if r is not None:
            self._pause()
            if n > 0 and r.at_end:
                self.set_status("at the last sample", "warning")
                return
            self._go(r.target(n))

    def action_jump(self, seconds: int) -> None:
        r = self.replay
        if r is not None:
            target = r.index_after(seconds)
            if seconds > 0 and target == r.position and not r.at_end:
                target = r.position + 1   # a gap in the recording: at least one sample on
            what = f"{'+' if seconds > 0 else '-'}{abs(seconds) // 60} min: {fmt.clock(r.rec.times[target])}"
            self._go(target, what)

    def action_event(self, step: int) -> None:
        r = self.replay
        if r is None:
            return
        found = r.event_near(forward=step > 0)
        if found is None:
            self.set_status(f"no recorded action or error {'after' if step > 0 else 'before'} this sample",
                            "warning")
            return
        index, ev = found
        self._pause()
        self._go(index, f"{ev.kind} at {fmt.clock(ev.time)}: {ev.summary}")

    def action_speed(self) -> None:
        r = self.replay
        if r is not None:
            self.set_status(f"speed {r.cycle_speed():g}x (a sample every {r.poll_interval:.3g}s)")
            self._render_header()

    def action_goto(self) -> None:
        box = self.query_one("#goto", Input)
        box.value = ""
        box.add_class("open")
        self.screen.set_focus(box)

    def action_goto_cancel(self) -> None:
        self._close_goto()

    def action_goto_done(self) -> None:
        text = self.query_one("#goto", Input).value
        self._close_goto()
        r = self.replay
        if r is None or not text.strip():
            return
        try:
            when = r.resolve(inputs.moment(text))
        except ValueError as e:
            self.set_status(str(e), "error")
            return
        times = r.rec.times
        index = r.index_at(when)
        note = ""
        if when < times[0]:
            note = " (before the recording starts: its first sample)"
        elif when > times[-1]:
            note = " (after the recording ends: its last sample)"
        self._pause()
        self._go(index, f"at {fmt.clock(times[index])}{note}")

    def _close_goto(self) -> None:
        box = self.query_one("#goto", Input)
        box.remove_class("open")
        from .table import GuestTable
        self.screen.set_focus(self.query_one(GuestTable))

    def _pause(self) -> None:
        if self.playing:
            self.playing = False
            self._render_header()
