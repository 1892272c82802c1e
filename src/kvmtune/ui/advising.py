"""The advisor in the view: the Advice pane (the selected guest's findings, worst first), the
host-wide list (`A`), Enter on a finding (its fix's form, prefilled, or its definition
edit), and mutes (`!`, kept by advise/mutes.py; a muted finding leaves the `!` column and
the header, and shows dimmed in the lists). Mixed into KvmtuneApp."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.widgets import DataTable, OptionList

from ..advise import SEVERITIES, Finding, worst_first
from ..advise.mutes import Mutes
from ..fixes import commands
from ..frame import Frame
from ..model import Guest
from . import fixforms, forms
from .findings import FindingList, FindingsScreen, XmlFixScreen
from .keys import MUTE_KEY, PANES
from .markup import escape
from .table import Rows, row_values

ADVICE_PANE = [k for k, _ in PANES].index("advice")


class Advising:
    """Needs a KvmtuneApp."""

    # provided by KvmtuneApp (and Textual's App)
    frame: Frame | None
    rows: Rows
    pane_index: int
    read_only: bool
    executor: Any
    _busy: bool
    set_status: Callable[..., None]
    push_screen: Callable[..., Any]
    query_one: Callable[..., Any]
    selected_guest: Callable[[], Guest | None]
    _render_table: Callable[..., None]
    _render_header: Callable[[], None]
    _render_pane: Callable[[], None]
    _form_done: Callable[..., None]
    screen: Any

    mutes: Mutes | None = None
    mute_version = 0            # bumped by every mute change: lists redraw
    _mutes_warning: str | None = None

    # -- mutes -----------------------------------------------------------------------------------
    def advice_rows(self, frame: Frame) -> dict[str, Any]:
        """The table's rows with mutes applied (called in the poll worker: the mutes file is
        read there, once per host)."""
        host = frame.snap.host.hostname
        if self.mutes is None or self.mutes.host != host:
            self.mutes = Mutes(host)
            self._mutes_warning = self.mutes.warning
        m = self.mutes
        return {g.name: row_values(g, frame, m.keys(g.name)) for g in frame.snap.guests}

    def is_muted(self, f: Finding) -> bool:
        return self.mutes is not None and self.mutes.is_muted(f)

    def shown_frame(self, f: Frame | None) -> Frame | None:
        """The frame as the header shows it: without the host's muted findings."""
        if self._mutes_warning:
            self.set_status(self._mutes_warning, "warning")
            self._mutes_warning = None
        if f is None or not any(self.is_muted(x) for x in f.host_findings):
            return f
        return replace(f, host_findings=tuple(x for x in f.host_findings if not self.is_muted(x)))

    def toggle_mute(self, f: Finding) -> None:
        if self.mutes is None:
            return
        try:
            now = self.mutes.toggle(f)
        except OSError as e:
            self.set_status(f"cannot keep the mute: {e}", "error")
            return
        self.mute_version += 1
        who = (f"on {f.guest}" if f.guest else "on the host") + (f" ({f.subject})" if f.subject else "")
        self.set_status(f"{'muted' if now else 'unmuted'} {f.code} {who}"
                        + (f" ({MUTE_KEY} again unmutes; `kvmtune advise --all` lists it)" if now else ""))
        if self.frame is not None and f.guest is not None and f.guest in self.rows:
            g = self.frame.snap.guest(f.guest)
            if g is not None:
                self.rows = {**self.rows, f.guest: row_values(g, self.frame, self.mutes.keys(f.guest))}
        self._render_table()
        self._render_header()
        self._render_pane()

    # -- the pane and the host-wide list --------------------------------------------------------
    def guest_advice(self, name: str) -> list[tuple[Finding, bool]]:
        found = self.frame.guest_findings(name) if self.frame is not None else ()
        return [(f, self.is_muted(f)) for f in worst_first(found)]

    def host_advice(self) -> list[tuple[Finding, bool]]:
        f = self.frame
        if f is None:
            return []
        every = [x for fs in f.findings.values() for x in fs] + list(f.host_findings)
        return [(x, self.is_muted(x)) for x in worst_first(every)]

    def advice_text(self, frame: Frame, g: Guest) -> str:
        items = self.guest_advice(g.name)
        shown = [f for f, m in items if not m]
        muted = len(items) - len(shown)
        counts = ", ".join(f"{n} {s}" for s in SEVERITIES if (n := sum(f.severity == s for f in shown)))
        head = f"[b]{escape(g.name)}[/]: "
        if not items:
            return head + "no findings: it follows the guide as far as kvmtune can tell"
        return (head + f"{len(shown)} finding{'' if len(shown) == 1 else 's'} ({counts or 'none'})"
                + (f", {muted} muted" if muted else "")
                + f"  [$text-muted]Enter: fix · {MUTE_KEY} mute · A: all[/]")

    def fill_advice(self, g: Guest | None) -> None:
        """The pane's list (called when the Advice pane is rendered)."""
        lst = self.query_one("#advice-list", FindingList)
        lst.show(self.guest_advice(g.name) if g is not None else [])
        lst.display = bool(lst.items)

    # (handlers by name: @on needs a class made by Textual's metaclass, and this is a mixin)
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a guest: its Advice pane, the cursor on its first finding."""
        if event.data_table.id != "guests":
            return
        if self.pane_index != ADVICE_PANE:
            self.pane_index = ADVICE_PANE
        lst = self.query_one("#advice-list", FindingList)
        if lst.items:
            lst.display = True
            self.screen.set_focus(lst)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "advice-list":
            event.stop()
            if (f := self.query_one("#advice-list", FindingList).current) is not None:
                self.open_fix(f)

    def on_finding_list_mute(self, event: FindingList.Mute) -> None:
        if event.list.id == "advice-list":
            self.toggle_mute(event.finding)

    def on_finding_list_leave(self, event: FindingList.Leave) -> None:
        if event.list.id == "advice-list":
            from .table import GuestTable
            self.screen.set_focus(self.query_one(GuestTable))

    def action_advice_host(self) -> None:
        if self.frame is not None:
            self.push_screen(FindingsScreen(self))

    # -- a finding's fix ------------------------------------------------------------------------
    def open_fix(self, f: Finding) -> None:
        fix = f.fix
        if fix is None:
            self.set_status(f"{f.code}: kvmtune has no fix to apply for this; see the guide's §{f.section}", "warning")
            return
        if fix.action is None:
            self.push_screen(XmlFixScreen(f))   # only text to copy: shown in read-only and replay too
            return
        snap = self.frame.snap if self.frame is not None else None
        if snap is None:
            return
        if not getattr(self, "can_act", False):
            why = ("replay: fixes are disabled: this is a recording" if getattr(self, "replay", None) is not None
                   else "read-only: fixes are disabled" if self.read_only else "fixes are not available here")
            cmds, _, risks = commands(fix, snap)
            said = f" (the fix: {' ; '.join(cmds)})" if cmds else ""
            self.set_status(why + said + "".join(f"; risk: {r}" for r in risks), "warning")
            return
        if self._busy:
            self.set_status("an action is still running", "warning")
            return
        try:
            form = fixforms.fix_form(snap, f)
        except forms.NoForm as e:
            self.set_status(str(e), "warning")
            return
        self.push_screen(form, self._form_done)


__all__ = ["ADVICE_PANE", "Advising"]
