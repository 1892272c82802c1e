"""The full-screen view: header, guest table, nine detail panes, and a key for every action.

The app is given a feed (feed.py: live host, demo, later a replay) and an executor (or None: nothing can be
tuned), as Harlequin's app takes its adapter. A thread worker takes the feed's next snapshot, turns it into a
frame (frame.py) and the table's rows, and hands them to the UI thread in a `SnapshotReady` message; the next
poll is armed only when that one was shown, so polls never pile up and the UI thread only renders. Actions run
in a worker too and come back as `ActionDone`. The view state (sort, filter, pane, stale) is reactive: changing
it re-renders what shows it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Key, Resize
from textual.filter import LineFilter
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from .. import fmt, gcfreeze
from ..actions import Executor
from ..feed import Feed
from ..frame import Frame, Framer
from ..model import Guest, Snapshot
from . import headertext, palette, panes
from .acting import Acting, ActionDone
from .advising import Advising
from .filtering import Filtering
from .findings import FindingList
from .footer import FitFooter
from .keys import ACTION_KEYS, BINDINGS
from .livetext import LiveText
from .paneview import PaneScroll, PaneView
from .perfpane import PerfToggle
from .recording import Recordable
from .replaying import Replaying
from .screens import Viewing
from .sorting import Sorting
from .status import StatusLine
from .table import GuestTable, Rows
from .terminal import TerminalWatch
from .themes import NoColorEmphasis, load_themes, resolve

COMPACT_BELOW = 32   # terminal rows under which the header packs nodes side by side
# seconds of a poll spent reading guests' settings: the first screen of a large host shows
# every guest at once (issue 17: <= 1 s; 0.05 s of settings, not 0.1: the 1000-guest demo's
# first screen 1.16 -> 1.06-1.10 s), and the polls right after it read the rest, each as long
# as a tick may take (a 1000-guest tick costs ~1-2 s anyway: a small share would make reading
# them all take minutes). A small host's guests all fit in it (2-20 ms each).
SETTINGS_BUDGET_S = (0.05, 2.0)

class SnapshotReady(Message):
    """A poll finished: its frame and table rows, or the error that stopped it."""

    def __init__(self, frame: Frame | None, rows: Rows | None, error: str | None, taken: float = 0.0) -> None:
        super().__init__()
        self.frame, self.rows, self.error = frame, rows, error
        self.taken = taken   # the app's clock when the poll began to collect it


class KvmtuneApp(Replaying, Recordable, Acting, Advising, Viewing, Sorting, Filtering, PerfToggle, PaneView,
                 StatusLine, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "kvmtune"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [*BINDINGS]   # App's type; keys.BINDINGS are all Binding

    # the view state: a change re-renders what shows it
    sort_key: reactive[str] = reactive("name", init=False)
    sort_reverse: reactive[bool] = reactive(False, init=False)
    name_filter: reactive[str] = reactive("", init=False)
    pane_index: reactive[int] = reactive(0, init=False)
    stale: reactive[bool] = reactive(False, init=False)   # libvirtd gone: the last guests, greyed

    def __init__(self, feed: Feed, executor: Executor | None = None, *, interval: float = 2.0,
                 read_only: bool = False, dry_run: bool = False, theme: str | None = None,
                 record: str | None = None, start_at: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.feed = feed
        self.executor = executor
        self.interval = interval
        self.read_only = read_only
        self.dry_run = dry_run
        self._init_status()
        self._init_recording(record)
        self._init_replay(start_at)
        self.framer = Framer()               # used by the poll worker only (polls never overlap)
        self.frame: Frame | None = None
        self.rows: Rows = {}
        # the frames and rows _show replaced, let go by the next poll's thread: freeing a
        # snapshot of every guest and its rows was ~10 ms of each refresh at 1000 guests
        self._retired: list[tuple[Frame | None, Rows]] = []
        self.ticks = 0                       # snapshots shown (tests wait on it)
        self.first_time: float | None = None
        self.clock = clock                   # the header's sample age (tests freeze it)
        self.taken_at: float | None = None   # when the shown sample was taken, on that clock
        self._age_text = ""
        self._polling = False
        self._poll_again = False
        self._timer: Any = None
        self._busy = False                   # an action is running
        self._theme_names: list[str] = []
        self._want_theme = theme
        self._no_color_emphasis = NoColorEmphasis(self)
        self.pending = 0                     # guests whose settings are not read yet
        self._budget = getattr(feed, "budget_settings", None)   # (a replay's feed reads nothing)
        if self._budget is not None:
            self._budget(SETTINGS_BUDGET_S[0])

    def get_line_filters(self) -> Sequence[LineFilter]:
        # NO_COLOR greys every colour: warnings and errors keep their weight (themes.py)
        filters = super().get_line_filters()
        return [self._no_color_emphasis, *filters] if self.no_color else filters

    # -- what the screens read ---------------------------------------------------------------
    @property
    def snap(self) -> Snapshot | None:
        return None if self.frame is None else self.frame.snap

    @property
    def cpu_pct(self) -> dict[int, float | None]:
        return {} if self.frame is None else dict(self.frame.cpu_pct)

    @property
    def can_act(self) -> bool:
        return self.executor is not None and not self.read_only

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield LiveText(id="header")
        yield Input(placeholder="filter guests by name (Enter keeps it, Esc clears)", id="filter")
        yield Input(placeholder="go to HH:MM[:SS] or YYYY-MM-DD HH:MM[:SS] (Enter goes, Esc cancels)", id="goto")
        yield GuestTable(id="guests")
        with Horizontal(id="detail"):
            with TabbedContent(id="panes"):
                for i, (key, title) in enumerate(panes.PANES):
                    if key == "advice":   # a summary line over a list to move in (ui/advising.py)
                        with TabPane(f"{i + 1} {title}", id=f"tab-{key}"):
                            yield LiveText(id=f"pane-{key}", classes="pane")
                            yield FindingList(id="advice-list")
                        continue
                    with TabPane(f"{i + 1} {title}", id=f"tab-{key}"), PaneScroll(id=f"scroll-{key}"):
                        yield LiveText(id=f"pane-{key}", classes="pane")
            with Vertical(id="side"):   # a second pane on wide terminals (ui/paneview.py)
                yield LiveText(id="side-title")
                with PaneScroll(id="scroll-side"):
                    yield LiveText(id="pane-side", classes="pane")
        yield Static(id="pane-more")
        yield Static(id="status")
        yield FitFooter()

    def on_mount(self) -> None:
        themes = load_themes()
        for t in themes:
            self.register_theme(t)
        self._theme_names = [t.name for t in themes]
        name = resolve(self._want_theme, self._theme_names)
        if name is None:
            self.set_status(f"no theme {self._want_theme!r}; themes: {', '.join(self._theme_names)}", "warning")
            name = self._theme_names[0]
        self.theme = name
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.query_one(GuestTable).focus()
        self._render_header()
        self.record_on_start()
        self.start_poll()
        self.set_interval(0.5, self._age_tick)   # the age grows while a collection is late

    # -- reactive view state -----------------------------------------------------------------
    def _theme_changed(self, _theme: object) -> None:
        # the table's cell colours come from the theme: repaint them once its variables are in
        # (theme_changed_signal comes after Textual's CSS refresh; watch_theme came before it,
        # and painted the previous theme's colours). A frame shown means the table exists.
        if self.frame is not None:
            self._render_table(force=True)

    def watch_name_filter(self, needle: str) -> None:
        self._render_table()
        self._render_pane()
        if needle and self.rows and not any(needle.lower() in n.lower() for n in self.rows):
            self.set_status(f"no guest name contains {needle!r} (Esc clears the filter)", "warning")

    def watch_pane_index(self, index: int) -> None:
        self.query_one(TabbedContent).active = f"tab-{panes.PANES[index][0]}"
        self._render_pane()
        if self.zoomed:   # the new pane takes the focus (its scroll keys)
            self.call_after_refresh(self.focus_pane)

    def watch_stale(self, stale: bool) -> None:
        # (its badge is drawn by the header, which _show renders right after)
        self.query_one(GuestTable).set_class(stale, "stale")

    # -- polling ---------------------------------------------------------------------------
    def start_poll(self) -> None:
        """Collect now, unless a poll is running (then once more right after it)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._polling:
            self._poll_again = True
            return
        self._polling = True
        self._poll()

    @work(thread=True, exclusive=False, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        # post_message, not call_from_thread: that blocks on a future, and if the app quits
        # meanwhile the worker (and so the process) hangs.
        taken = self.clock()
        self.let_go()
        try:
            snap = self._next_snapshot()
            if snap is None:   # the end of a replay, nothing new written
                self.post_message(SnapshotReady(None, None, None))
                return
            frame = self.framer.push(snap)
            self._record_sample(frame.raw)
            rows = self.advice_rows(frame)   # (the `!` column without the muted findings)
        except Exception as e:  # a collector bug must not kill the view: say it, keep polling
            self.post_message(SnapshotReady(None, None, f"collection failed: {e}"))
            return
        self.post_message(SnapshotReady(frame, rows, None, taken))

    def let_go(self) -> None:
        """Free the frames _show replaced: by the poll's thread, off the UI thread."""
        retired, self._retired = self._retired, []
        del retired

    @on(SnapshotReady)
    def _snapshot_ready(self, message: SnapshotReady) -> None:
        self._polling = False
        if message.frame is not None and message.rows is not None:
            self.taken_at = message.taken
            self._show(message.frame, message.rows)
        elif message.error:
            self.set_status(message.error, "error")
        if self._poll_again:
            self._poll_again = False
            self.start_poll()
        elif (delay := self.poll_delay()) is not None:
            # guests still without settings: the next poll reads more of them now
            self._timer = self.set_timer(min(delay, 0.05) if self.pending else delay, self.start_poll)

    def _show(self, frame: Frame, rows: Rows) -> None:
        if len(self._retired) < 4:   # (no poll ran since: freed here, as before)
            self._retired.append((self.frame, self.rows))
        self.frame, self.rows = frame, rows
        if self.first_time is None:
            self.first_time = frame.snap.time
        self.ticks += 1
        self.pending = sum(g.settings_pending for g in frame.snap.guests)
        self.stale = frame.stale
        self._render_header()
        self._render_table()
        self._render_pane()
        if self.ticks == 1 and self._budget is not None:
            self._budget(SETTINGS_BUDGET_S[1])
        if not self.pending:
            # every guest's settings are read (the first screen or a few polls later) and the
            # table holds every row: keep full collections off what exists
            gcfreeze.after_startup()

    # -- rendering -------------------------------------------------------------------------
    def badges(self) -> list[str]:
        out = ["REPLAY"] if self.replay is not None else []
        if self.read_only:
            out.append("READ-ONLY")
        if self.dry_run:
            out.append("DRY-RUN")
        if self.recording:
            out.append(self.recording_badge())
        if self.stale:
            out.append("DISCONNECTED")
        if self.pending and self.snap is not None:
            out.append(f"settings {len(self.snap.guests) - self.pending}/{len(self.snap.guests)}")
        return out

    def _render_header(self) -> None:
        f = self.shown_frame(self.frame)   # (without the host's muted findings)
        secs = 0.0 if f is None or self.first_time is None else f.snap.time - self.first_time
        age = self.sample_age()
        self._age_text = "" if age is None else fmt.age(age)
        text = headertext.header(f, view_seconds=secs, interval=self.interval, badges=self.badges(),
                                 width=self.size.width, compact=self.size.height < COMPACT_BELOW,
                                 replay=self.replay is not None, age=age)
        self.query_one("#header", LiveText).show(self.with_replay_line(text))

    def sample_age(self) -> float | None:
        """Seconds since the shown sample was taken; None in a replay (its time is the recorded one)."""
        if self.replay is not None or self.taken_at is None or self.frame is None:
            return None
        return max(0.0, self.clock() - self.taken_at)

    def _age_tick(self) -> None:
        age = self.sample_age()
        if age is not None and fmt.age(age) != self._age_text:   # redraw only when the text changes
            try:
                self._render_header()
            except NoMatches:   # (a timer: it can fire while the app closes, its widgets gone; CI saw it)
                return

    def _render_table(self, force: bool = False) -> None:
        if self.frame is None:
            return
        t = self.query_one(GuestTable)
        v = self.theme_variables
        t.set_colours({"warning": v.get("warning", "yellow"), "error": v.get("error", "red"),
                       "muted": v.get("text-muted", "dim")})
        t.show(self.rows, self.sort_key, self.sort_reverse, self.name_filter,
               width=self.size.width, force=force)

    def selected_guest(self) -> Guest | None:
        if self.snap is None:
            return None
        name = self.query_one(GuestTable).selected
        return self.snap.guest(name) if name else None

    # -- events ----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#guests")
    def _row_changed(self) -> None:
        self._render_pane()

    @on(TabbedContent.TabActivated, "#panes")
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        ids = [f"tab-{k}" for k, _ in panes.PANES]
        if event.pane.id in ids:
            self.pane_index = ids.index(event.pane.id)

    def on_resize(self, event: Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Everything drawn for the terminal's size (also called by paneview.PaneView when a
        pane finds the terminal resized: the app's on_resize only sees the first size)."""
        self._render_header()
        self._render_table()
        self._render_pane()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.name_filter = event.value.strip()
        # (also here: keys typed fast reach the input after the Enter that closed it)
        if self.name_filter:
            event.input.add_class("open")
        elif not self._filter_focused():
            event.input.remove_class("open")

    def on_key(self, event: Key) -> None:
        # in read-only or a replay the action bindings are disabled; say why instead of doing nothing
        if len(self.screen_stack) == 1 and not self._filter_focused() and (why := self.refusal(event.key)):
            self.set_status(why, "warning")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "interrupt":
            return True   # Ctrl+C quits from anywhere
        if len(self.screen_stack) > 1 and action not in ("next_pane", "command_palette"):
            return False  # a form or another view is open: its own keys only
        if (pane := self.pane_check(action)) is not None:
            return pane   # the zoom's Esc only while zoomed
        if not self.replay_check(action):
            return False  # time travel keys outside a replay, the filter's while going to a time
        if action in ("filter", "filter_done", "filter_clear"):
            # '/' opens the filter (and is typed once it is open); enter/escape close it
            return self._filter_focused() != (action == "filter")
        name = str(parameters[0]) if action == "form" and parameters else action
        # an action key where nothing can be tuned: not in the footer; pressing it says why (on_key)
        return self.can_act or name not in ACTION_KEYS

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        """The command palette (Ctrl+P) offers every key's action, sorts and panes too (palette.py)."""
        yield from super().get_system_commands(screen)
        if screen is self.screen_stack[0]:
            yield from palette.commands(self)

    # -- navigation actions ------------------------------------------------------------------
    def action_pane(self, index: int) -> None:
        self.pane_index = index % len(panes.PANES)

    def action_next_pane(self, step: int = 1) -> None:
        if len(self.screen_stack) > 1:
            self.screen.focus_next() if step > 0 else self.screen.focus_previous()
            return
        self.action_pane(self.pane_index + step)

    async def action_interrupt(self) -> None:
        await self.action_quit()   # what q does (it asks nothing), as Ctrl+C in top and htop

    def action_theme(self) -> None:
        names = self._theme_names
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.set_status(f"theme {self.theme}")


def run_app(feed: Feed, args: argparse.Namespace, watch: TerminalWatch) -> int:
    """`kvmtune` with no command: the full-screen view on `feed`, ending if the terminal goes."""
    source = feed.source
    executor = None if source is None else Executor(source, read_only=args.read_only,
                                                     dry_run=args.dry_run)
    app = KvmtuneApp(feed, executor, interval=args.interval, read_only=args.read_only,
                     dry_run=args.dry_run, theme=getattr(args, "theme", None),
                     record=getattr(args, "record", None), start_at=getattr(args, "start_at", None))
    return watch.run(app)


__all__ = ["ActionDone", "KvmtuneApp", "SnapshotReady", "TerminalWatch", "run_app"]
