"""The advisor's widgets: a list of findings (the Advice pane, the host-wide list on `A`),
the host-wide screen, and the screen that shows a definition edit (`virsh edit` snippet and
virt-xml line) for a fix no live action can make."""

from __future__ import annotations

import shlex
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from ..advise import SEVERITIES, Finding, rank
from .keys import MUTE_KEY, fix_key
from .markup import escape
from .paneview import TellsScroll

SEVERITY_LETTER = {"critical": "C", "warning": "W", "info": "i"}
SEVERITY_STYLE = {"critical": "b $error", "warning": "$warning", "info": "$text-muted"}
SORTS = ("severity", "guest", "code", "section")


def fix_hint(f: Finding) -> str:
    """How to fix, as the list says it: the form's key, or the definition edit."""
    fix = f.fix
    if fix is None:
        return ""
    if fix.action is not None:
        key = fix_key(fix.action)
        return f"Enter: {fix.action} form" + (f" ({key})" if key else "")
    return "Enter: virsh edit snippet" if fix.xml or fix.virt_xml else ""


def finding_prompt(f: Finding, muted: bool, with_guest: bool) -> str:
    sev = f"[{SEVERITY_STYLE[f.severity]}]{SEVERITY_LETTER[f.severity]} {f.severity:<8}[/]"
    who = f"{escape(f.guest or '(host)')}  " if with_guest else ""
    hint = fix_hint(f)
    head = f"{sev} {who}[b]{escape(f.code)}[/]  §{escape(f.section)}" + (f"  [$accent]{hint}[/]" if hint else "")
    text = f"{head}\n   {escape(f.text)}"
    return f"[$text-muted]{text}  (muted, {MUTE_KEY} unmutes)[/]" if muted else text


class FindingList(TellsScroll, OptionList):
    """Findings, one option each (two lines); Enter asks for the fix, `!` for a mute toggle."""

    BINDINGS = [Binding("exclamation_mark", "mute", "Mute/unmute", key_display=MUTE_KEY),
                Binding("escape", "leave", "Back", show=False)]

    class Mute(Message):
        def __init__(self, lst: FindingList, finding: Finding) -> None:
            super().__init__()
            self.list, self.finding = lst, finding

        @property
        def control(self) -> FindingList:
            return self.list

    class Leave(Message):
        def __init__(self, lst: FindingList) -> None:
            super().__init__()
            self.list = lst

        @property
        def control(self) -> FindingList:
            return self.list

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.items: list[Finding] = []
        self._shown: list[tuple[Finding, bool]] | None = None

    def show(self, items: list[tuple[Finding, bool]], with_guest: bool = False) -> None:
        """(finding, muted) in this order; the cursor stays on the finding it was on."""
        if items == self._shown:
            return
        keep = self.current
        self._shown = list(items)
        self.items = [f for f, _ in items]
        self.set_options([Option(finding_prompt(f, m, with_guest)) for f, m in items])
        if self.items:
            # by (guest, code, subject): one code can be several findings (a guest's unused devices)
            key = None if keep is None else (keep.guest, keep.code, keep.subject)
            at = next((i for i, f in enumerate(self.items) if (f.guest, f.code, f.subject) == key), None)
            self.highlighted = min(self.highlighted or 0, len(self.items) - 1) if at is None else at

    @property
    def current(self) -> Finding | None:
        i = self.highlighted
        return self.items[i] if i is not None and 0 <= i < len(self.items) else None

    def action_mute(self) -> None:
        if (f := self.current) is not None:
            self.post_message(self.Mute(self, f))

    def action_leave(self) -> None:
        self.post_message(self.Leave(self))


def sort_findings(items: list[tuple[Finding, bool]], key: str, reverse: bool) -> list[tuple[Finding, bool]]:
    def k(item: tuple[Finding, bool]) -> tuple[Any, ...]:
        f = item[0]
        by = {"severity": (rank(f.severity),), "guest": (f.guest or "",), "code": (f.code,),
              "section": (tuple(int(x) if x.isdigit() else 0 for x in f.section.split(".")),)}[key]
        return (*by, rank(f.severity), f.guest or "", f.code)
    return sorted(items, key=k, reverse=reverse)


class FindingsScreen(Screen[None]):
    """`A`: every finding on the host, the host's own included; follows refreshes."""

    BINDINGS = [Binding("escape", "close", "Back"), Binding("q", "close", "Back", show=False),
                Binding("A", "close", "Back", show=False),
                Binding("s", "sort", "Sort"), Binding("S", "reverse", "Reverse")]

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.main = app
        self.sort_key = "severity"
        self.reverse = False
        self._drawn: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Label(id="findings-title")
        yield FindingList(id="findings-list")
        yield Static(id="findings-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FindingList).focus()
        self.draw()
        self.set_interval(0.5, self.draw)

    def draw(self, force: bool = False) -> None:
        m = self.main
        state = (m.ticks, self.sort_key, self.reverse, m.mute_version)
        if m.frame is not None and (force or state != self._drawn):
            self._drawn = state
            items = m.host_advice()
            shown = [f for f, muted in items if not muted]
            counts = ", ".join(f"{n} {s}" for s in SEVERITIES if (n := sum(f.severity == s for f in shown)))
            muted = len(items) - len(shown)
            self.query_one("#findings-title", Label).update(
                f"[b]Advice: every finding on {escape(m.frame.snap.host.hostname)}[/]  {len(shown)} "
                f"({counts or 'none'}){f', {muted} muted' if muted else ''}  [$text-muted]sorted by "
                f"{self.sort_key}{' (reversed)' if self.reverse else ''} · Enter the fix · "
                f"{MUTE_KEY} mute · s sort · Esc back[/]")
            self.query_one(FindingList).show(sort_findings(items, self.sort_key, self.reverse), with_guest=True)
        self.query_one("#findings-status", Static).update(escape(m.status_text))

    def action_sort(self) -> None:
        self.sort_key = SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)]
        self.draw()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.draw()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if (f := self.query_one(FindingList).current) is not None:
            self.main.open_fix(f)

    def on_finding_list_mute(self, event: FindingList.Mute) -> None:
        self.main.toggle_mute(event.finding)
        self.draw(force=True)

    def on_finding_list_leave(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)


class XmlFixScreen(ModalScreen[None]):
    """A fix only the definition can take: the `virsh edit` snippet and the virt-xml line, as
    text to select and copy, and its note."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, finding: Finding) -> None:
        super().__init__()
        self.finding = finding

    def compose(self) -> ComposeResult:
        f = self.finding
        fix = f.fix
        assert fix is not None
        with Vertical(id="xmlfix"):
            yield Label(f"[b]{escape(f.code)}[/] {escape(f.guest or '(host)')}: {escape(f.text)}")
            if fix.xml:
                yield Static(f"virsh edit {escape(fix.target)}, and put in the definition:")
                yield TextArea(fix.xml, read_only=True, id="xmlfix-xml", classes="xmlfix-text")
            if fix.virt_xml:
                yield Static("or, the same with virt-xml:" if fix.xml else "with virt-xml:")
                yield TextArea(shlex.join(fix.virt_xml), read_only=True, id="xmlfix-virtxml",
                               classes="xmlfix-line")
            if fix.note:
                yield Static(f"[$warning]{escape(fix.note)}[/]", id="xmlfix-note")
            yield Static("[$text-muted]select the text to copy it · Esc close[/]", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["SEVERITY_LETTER", "FindingList", "FindingsScreen", "XmlFixScreen", "finding_prompt", "fix_hint"]
