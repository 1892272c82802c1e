"""The tuning half of the app: a key opens its action's form, the Executor runs the Action
off the UI thread, and the result comes back as an `ActionDone` message (a confirmation
screen first where the guide warns of a risk). Mixed into KvmtuneApp."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual import work
from textual.message import Message

from ..actions import Action, Executor, Result
from ..model import Snapshot
from ..vocab import Status
from . import formdefs, forms
from .screens import ConfirmScreen

FORMS = formdefs.FORMS


class ActionDone(Message):
    """An action (or undo, when `action` is None) finished: its result, or why it could not run."""

    def __init__(self, action: Action | None, result: Result | None, error: str | None) -> None:
        super().__init__()
        self.action, self.result, self.error = action, result, error


class Acting:
    """Opens forms, runs actions and undo, reports their results. Needs a KvmtuneApp."""

    # provided by KvmtuneApp (and Textual's App)
    executor: Executor | None
    _busy: bool
    selected_guest: Callable[[], Any]
    set_status: Callable[..., None]
    start_poll: Callable[[], None]
    push_screen: Callable[..., Any]
    post_message: Callable[[Message], bool]

    @property
    def snap(self) -> Snapshot | None:
        """The snapshot on screen: KvmtuneApp's property (a property here too, so the types agree)."""
        raise NotImplementedError

    def action_form(self, name: str) -> None:
        """Open the form of an action key (FORMS); the form returns the Action to run."""
        build, per_guest = FORMS[name]
        if self.snap is None:
            self.set_status("no snapshot yet", "warning")
            return
        g = self.selected_guest() if per_guest else None
        if per_guest and g is None:
            self.set_status("select a guest first", "warning")
            return
        if self._busy:
            self.set_status("an action is still running", "warning")
            return
        snap = self.snap
        try:
            screen = build(snap, g) if per_guest else build(snap)
        except forms.NoForm as e:
            self.set_status(str(e), "warning")
            return
        self.push_screen(screen, self._form_done)

    def action_undo(self) -> None:
        """z: the executor previews the newest undoable entry (what it reverts, its commands,
        what it cannot restore); the confirmation screen asks before anything runs."""
        if self.snap is None:
            return
        if self._busy:
            self.set_status("an action is still running", "warning")
            return
        self._execute(None, confirmed=False)

    def _form_done(self, action: Action | None) -> None:
        if action is None:
            self.set_status("cancelled")
            return
        self._execute(action, confirmed=False)

    def _execute(self, action: Action | None, confirmed: bool, undo_id: int | None = None) -> None:
        """Run an action off the UI thread; None = undo: entry `undo_id` once confirmed, else a
        preview of the newest undoable one."""
        if self.executor is None or self.snap is None:
            return
        self._busy = True
        self.set_status("applying…" if action is not None else "undoing…" if confirmed else "reading the log…")
        self._run_executor(self.executor, action, confirmed, self.snap, undo_id)

    @work(thread=True, group="action", exit_on_error=False)
    def _run_executor(self, executor: Executor, action: Action | None, confirmed: bool,
                      snap: Snapshot, undo_id: int | None) -> None:
        try:
            if action is None:
                result = executor.undo(snap, undo_id, confirmed=confirmed, preview=True)
            else:
                result = executor.run(action, snap, confirmed=confirmed)
        except Exception as e:  # never a traceback on screen
            self.post_message(ActionDone(action, None, f"failed: {e}"))
            return
        self.post_message(ActionDone(action, result, None))

    def on_action_done(self, message: ActionDone) -> None:
        self._busy = False
        action, result = message.action, message.result
        if result is None:
            self.set_status(message.error or "failed", "error")
            return
        if result.status == Status.NEEDS_CONFIRMATION:
            undo = action is None
            self.push_screen(ConfirmScreen(result.risks, result.commands,
                                           title=result.message if undo else None),
                             partial(self._confirmed, action, result.undo_of))
            self.set_status(result.message, "warning")
            return
        level = {Status.APPLIED: "ok", Status.DRY_RUN: "info", Status.REFUSED: "warning"}.get(
            result.status, "error")
        msg = result.message if action is not None else f"undo: {result.message}"
        if result.status == Status.DRY_RUN and result.commands:
            msg += " — would run: " + " ; ".join(forms.display(c) for c in result.commands)
        self.set_status(msg, level)
        if result.status == Status.APPLIED:
            self.start_poll()   # the next refresh shows the effect

    def _confirmed(self, action: Action | None, undo_id: int | None, yes: bool | None) -> None:
        if yes:
            self._execute(action, confirmed=True, undo_id=undo_id)
        else:
            self.set_status("undo cancelled: nothing changed" if action is None
                            else "not applied: confirmation declined")


