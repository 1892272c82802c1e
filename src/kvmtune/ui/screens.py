"""The screens over the main view: help, host view, audit log, confirmation; and the keys
that open the first three (Viewing, mixed into KvmtuneApp)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

from .. import fmt
from . import helptext, hostview
from .markup import escape


class Viewing:
    """`?`, `H`, `L`. Needs a KvmtuneApp."""

    push_screen: Any
    set_status: Any
    disabled_keys: Any
    replay: Any
    executor: Any
    snap: Any
    messages: Any

    def action_help(self) -> None:
        from .keys import BINDINGS
        self.push_screen(HelpScreen(BINDINGS, disabled=self.disabled_keys(), replay=self.replay is not None))

    def action_host(self) -> None:
        if self.snap is not None:
            self.push_screen(HostScreen(self))

    def action_log(self) -> None:
        msgs = list(self.messages)
        if self.replay is not None:   # the actions recorded in the file, as the audit log lists them
            self.push_screen(LogScreen([e.data for e in self.replay.events if e.kind == "action"], msgs))
        elif self.executor is None:
            self.push_screen(LogScreen(None, msgs))
        else:
            self.push_screen(LogScreen(self.executor.entries(), msgs))


class _Closable(Screen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False)]

    def action_close(self) -> None:
        self.dismiss(None)


class HelpScreen(_Closable, ModalScreen[None]):
    """Every column and key (helptext.py), wrapped to the screen; ↑ ↓ PgUp PgDn Home End scroll."""

    BINDINGS = [*_Closable.BINDINGS, Binding("question_mark", "close", "Close", show=False)]

    def __init__(self, bindings: list[Binding], disabled: dict[str, str], replay: bool = False) -> None:
        super().__init__()
        # not `self.disabled`: that is Textual's reactive, and a disabled screen cannot scroll
        self.sections = helptext.sections(bindings, disabled, replay)   # disabled: key -> why
        self.plain: list[str] = []   # the lines as shown, without markup (tests read them)
        self._width = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(id="help-body")

    def on_mount(self) -> None:
        self.query_one("#help").focus()   # the keys scroll it
        self._fill()

    def on_resize(self) -> None:
        self._fill()

    def _fill(self) -> None:
        box = self.query_one("#help")
        # the box's own width less its border, padding and scrollbar (app.tcss #help)
        width = min(HELP_WIDTH, self.app.size.width) - 5
        if width == self._width:
            return
        self._width = width
        out = helptext.lines(self.sections, width)
        self.plain = [p for p, _ in out]
        self.query_one("#help-body", Static).update("\n".join(m for _, m in out))
        box.refresh(layout=True)


HELP_WIDTH = 84   # app.tcss #help width


class HostScreen(_Closable):
    """`H`: every node's CPUs, memory, hugepages, and which guests use it. Follows refreshes."""

    BINDINGS = [*_Closable.BINDINGS, Binding("H", "close", "Back", show=False)]

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.main = app

    def compose(self) -> ComposeResult:
        yield Label("Host view  [$text-muted](Esc back)[/]", id="host-title")
        with VerticalScroll():
            yield Static(id="host-body")
        yield Footer()

    def on_mount(self) -> None:
        self._drawn_tick = -1
        self._draw()
        self.set_interval(0.5, self._draw)

    def _draw(self) -> None:
        m = self.main
        if m.frame is not None and m.ticks != self._drawn_tick:   # redraw on new snapshots only
            self._drawn_tick = m.ticks
            self.query_one("#host-body", Static).update(hostview.host_view(m.frame, self.size.width))


class LogScreen(_Closable):
    """`L`: the audit log (None: actions are not available here) and this session's status
    messages in full, newest first."""

    BINDINGS = [*_Closable.BINDINGS, Binding("L", "close", "Back", show=False)]

    def __init__(self, entries: list[dict[str, Any]] | None, messages: Sequence[Any] = ()) -> None:
        super().__init__()
        self.entries = entries
        self.messages = list(messages)

    def compose(self) -> ComposeResult:
        n = "no audit log" if self.entries is None else f"{len(self.entries)} entries"
        yield Label(f"Audit log and messages  [$text-muted]({n}, {len(self.messages)} messages, "
                    "newest first; Esc back)[/]")
        lines = ["[b]Audit log[/]"]
        if self.entries is None:
            lines.append("[$text-muted]no audit log: actions are not available[/]")
        elif not self.entries:
            lines.append("[$text-muted]no entries yet[/]")
        for e in reversed(self.entries or []):
            when = fmt.clock(e.get("time"))
            undo = f" undo of #{e['undo_of']}" if e.get("undo_of") is not None else ""
            entry = [f"#{e.get('id', '?'):<4} {when} {e.get('result', '?'):<18} "
                     f"{e.get('action', '?')} {e.get('target', '?')}{undo}"]
            cmds = e.get("commands") or []
            entry += [f"      $ {c}" for c in cmds[:2]]
            if len(cmds) > 2:
                entry.append(f"      … {len(cmds) - 2} more")
            if e.get("message"):
                entry.append(f"      {e['message']}")
            lines += [escape(x) for x in entry]
        lines += ["", "[b]Messages[/]"]
        if not self.messages:
            lines.append("[$text-muted]none yet[/]")
        for m in reversed(self.messages):
            again = f" (×{m.count})" if m.count > 1 else ""
            colour = {"warning": "$warning", "error": "$error", "ok": "$success"}.get(m.level, "$text")
            lines.append(f"{fmt.clock(m.time, '%H:%M:%S')} [{colour}]{escape(m.text)}[/]{again}")
        with VerticalScroll():
            yield Static("\n".join(lines), id="log-body")
        yield Footer()


class ConfirmScreen(ModalScreen[bool]):
    """Names each risk; y applies, n or Esc declines."""

    BINDINGS = [Binding("y", "answer(True)", "Apply anyway"),
                Binding("n", "answer(False)", "Cancel"),
                Binding("escape", "answer(False)", "Cancel", show=False)]

    def __init__(self, risks: list[str], commands: list[list[str]], title: str | None = None) -> None:
        super().__init__()
        self.risks = risks
        self.commands = commands
        self.title_text = title    # an undo's preview: what it reverts

    def compose(self) -> ComposeResult:
        from ..actions import display
        with Vertical(id="confirm"):
            if self.title_text:
                yield Label(f"[b]{self.title_text.replace('[', chr(92) + '[')}[/]")
            else:
                yield Label("[b $warning]Confirm: this change carries a risk[/]")
            yield Static("\n".join(f"[$warning]⚠ {r.replace('[', chr(92) + '[')}[/]" for r in self.risks))
            shown = ["$ " + escape(display(c)) for c in self.commands[:4]]
            if len(self.commands) > 4:
                shown.append(f"[$text-muted]… and {len(self.commands) - 4} more like these[/]")
            yield Static("\n".join(shown))
            yield Static("[b]y[/] undo · [b]n[/] / Esc keep it" if self.title_text and not self.risks
                         else "[b]y[/] apply anyway · [b]n[/] / Esc cancel")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
