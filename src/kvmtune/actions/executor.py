"""The Executor: validate -> risks -> (dry run) -> read before -> apply -> read after -> log.

The CLI and the TUI both go through here, so every attempt follows the same rules and
lands in the audit log the same way. Undo rebuilds the logged action and applies its
inverse from the logged "before".
"""

from __future__ import annotations

import getpass
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..errors import ActionError, AuditLogError, HostFSError, Stalled, VirtError
from ..fmt import changes, clock, described
from ..model import Snapshot
from ..source import Source
from ..vocab import Status
from .auditlog import AuditLog
from .base import Action, display, rebuild

T = TypeVar("T")
# How long an action waits for libvirt about its guest: a setter waits for the guest's job and
# some for its QEMU (a live numatune migrates the guest's memory: seconds for a big one)
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Result:
    status: Status
    message: str
    problems: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    entry_id: int | None = None
    undo_of: int | None = None      # an undo's: the entry it reverts (what a confirmation re-runs)
    undo_hint: str | None = None    # the command that reverts it, when it can be undone

    @property
    def ok(self) -> bool:
        return self.status in (Status.APPLIED, Status.DRY_RUN)

    @property
    def exit_code(self) -> int:
        """The CLI's: 0 applied (or a valid dry run), 1 the hypervisor/kernel said no, 2 otherwise."""
        return 0 if self.ok else 1 if self.status == Status.FAILED else 2


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


class Executor:
    def __init__(self, source: Source, log_path: str | None = None, read_only: bool = False,
                 dry_run: bool = False, timeout: float = TIMEOUT_S):
        self.source = source
        self.timeout = timeout
        self._log_named = log_path is not None
        self.log = AuditLog(log_path if log_path is not None else source.log_path)
        self.read_only = read_only
        self.dry_run = dry_run

    def entries(self) -> list[dict[str, Any]]:
        return self.log.entries()

    def _guarded(self, action: Action, fn: Callable[[], T]) -> T:
        """fn() under the guest's deadline: a stopped or stuck QEMU must not hang `apply` or
        the TUI's action worker. A guest that an earlier call still waits for is refused at once."""
        hv = self.source.hv
        if hv is None or action.target == "host":
            return fn()
        return hv.acting(action.target, fn, self.timeout)

    # -- running ---------------------------------------------------------------------------
    def run(self, action: Action, snap: Snapshot, confirmed: bool = False) -> Result:
        return self._run(action, snap, confirmed)

    def _run(self, action: Action, snap: Snapshot, confirmed: bool,
             extra_risks: list[str] | None = None, undo_of: int | None = None,
             ask: str | None = None, label: str | None = None) -> Result:
        """`ask`: a question to confirm even without risks (an undo's preview, in the TUI);
        `label`: what a confirmation names (an undo: its entry)."""
        what = f"{action.kind} {action.target}"
        # where a guest change lands (live, config or both): said wherever it is about to land or did
        scoped = what + (f" ({action.scope})" if action.target != "host" else "")
        asked = label or scoped
        if self.read_only:
            return Result(Status.REFUSED, f"read-only mode: {what} was not applied",
                          commands=self._commands(action))
        try:
            problems = action.validate(snap)
            risks = [] if problems else action.risks(snap) + list(extra_risks or [])
        except (ActionError, ValueError) as e:
            problems, risks = [str(e)], []
        cmds = self._commands(action)
        if problems:
            r = Result(Status.INVALID, f"{what}: {problems[0]}", problems, [], cmds)
            return self._logged(action, snap, r, None, None, undo_of)
        if self.dry_run:   # an attempt too: logged, never undoable (nothing changed)
            note = f" (needs confirmation: {len(risks)} risk(s))" if risks else ""
            r = Result(Status.DRY_RUN, f"dry run: {scoped} is valid{note}; nothing changed", [], risks, cmds)
            return self._logged(action, snap, r, None, None, undo_of)
        if risks and not confirmed:
            r = Result(Status.NEEDS_CONFIRMATION, ask or f"{asked} needs confirmation: {risks[0]}", [], risks,
                       cmds, undo_of=undo_of)
            return self._logged(action, snap, r, None, None, undo_of)
        if ask and not confirmed:   # a preview only: nothing was attempted, so nothing is logged
            return Result(Status.NEEDS_CONFIRMATION, ask, [], [], cmds, undo_of=undo_of)
        try:
            self.log.check_writable()  # no change that cannot be logged
        except AuditLogError as e:
            return Result(Status.REFUSED, f"{e}; nothing changed", [], risks, cmds)
        try:
            before = self._guarded(action, lambda: action.before(self.source))
        except Stalled as e:
            r = Result(Status.FAILED, f"{what}: cannot read the current values: {e}; nothing was changed",
                       [], risks, cmds)
            return self._logged(action, snap, r, None, None, undo_of)
        except (VirtError, HostFSError, ActionError) as e:
            r = Result(Status.FAILED, f"{what}: cannot read the current values: {e}", [], risks, cmds)
            return self._logged(action, snap, r, None, None, undo_of)
        error = None
        try:
            self._guarded(action, lambda: action.apply(self.source))
        except Stalled as e:
            error = f"{e}: the change may still take effect when it answers; look again before trying it once more"
        except (VirtError, HostFSError, ActionError) as e:
            error = str(e)
        except Exception as e:  # a bug, not the host's answer: still logged, never a traceback
            error = f"internal error: {type(e).__name__}: {e}"
        kept = self.source.changed()   # even a failed apply may have changed part of it
        try:
            after: Any = self._guarded(action, lambda: action.before(self.source))
        except (VirtError, HostFSError, ActionError) as e:
            after = {"error": str(e)}
        if error is not None:
            r = Result(Status.FAILED, f"{what}: {error}", [], risks, cmds)
        else:
            r = Result(Status.APPLIED, f"applied: {scoped}" + _shortfall(action, after), [], risks, cmds)
        if kept is not None:
            r = replace(r, message=f"{r.message} ({kept})")
        return self._logged(action, snap, r, before, after, undo_of)

    @staticmethod
    def _commands(action: Action) -> list[list[str]]:
        try:
            return action.commands()
        except (ActionError, ValueError):
            return []

    def _logged(self, action: Action, snap: Snapshot, r: Result, before: Any, after: Any,
                undo_of: int | None) -> Result:
        entry: dict[str, Any] = {
            "time": time.time(),
            "user": _user(),
            "host": snap.host.hostname or socket.gethostname(),
            "source": self.source.label,
            "action": action.kind,
            "target": action.target,
            "parameters": action.params(),
            "commands": [display(c) for c in r.commands],
            "before": before,
            "after": after,
            "result": r.status,
            "message": r.message,
        }
        if r.problems:
            entry["problems"] = r.problems
        if r.risks:
            entry["risks"] = r.risks
            entry["confirmed"] = r.status in (Status.APPLIED, Status.FAILED)
        if undo_of is not None:
            entry["undo_of"] = undo_of
        if self.dry_run:
            entry["dry_run"] = True
        try:
            eid = self.log.append(entry)
        except AuditLogError as e:
            if r.status == Status.APPLIED:  # the change happened; say the log did not record it
                return Result(r.status, f"{r.message} (but {e})", r.problems, r.risks, r.commands,
                              undo_of=r.undo_of)
            return r
        hint = None
        log = ("--log", str(self.log.path)) if self._log_named else ()
        if r.status == Status.APPLIED and undo_of is None and before is not None:   # what undoable() offers
            hint = shlex.join(["kvmtune", "undo", str(eid), *self.source.cli_args, *log])
        elif r.status == Status.NEEDS_CONFIRMATION and undo_of is not None:   # confirm this entry, not the newest
            hint = shlex.join(["kvmtune", "undo", str(undo_of), "--yes", *self.source.cli_args, *log])
        return Result(r.status, r.message, r.problems, r.risks, r.commands, eid, r.undo_of, hint)

    # -- undo --------------------------------------------------------------------------------
    def undoable(self, hostname: str | None = None) -> list[dict[str, Any]]:
        """Applied entries of this source (and host) not undone yet and not undos themselves,
        newest last. The log is shared by every host (the demo has its own): an entry made
        elsewhere must never be replayed here. Dry runs and refusals are not "applied"."""
        entries = self.entries()
        undone = {e.get("undo_of") for e in entries if e.get("result") == Status.APPLIED}
        return [e for e in entries if e.get("result") == Status.APPLIED and e.get("undo_of") is None
                and e.get("id") not in undone and e.get("before") is not None
                and e.get("source") == self.source.label
                and (hostname is None or e.get("host") == hostname)]

    def undo(self, snap: Snapshot, entry_id: int | None = None, confirmed: bool = False,
             preview: bool = False) -> Result:
        """Revert entry `entry_id` (default: the newest undoable). What the undo cannot restore
        (`Action.undo_gaps`) or a change made since is a risk: it needs confirmation. With
        `preview` (the TUI's z) it always asks first, naming the entry and its commands."""
        candidates = self.undoable(snap.host.hostname)
        entry: dict[str, Any] | None
        if entry_id is None:
            if not candidates:
                return Result(Status.INVALID, f"nothing to undo on {self.source.label}: no applied "
                                              f"action in the log {self.log.path} that is not undone already")
            entry = candidates[-1]
        else:
            entry = next((e for e in candidates if e.get("id") == entry_id), None)
            if entry is None:
                known = next((e for e in self.entries() if e.get("id") == entry_id), None)
                why = ("no such entry" if known is None else
                       f"it was made on {known.get('source')} at {known.get('host')}, not here"
                       if (known.get("source"), known.get("host")) != (self.source.label, snap.host.hostname) else
                       f"it was {known.get('result')}" if known.get("result") != Status.APPLIED else
                       "it is an undo itself" if known.get("undo_of") is not None else "it was undone already")
                return Result(Status.INVALID, f"cannot undo #{entry_id}: {why}")
        eid = entry["id"]
        try:
            action = rebuild(entry["action"], entry["target"], entry.get("parameters") or {})
            action.bind(snap)     # before inverse(): what the guest is now (running) shapes the undo
            inverse = action.inverse(entry["before"])
            gaps = action.undo_gaps(entry["before"], snap)
        except (ActionError, KeyError, TypeError, ValueError) as e:
            return Result(Status.INVALID, f"cannot undo #{eid}: the log entry is unusable ({e})")
        extra: list[str] = []
        try:
            now = self._guarded(action, lambda: action.before(self.source))
            if entry.get("after") is not None and now != entry["after"]:
                since = "; ".join(changes(entry["after"], now)) or described(now)
                extra.append(f"{entry['action']} {entry['target']} changed since #{eid} ({since}): "
                             f"the undo overwrites that")
        except (VirtError, HostFSError, ActionError):
            pass
        title = (f"undo #{eid}: {entry['action']} {entry['target']} (applied "
                 f"{clock(entry.get('time'), '%H:%M:%S')} by {entry.get('user', '?')})")
        ask = None
        if preview:
            back = changes(entry.get("after"), entry["before"]) if entry.get("after") is not None else []
            ask = title + (f"; puts back {'; '.join(back)}" if back else "") + "?"
        return self._run(inverse, snap, confirmed, gaps + extra, undo_of=eid, ask=ask, label=title)


def _shortfall(action: Action, after: Any) -> str:
    """The kernel may set another pool size than asked: say so, and why."""
    if action.kind == "hugepages" and isinstance(after, dict) and after.get("count") is not None:
        want, got = action.params()["count"], after["count"]
        if got < want:
            return f" (the kernel set {got} of the {want} pages asked: not enough free contiguous memory)"
        if got > want:
            return f" (the pool keeps {got} pages, not {want}: pages in use cannot be freed until released)"
    return ""
