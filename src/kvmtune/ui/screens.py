"""The screens over the main view: help, host view, audit log, confirmation; and the keys
that open the first three (Viewing, mixed into KvmtuneApp)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

from .. import fmt
from . import panes

HELP_TEXT = {
    "pin": "pin the selected guest's vCPU(s): a picker of host CPUs grouped by node",
    "unpin": "unpin vCPU(s): back to every CPU the guest may use",
    "emulatorpin": "pin the emulator threads",
    "move": "move the guest to a node: vCPUs + emulator + numatune together",
    "numatune": "numatune mode and nodeset",
    "memtune": "memtune hard/soft/swap limits",
    "throttle": "disk throttles (blkdeviotune)",
    "weight": "blkio weight",
    "ksm_toggle": "KSM on/off",
    "ksm_settings": "KSM settings (pages_to_scan, sleep, merge_across_nodes)",
    "hugepages": "hugepage pool size per node",
    "undo": "undo the last action",
    "log": "the audit log (in a replay: the actions recorded)",
    "host": "host view: every node's CPUs, memory, hugepages and guests",
    "advice_host": "advice: every finding on the host, sortable; Enter opens a fix, ! mutes",
    "theme": "next colour theme",
    "perf": "perf counters on/off (pane 7; needs root)",
    "filter": "filter guests by name",
    "record": "start / stop recording to a file (replay it with `kvmtune replay FILE`)",
    "play": "replay: play / pause",
    "step_back": "replay: one sample back",
    "step_fwd": "replay: one sample forward",
    "back_1m": "replay: 1 minute back",
    "fwd_1m": "replay: 1 minute forward",
    "back_10m": "replay: 10 minutes back",
    "fwd_10m": "replay: 10 minutes forward",
    "goto": "replay: go to a time (HH:MM[:SS] or YYYY-MM-DD HH:MM[:SS])",
    "prev_event": "replay: the previous recorded action or error",
    "next_event": "replay: the next recorded action or error",
    "speed": "replay: speed 1x, 2x, 10x, 60x",
    "pane_down": "scroll the detail pane down a line (its last line says what is below)",
    "pane_up": "scroll the detail pane up a line",
    "pane_page_down": "scroll the detail pane down a page",
    "pane_page_up": "scroll the detail pane up a page",
    "zoom": "the detail pane on the full screen and back (there ↑ ↓ PgUp PgDn scroll it; Esc back)",
    "help": "this help",
    "quit": "quit",
}


class Viewing:
    """`?`, `H`, `L`. Needs a KvmtuneApp."""

    push_screen: Any
    set_status: Any
    disabled_keys: Any
    replay: Any
    executor: Any
    snap: Any

    def action_help(self) -> None:
        from .keys import BINDINGS
        self.push_screen(HelpScreen(BINDINGS, disabled=self.disabled_keys(), replay=self.replay is not None))

    def action_host(self) -> None:
        if self.snap is not None:
            self.push_screen(HostScreen(self))

    def action_log(self) -> None:
        if self.replay is not None:   # the actions recorded in the file, as the audit log lists them
            self.push_screen(LogScreen([e.data for e in self.replay.events if e.kind == "action"]))
        elif self.executor is None:
            self.set_status("no audit log: actions are not available", "warning")
        else:
            self.push_screen(LogScreen(self.executor.entries()))


class _Closable(Screen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False)]

    def action_close(self) -> None:
        self.dismiss(None)


class HelpScreen(_Closable, ModalScreen[None]):
    BINDINGS = [*_Closable.BINDINGS, Binding("question_mark", "close", "Close", show=False)]

    def __init__(self, bindings: list[Binding], disabled: dict[str, str], replay: bool = False) -> None:
        super().__init__()
        self.bindings_list = bindings
        # not `self.disabled`: that is Textual's reactive, and a disabled screen cannot scroll
        self.disabled_keys = disabled   # key -> why ("read-only", "replay")
        self.replay = replay

    def compose(self) -> ComposeResult:
        lines = ["[b]kvmtune keys[/]", ""]
        # a replay's time travel keys first; elsewhere last (they work in a replay only)
        bindings = sorted(self.bindings_list, key=lambda b: HELP_TEXT.get(b.id or b.action, "")
                          .startswith("replay: ") != self.replay)
        for b in bindings:
            key = f"{b.key_display or b.key:>5}".replace("[", r"\[")   # "[" is markup
            what = HELP_TEXT.get(b.id or b.action)
            if what is None:
                continue
            why = self.disabled_keys.get(b.key)
            if what.startswith("replay: ") and not self.replay:
                why = "replay only"
            elif b.id == "record" and self.replay:
                why = "not in a replay"
            off = why is not None
            line = f"  [b]{key}[/]  {what}" + (f"  [$text-muted](disabled: {why})[/]" if off else "")
            lines.append(f"[$text-muted]{line}[/]" if off else line)
        lines += [
            "",
            f"  [b]1-{len(panes.PANES)}[/] / [b]Tab[/]  detail panes: " + ", ".join(t for _, t in panes.PANES),
            "  [b]s[/] [b]>[/] / [b]<[/]  sort by the next / previous column   [b]S[/]  reverse the order",
            "  [b]↑ ↓[/]  select a guest   [b]Ctrl+P[/]  command palette   [b]Esc[/]  close",
            "  [b]Enter[/]  the selected guest's Advice pane: [b]↑ ↓[/] pick a finding, [b]Enter[/] opens its fix "
            "(the form, prefilled), [b]![/] mutes / unmutes it, [b]Esc[/] back",
        ]
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines))


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
            self.query_one("#host-body", Static).update(panes.host_view(m.frame, self.size.width))


class LogScreen(_Closable):
    BINDINGS = [*_Closable.BINDINGS, Binding("L", "close", "Back", show=False)]

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        yield Label(f"Audit log  [$text-muted]({len(self.entries)} entries, newest first; Esc back)[/]")
        lines = []
        for e in reversed(self.entries):
            when = fmt.clock(e.get("time"))
            undo = f" undo of #{e['undo_of']}" if e.get("undo_of") is not None else ""
            lines.append(f"#{e.get('id', '?'):<4} {when} {e.get('result', '?'):<18} "
                         f"{e.get('action', '?')} {e.get('target', '?')}{undo}")
            cmds = e.get("commands") or []
            lines += [f"      $ {c}" for c in cmds[:2]]
            if len(cmds) > 2:
                lines.append(f"      … {len(cmds) - 2} more")
            if e.get("message"):
                lines.append(f"      {e['message']}")
        with VerticalScroll():
            yield Static("\n".join(x.replace("[", r"\[") for x in lines) or "[$text-muted]no entries yet[/]",
                         id="log-body")
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
            shown = ["$ " + display(c).replace("[", r"\[") for c in self.commands[:4]]
            if len(self.commands) > 4:
                shown.append(f"[$text-muted]… and {len(self.commands) - 4} more like these[/]")
            yield Static("\n".join(shown))
            yield Static("[b]y[/] undo · [b]n[/] / Esc keep it" if self.title_text and not self.risks
                         else "[b]y[/] apply anyway · [b]n[/] / Esc cancel")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
