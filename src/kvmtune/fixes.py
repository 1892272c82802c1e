"""A finding's Fix as something to do: the Action rebuilt from its params (as the audit log
rebuilds one for undo), or the definition edit; and both as lines for a user. The CLI
(`kvmtune advise`) and the TUI (the Advice pane, the host-wide list) say a fix the same way.
"""

from __future__ import annotations

import shlex
from typing import NamedTuple

from .actions import KINDS, Action, ActionError, display
from .advise import Fix
from .model import Snapshot


def action_of(fix: Fix) -> Action | None:
    """The fix's Action, or None (an XML-only fix, an unknown kind, or params it cannot take:
    a fix that only names its kind, to be filled in by a form)."""
    cls = KINDS.get(fix.action or "")
    if cls is None or not fix.params:
        return None
    try:
        return cls.from_params(fix.target, dict(fix.params))
    except (ActionError, KeyError, TypeError, ValueError):
        return None


class Planned(NamedTuple):
    commands: list[str]   # the virsh/sysfs lines, as `kvmtune apply` would run them now
    problems: list[str]   # why it is not valid now
    risks: list[str]      # what applying it would ask to confirm


def commands(fix: Fix, snap: Snapshot) -> Planned:
    """An action fix as the executor would run it on this snapshot: bound first (KSM's
    merge_across_nodes with pages shared is run=2, the change, run restored; "all vCPUs"),
    then validated, its risks, and its commands."""
    a = action_of(fix)
    if a is None:
        return Planned([], [], [])
    try:
        a.bind(snap)
        problems = a.validate(snap)
        risks = [] if problems else a.risks(snap)
        return Planned([display(c) for c in a.commands()], problems, risks)
    except (ActionError, ValueError) as e:
        return Planned([], [str(e)], [])


def fix_lines(fix: Fix, snap: Snapshot) -> list[str]:
    """The fix as plain text lines: `$ virsh ...` for an action, the `virsh edit` snippet and
    the virt-xml line for a definition edit, then its note."""
    out: list[str] = []
    if fix.action is not None:
        cmds, problems, risks = commands(fix, snap)
        if cmds:
            out += [f"$ {c}" for c in cmds]
            out += [f"(not valid now: {p})" for p in problems]
            out += [f"risk: {r}" for r in risks]
        else:
            where = "" if fix.target == "host" else f" {fix.target}"
            out.append(f"the {fix.action} action on{where or ' the host'} (`kvmtune apply {fix.action}"
                       f"{where} ...`, or its key in the full-screen view)")
    if fix.xml:
        out.append(f"virsh edit {fix.target}, and put in the definition:")
        out += [f"    {line}" for line in fix.xml.splitlines()]
    if fix.virt_xml:
        out.append(f"{'or: ' if fix.xml else ''}$ {shlex.join(fix.virt_xml)}")
    if fix.note:
        out.append(f"note: {fix.note}")
    return out


__all__ = ["Planned", "action_of", "commands", "fix_lines"]
