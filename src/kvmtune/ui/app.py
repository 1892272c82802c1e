"""The full-screen view: header, guest table, six detail panes, and a key for every action.

The app is given its snapshot source and action executor (live host, demo, or a replay),
polls in a thread worker and arms the next poll only when the previous one finished, so
polls never pile up and the UI thread only renders.
"""

from __future__ import annotations

import argparse
from collections import deque
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Protocol

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Key, Resize
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from ..model import Snapshot
from ..rates import guest_rates, host_cpu_percent
from ..source import Source
from . import forms, panes
from .screens import HELP_TEXT, ConfirmScreen, HelpScreen, HostScreen, LogScreen
from .table import SORT_KEYS, GuestTable, Rows, row_values
from .themes import load_themes, resolve

COMPACT_BELOW = 32   # terminal rows under which the header packs nodes side by side
HISTORY = 150   # disk-rate samples kept per disk for the sparklines (5 minutes at 2 s)

# Keys that change something: disabled (shown dimmed) in --read-only.
ACTION_KEYS = {
    "pin": "p", "unpin": "u", "emulatorpin": "e", "move": "M", "numatune": "n", "memtune": "m",
    "throttle": "b", "weight": "w", "ksm_toggle": "k", "ksm_settings": "K", "hugepages": "h",
    "undo": "z",
}


@dataclass(frozen=True)
class Frame:
    """A snapshot and what the view derives from it (rates, table rows)."""
    snap: Snapshot
    stale: bool                      # libvirtd gone: these are the last known guests
    rates: dict
    cpu_pct: dict
    rows: Rows


class Collects(Protocol):
    def collect(self) -> Snapshot: ...


class _Call(Message):
    """A callable a worker thread hands to the UI thread."""

    def __init__(self, fn: Callable[[], None]) -> None:
        super().__init__()
        self.fn = fn


class KvmtuneApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "kvmtune"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "pin", "Pin"),
        Binding("u", "unpin", "Unpin"),
        Binding("e", "emulatorpin", "Emu"),
        Binding("M", "move", "Move"),
        Binding("n", "numatune", "Numa"),
        Binding("m", "memtune", "Mem"),
        Binding("b", "throttle", "Throttle"),
        Binding("w", "weight", "Weight"),
        Binding("k", "ksm_toggle", "KSM"),
        Binding("K", "ksm_settings", "KSM set"),
        Binding("h", "hugepages", "Huge"),
        Binding("z", "undo", "Undo"),
        Binding("L", "log", "Log"),
        Binding("H", "host", "Host"),
        Binding("t", "theme", "Theme"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort(1)", "Sort", show=False),
        Binding("greater_than_sign", "sort(1)", "Sort >", show=False, key_display=">"),
        Binding("less_than_sign", "sort(-1)", "Sort <", show=False, key_display="<"),
        Binding("S", "reverse", "Reverse sort", show=False),
        Binding("tab", "next_pane", "Next pane", show=False, priority=True),
        Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, priority=True),
        *[Binding(str(i + 1), f"pane({i})", f"Pane {i + 1}", show=False) for i in range(len(panes.PANES))],
    ]

    def __init__(self, source: Source, executor: Any = None, *, interval: float = 2.0,
                 read_only: bool = False, dry_run: bool = False, theme: str | None = None,
                 collector: Collects | None = None, recording: bool = False):
        super().__init__()
        self.source = source
        self.executor = executor
        self.interval = interval
        self.read_only = read_only
        self.dry_run = dry_run
        self.recording = recording
        if collector is None:
            from ..collect import Collector
            collector = Collector(source)
        self.collector = collector
        self.snap: Snapshot | None = None
        self.prev: Snapshot | None = None
        self.rates: dict = {}
        self.rows: Rows = {}
        self._last: Snapshot | None = None   # the poll thread's previous snapshot
        self.cpu_pct: dict[int, float | None] = {}
        self.history: dict[str, dict[str, deque]] = {}
        self.ticks = 0                       # snapshots received (tests wait on it)
        self.first_time: float | None = None
        self.stale = False                   # libvirtd gone: showing the last guests greyed
        self.sort_key = "name"
        self.sort_reverse = False
        self.name_filter = ""
        self._polling = False
        self._poll_again = False
        self._timer = None
        self._busy = False                   # an action is running
        self._theme_names: list[str] = []
        self._want_theme = theme
        self.pane_index = 0

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Input(placeholder="filter guests by name (Enter keeps it, Esc clears)", id="filter")
        yield GuestTable(id="guests")
        with TabbedContent(id="panes"):
            for i, (key, title) in enumerate(panes.PANES):
                with TabPane(f"{i + 1} {title}", id=f"tab-{key}"):
                    with VerticalScroll():
                        yield Static(id=f"pane-{key}", classes="pane")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        themes = load_themes()
        for t in themes:
            self.register_theme(t)
        self._theme_names = [t.name for t in themes]
        name = resolve(self._want_theme, self._theme_names)
        if name is None:
            self.set_status(f"no theme {self._want_theme!r}; themes: {', '.join(self._theme_names)}",
                            "warning")
            name = self._theme_names[0]
        self.theme = name
        self.query_one(GuestTable).focus()
        self._render_header()
        self.start_poll()

    def watch_theme(self, _name: str) -> None:
        # the table's cell colours come from the theme: repaint them
        if self.is_mounted and self.snap is not None:
            self._render_table(force=True)

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
        self._collect()

    def _from_thread(self, fn: Callable[..., None], *args: Any) -> None:
        """Hand a worker's result to the UI thread without waiting for it. (call_from_thread
        blocks on a future: if the app quits meanwhile, the worker, and so the process, hangs.)"""
        self.post_message(_Call(partial(fn, *args)))

    @on(_Call)
    def _run_call(self, message: "_Call") -> None:
        message.fn()

    @work(thread=True, exclusive=False, group="poll", exit_on_error=False)
    def _collect(self) -> None:
        try:
            frame, error = self._frame(self.collector.collect()), None
        except Exception as e:  # a collector bug must not kill the view: say it, keep polling
            frame, error = None, f"collection failed: {e}"
        self._from_thread(self._got_frame, frame, error)

    def _frame(self, snap: Snapshot) -> Frame:
        """Everything derived from a new snapshot, computed in the poll thread so the UI
        thread only paints. Polls never overlap, so `_last` needs no lock."""
        last = self._last
        stale = snap.disconnected
        if stale and last is not None and not snap.guests:
            snap = replace(snap, guests=last.guests)   # the last guests, greyed, while reconnecting
        rates = guest_rates(last, snap) if not stale else {}
        rows = {g.name: row_values(g, snap.host, rates.get(g.name)) for g in snap.guests}
        self._last = snap
        return Frame(snap, stale, rates, host_cpu_percent(last, snap), rows)

    def _got_frame(self, frame: Frame | None, error: str | None) -> None:
        self._polling = False
        if frame is not None:
            self._take(frame)
        elif error:
            self.set_status(error, "error")
        if self._poll_again:
            self._poll_again = False
            self.start_poll()
        else:
            self._timer = self.set_timer(self.interval, self.start_poll)

    def _take(self, frame: Frame) -> None:
        snap = frame.snap
        self.stale = frame.stale
        self.prev, self.snap = self.snap, snap
        if self.first_time is None:
            self.first_time = snap.time
        self.rates, self.cpu_pct, self.rows = frame.rates, frame.cpu_pct, frame.rows
        for g in snap.guests:
            r = self.rates.get(g.name)
            if r is None:
                continue
            per = self.history.setdefault(g.name, {})
            for d, dr in r.disks.items():
                per.setdefault(d, deque(maxlen=HISTORY)).append((dr.rd_bytes_s, dr.wr_bytes_s))
        self.ticks += 1
        self.query_one(GuestTable).set_class(self.stale, "stale")
        self._render_header()
        self._render_table()
        self._render_pane()

    # -- rendering -------------------------------------------------------------------------
    def badges(self) -> list[str]:
        out = []
        if self.read_only:
            out.append("READ-ONLY")
        if self.dry_run:
            out.append("DRY-RUN")
        if self.recording:
            out.append("RECORDING")
        if self.stale:
            out.append("DISCONNECTED")
        return out

    def _render_header(self) -> None:
        secs = 0.0 if self.snap is None or self.first_time is None else self.snap.time - self.first_time
        self.query_one("#header", Static).update(panes.header(
            self.snap, view_seconds=secs, interval=self.interval, badges=self.badges(),
            width=self.size.width, compact=self.size.height < COMPACT_BELOW))

    def _render_table(self, force: bool = False) -> None:
        if self.snap is None:
            return
        t = self.query_one(GuestTable)
        v = self.theme_variables
        t.colours = {"warning": v.get("warning", "yellow"), "error": v.get("error", "red"),
                     "muted": v.get("text-muted", "dim")}
        t.show(self.rows, self.sort_key, self.sort_reverse, self.name_filter,
               width=self.size.width, force=force)

    def selected_guest(self):
        if self.snap is None:
            return None
        name = self.query_one(GuestTable).selected
        return self.snap.guest(name) if name else None

    def _render_pane(self) -> None:
        """Only the visible pane is rendered: the others wait until shown."""
        key = panes.PANES[self.pane_index][0]
        w = self.query_one(f"#pane-{key}", Static)
        s, g = self.snap, self.selected_guest()
        if s is None:
            return
        if g is None:
            w.update("[$text-muted]no guest selected[/]" if s.guests or not self.name_filter
                     else "[$text-muted]no guest matches the filter[/]")
            if not s.guests:
                w.update("[$text-muted]no guests on this host[/]")
            return
        width = self.size.width
        rate = self.rates.get(g.name)
        text = {
            "numa": lambda: panes.numa_pane(s, g, width),
            "vcpu": lambda: panes.vcpu_pane(s, self.prev, g, self.cpu_pct, rate, width),
            "huge": lambda: panes.huge_pane(s, g),
            "ksm": lambda: panes.ksm_pane(s, self.prev, g),
            "block": lambda: panes.block_pane(g, rate, self.history.get(g.name, {}), width),
            "settings": lambda: panes.settings_pane(g),
        }[key]()
        w.update(text)

    def set_status(self, text: str, level: str = "info") -> None:
        st = self.query_one("#status", Static)
        st.set_classes(f"status-{level}")
        st.update(text.replace("[", r"\["))

    @property
    def status_text(self) -> str:
        return str(self.query_one("#status", Static).content)

    # -- events ----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#guests")
    def _row_changed(self) -> None:
        self._render_pane()

    @on(TabbedContent.TabActivated, "#panes")
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        ids = [f"tab-{k}" for k, _ in panes.PANES]
        if event.pane.id in ids:
            self.pane_index = ids.index(event.pane.id)
        self._render_pane()

    def on_resize(self, event: Resize) -> None:
        self._render_header()
        self._render_table()
        self._render_pane()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.name_filter = event.value.strip()
        self._render_table()
        self._render_pane()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self._close_filter()

    def on_key(self, event: Key) -> None:
        if event.key == "escape" and self.query_one("#filter", Input).has_focus:
            self.query_one("#filter", Input).value = ""
            self._close_filter()
            event.stop()
            return
        # in read-only the action bindings are disabled; say why instead of doing nothing
        if (self.read_only and event.key in ACTION_KEYS.values() and len(self.screen_stack) == 1
                and not self.query_one("#filter", Input).has_focus):
            name = next(k for k, v in ACTION_KEYS.items() if v == event.key)
            self.set_status(f"read-only: '{event.key}' ({name}) is disabled", "warning")

    def _close_filter(self) -> None:
        f = self.query_one("#filter", Input)
        f.remove_class("open")
        self.query_one(GuestTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if len(self.screen_stack) > 1 and action not in ("next_pane", "command_palette"):
            return False  # a form or another view is open: its own keys only
        if action in ACTION_KEYS and (self.read_only or self.executor is None):
            return None   # shown, greyed out
        return True

    def get_system_commands(self, screen):
        """The command palette (Ctrl+P) offers every key's action too."""
        yield from super().get_system_commands(screen)
        if screen is not self.screen_stack[0]:
            return
        for b in self.BINDINGS:
            what = HELP_TEXT.get(b.action)
            disabled = b.action in ACTION_KEYS and (self.read_only or self.executor is None)
            if what and b.action not in ("quit", "help") and not disabled:
                key = b.key_display or b.key
                yield SystemCommand(f"{what[0].upper()}{what[1:]} ({key})", f"key {key}",
                                    getattr(self, f"action_{b.action}"))

    # -- navigation actions ------------------------------------------------------------------
    def action_pane(self, index: int) -> None:
        self.pane_index = index % len(panes.PANES)
        self.query_one(TabbedContent).active = f"tab-{panes.PANES[self.pane_index][0]}"
        self._render_pane()

    def action_next_pane(self, step: int = 1) -> None:
        if len(self.screen_stack) > 1:
            self.screen.focus_next() if step > 0 else self.screen.focus_previous()
            return
        self.action_pane(self.pane_index + step)

    def action_sort(self, step: int) -> None:
        i = SORT_KEYS.index(self.sort_key)
        self.sort_key = SORT_KEYS[(i + step) % len(SORT_KEYS)]
        self.set_status(f"sorted by {self.sort_key}{' (reversed)' if self.sort_reverse else ''}")
        self._render_table()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.set_status(f"sorted by {self.sort_key}{' (reversed)' if self.sort_reverse else ''}")
        self._render_table()

    def action_filter(self) -> None:
        f = self.query_one("#filter", Input)
        f.add_class("open")
        f.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS, disabled=set(ACTION_KEYS.values())
                                    if (self.read_only or self.executor is None) else set()))

    def action_host(self) -> None:
        if self.snap is not None:
            self.push_screen(HostScreen(self))

    def action_log(self) -> None:
        if self.executor is None:
            self.set_status("no audit log: actions are not available", "warning")
            return
        self.push_screen(LogScreen(self.executor.entries()))

    def action_theme(self) -> None:
        names = self._theme_names
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.set_status(f"theme {self.theme}")

    # -- tuning actions ----------------------------------------------------------------------
    def _guest_or_say(self):
        g = self.selected_guest()
        if g is None:
            self.set_status("select a guest first", "warning")
        return g

    def _open(self, make: Callable[[], Any]) -> None:
        if self.snap is None:
            self.set_status("no snapshot yet", "warning")
            return
        if self._busy:
            self.set_status("an action is still running", "warning")
            return
        screen = make()
        if screen is not None:
            self.push_screen(screen, self._form_done)

    def _guest_form(self, builder) -> None:
        g = self._guest_or_say()
        if g is not None:
            self._open(lambda: builder(self.snap, g))

    def action_pin(self) -> None:
        self._guest_form(forms.pin_form)

    def action_unpin(self) -> None:
        self._guest_form(forms.unpin_form)

    def action_emulatorpin(self) -> None:
        self._guest_form(forms.emulatorpin_form)

    def action_move(self) -> None:
        self._guest_form(forms.move_form)

    def action_numatune(self) -> None:
        self._guest_form(forms.numatune_form)

    def action_memtune(self) -> None:
        self._guest_form(forms.memtune_form)

    def action_throttle(self) -> None:
        self._guest_form(forms.throttle_form)

    def action_weight(self) -> None:
        self._guest_form(forms.weight_form)

    def action_ksm_toggle(self) -> None:
        self._open(lambda: forms.ksm_toggle_form(self.snap))

    def action_ksm_settings(self) -> None:
        self._open(lambda: forms.ksm_settings_form(self.snap))

    def action_hugepages(self) -> None:
        self._open(lambda: forms.hugepages_form(self.snap))

    def action_undo(self) -> None:
        if self.snap is None or self._busy:
            return
        self._execute(None, confirmed=False)

    def _form_done(self, action: Any) -> None:
        if action is None:
            self.set_status("cancelled")
            return
        self._execute(action, confirmed=False)

    def _execute(self, action: Any, confirmed: bool) -> None:
        """Run an action (None = undo the last one) off the UI thread."""
        self._busy = True
        self.set_status("applying…" if action is not None else "undoing…")
        self._run_executor(action, confirmed, self.snap)

    @work(thread=True, group="action", exit_on_error=False)
    def _run_executor(self, action: Any, confirmed: bool, snap: Snapshot) -> None:
        try:
            if action is None:
                result = self.executor.undo(snap, confirmed=confirmed)
            else:
                result = self.executor.run(action, snap, confirmed=confirmed)
        except Exception as e:  # never a traceback on screen
            self._from_thread(self._executed, action, None, f"failed: {e}")
            return
        self._from_thread(self._executed, action, result, None)

    def _executed(self, action: Any, result: Any, error: str | None) -> None:
        self._busy = False
        if result is None:
            self.set_status(error or "failed", "error")
            return
        if result.status == "needs-confirmation":
            self.push_screen(ConfirmScreen(result.risks, result.commands),
                             partial(self._confirmed, action))
            self.set_status(result.message, "warning")
            return
        level = {"applied": "ok", "dry-run": "info", "refused": "warning"}.get(result.status, "error")
        msg = result.message if action is not None else f"undo: {result.message}"
        if result.status == "dry-run" and result.commands:
            msg += " — would run: " + " ; ".join(forms.display(c) for c in result.commands)
        self.set_status(msg, level)
        if result.status == "applied":
            self.start_poll()   # the next refresh shows the effect

    def _confirmed(self, action: Any, yes: bool | None) -> None:
        if yes:
            self._execute(action, confirmed=True)
        else:
            self.set_status("not applied: confirmation declined")


def run_app(source: Source, args: argparse.Namespace) -> int:
    """`kvmtune` with no command: the full-screen view on `source`."""
    from ..actions import Executor
    executor = Executor(source, read_only=args.read_only, dry_run=args.dry_run)
    app = KvmtuneApp(source, executor, interval=args.interval, read_only=args.read_only,
                     dry_run=args.dry_run, theme=getattr(args, "theme", None))
    app.run()
    return app.return_code or 0


__all__ = ["KvmtuneApp", "run_app"]
