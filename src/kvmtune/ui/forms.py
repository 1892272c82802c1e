"""The action form and its widgets: validates as you type, shows the virsh/sysfs equivalent
and the guide's risks, and returns the Action on Enter (the app runs it through the
Executor, which asks for confirmation naming the risk). The forms themselves, one per key,
are in formdefs.py.

A form is fields + a `build(values) -> Action` function; building turns text into values
with the same functions the CLI's arguments use (inputs.py) and raises their ValueError
(bad number, bad CPU list), which the form shows as it shows `validate()` problems. A field
with `choices` is picked from a list (a disk, a scope), never typed; `linked` refills
fields when one changes (another disk's limits, another node's pool).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from .. import actions as act
from .. import cpuset
from ..actions import display
from ..model import Snapshot
from . import cpumap
from .markup import escape


@dataclass
class Field:
    name: str
    label: str
    value: str = ""
    hint: str = ""
    choices: tuple[str, ...] = ()   # picked with ←/→ instead of typed


class NoForm(Exception):
    """A form that cannot open here (e.g. a guest without disks): the message says why."""


MAX_COMMANDS = 4   # command lines shown; the audit log keeps them all

Build = Callable[[dict[str, str]], "act.Action"]
# (changed field, all values) -> fields to refill
Linked = Callable[[str, dict[str, str]], dict[str, str]]
# the built action -> what it will do, in a line or two above its commands ("" for nothing)
Preview = Callable[["act.Action"], str]


class Choice(Static, can_focus=True):
    """One of a few values, shown as ◀ value ▶; ←/→ (or space) step through them."""

    DEFAULT_CSS = """
    Choice { width: 1fr; height: 1; background: $panel; }
    Choice:focus { background: $boost; text-style: bold reverse; }
    """
    BINDINGS = [
        Binding("left", "step(-1)", "previous", show=False),
        Binding("right", "step(1)", "next", show=False),
        Binding("space", "step(1)", "next", show=False),
    ]

    class Changed(Message):
        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice, self.value = choice, value

    def __init__(self, choices: tuple[str, ...], value: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.choices = choices
        self._i = choices.index(value) if value in choices else 0

    @property
    def value(self) -> str:
        return self.choices[self._i] if self.choices else ""

    @value.setter
    def value(self, v: str) -> None:
        if v in self.choices and v != self.value:
            self._i = self.choices.index(v)
            self._changed()

    def on_mount(self) -> None:
        self._draw()

    def _draw(self) -> None:
        more = len(self.choices) > 1
        self.update(f"{'◀ ' if more else ''}{escape(self.value)}{' ▶' if more else ''}"
                    f"{f'  [$text-muted]({self._i + 1}/{len(self.choices)})[/]' if more else ''}")

    def _changed(self) -> None:
        self._draw()
        self.post_message(self.Changed(self, self.value))

    def action_step(self, step: int) -> None:
        if len(self.choices) > 1:
            self._i = (self._i + step) % len(self.choices)
            self._changed()


class CpuPicker(Static, can_focus=True):
    """Host CPUs grouped by node and socket; arrows move, space toggles, a toggles the node."""

    BINDINGS = [
        Binding("left", "move(-1)", "previous CPU", show=False),
        Binding("right", "move(1)", "next CPU", show=False),
        Binding("up", "row(-1)", "row up", show=False),
        Binding("down", "row(1)", "row down", show=False),
        Binding("space", "toggle_cpu", "toggle CPU"),
        Binding("a", "toggle_node", "toggle node"),
    ]

    class Changed(Message):
        def __init__(self, cpus: tuple[int, ...]) -> None:
            super().__init__()
            self.cpus = cpus

    def __init__(self, snap: Snapshot, marked: tuple[int, ...] = (), taken: set[int] | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.snap = snap
        self.marked = set(marked)
        self.taken = taken or set()     # CPUs other guests have pinned vCPUs on
        self.rows = _cpu_rows(snap)
        self.order = [c for row in self.rows for c in row]
        self.cursor = 0
        if self.marked and min(self.marked) in self.order:
            self.cursor = self.order.index(min(self.marked))

    def on_mount(self) -> None:
        self._draw()

    def _draw(self) -> None:
        cur = self.order[self.cursor] if self.order else None
        self.update("\n".join(cpumap.cpu_map(self.snap, {}, marked=self.marked, cursor=cur, width=72,
                                            taken=self.taken)))

    def set_marked(self, cpus: tuple[int, ...]) -> None:
        if set(cpus) != self.marked:
            self.marked = set(cpus)
            self._draw()

    def _changed(self) -> None:
        self._draw()
        self.post_message(self.Changed(tuple(sorted(self.marked))))

    def action_move(self, step: int) -> None:
        if self.order:
            self.cursor = (self.cursor + step) % len(self.order)
            self._draw()

    def action_row(self, step: int) -> None:
        if not self.order:
            return
        cur = self.order[self.cursor]
        r = next(i for i, row in enumerate(self.rows) if cur in row)
        col = self.rows[r].index(cur)
        nr = self.rows[(r + step) % len(self.rows)]
        self.cursor = self.order.index(nr[min(col, len(nr) - 1)])
        self._draw()

    # Not `action_toggle`: that is DOMNode's own action (toggle a boolean attribute), with another signature.
    def action_toggle_cpu(self) -> None:
        if self.order:
            self.marked ^= {self.order[self.cursor]}
            self._changed()

    def action_toggle_node(self) -> None:
        if not self.order:
            return
        node_id = self.snap.host.node_of_cpu(self.order[self.cursor])
        node = None if node_id is None else self.snap.host.node(node_id)
        cpus = set(node.cpus) if node is not None else set()
        self.marked = self.marked - cpus if cpus <= self.marked else self.marked | cpus
        self._changed()


def _cpu_rows(snap: Snapshot, width: int = 72) -> list[list[int]]:
    """CPU ids per picker line, exactly as `cpumap.cpu_map` draws them."""
    return [[c for g in groups for c in g] for _, groups in cpumap.cpu_rows(snap, width)]


class ActionForm(ModalScreen["act.Action | None"]):
    """Fields, live validation, the equivalent command, the risks; Enter applies, Esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "submit", "Apply", priority=False),
        Binding("ctrl+s", "submit", "Apply"),
    ]

    def __init__(self, title: str, fields: list[Field], build: Build, snap: Snapshot,
                 picker_field: str | None = None, note: str = "", linked: Linked | None = None,
                 pins_of_others: dict[str, tuple[int, ...]] | None = None,
                 preview: Preview | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.title_text = title
        self.fields = fields
        self.build = build
        self.snap = snap
        self.picker_field = picker_field
        self.note = note
        self.linked = linked
        self.pins_of_others = pins_of_others or {}
        self.action: act.Action | None = None
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label(self.title_text, id="form-title")
            if self.note:
                yield Static(self.note, id="form-note")
            width = max((len(f.label) for f in self.fields), default=0) + 2   # no label runs into its value
            for f in self.fields:
                with Horizontal(classes="field"):
                    label = Label(f.label, classes="field-label")
                    label.styles.width = max(width, 16)
                    yield label
                    if f.choices:
                        yield Choice(f.choices, f.value, id=f"f-{f.name}")
                    else:
                        yield Input(value=f.value, placeholder=f.hint, id=f"f-{f.name}")
            if self.picker_field:
                initial: tuple[int, ...] = ()
                try:
                    initial = cpuset.parse(self._field(self.picker_field).value)
                except cpuset.CpusetError:
                    pass
                taken = {c for cpus in self.pins_of_others.values() for c in cpus}
                yield CpuPicker(self.snap, initial, taken, id="picker")
                if taken:
                    who = "; ".join(f"{g} {cpuset.format(c)}" for g, c in self.pins_of_others.items())
                    yield Static(f"[$warning]p[/] pinned by other guests: {escape(who)}", id="picker-taken")
                yield Static("[$text-muted]arrows move · space toggles a CPU · a toggles its node[/]",
                             classes="hint")
            yield Static(id="problems")
            yield Static(id="preview")
            yield Static(id="risks")
            yield Static(id="command")
            yield Static("[$text-muted]Enter apply · Esc cancel · Tab next field[/]", classes="hint")

    def _field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def on_mount(self) -> None:
        if self.picker_field:
            self.query_one(CpuPicker).focus()
        elif self.fields:
            typed = [f for f in self.fields if not f.choices] or self.fields
            self.query_one(f"#f-{typed[0].name}").focus()
        self.refresh_preview()

    def values(self) -> dict[str, str]:
        out = {}
        for f in self.fields:
            w = self.query_one(f"#f-{f.name}")
            out[f.name] = w.value if isinstance(w, (Input, Choice)) else ""
        return out

    def set_value(self, name: str, value: str) -> None:
        w = self.query_one(f"#f-{name}")
        if isinstance(w, (Input, Choice)):
            w.value = value

    def _relink(self, name: str) -> None:
        if self.linked is not None:
            for k, v in self.linked(name, self.values()).items():
                self.set_value(k, v)

    def refresh_preview(self) -> None:
        """Build the action from the fields and show its problems, command and risks."""
        self.action, problems, risks, cmds = None, [], [], []
        try:
            self.action = self.build(self.values())
            problems = self.action.validate(self.snap)
            if not problems:
                risks = self.action.risks(self.snap)
            cmds = self.action.commands()
        except (ValueError, act.ActionError) as e:
            problems = [str(e)]
        self.problems = problems
        said = (self.preview(self.action) if self.preview is not None and self.action is not None
                and not problems else "")
        preview = self.query_one("#preview", Static)
        preview.update(said)
        preview.display = bool(said)   # (an empty Static would still take a line)
        p = self.query_one("#problems", Static)
        if problems:
            p.update("\n".join(f"[$error]✗ {escape(x)}[/]" for x in problems))
        else:
            p.update("[$success]✓ valid[/]")
        shown = [f"[b]$ {escape(display(c))}[/]" for c in cmds[:MAX_COMMANDS]]
        if len(cmds) > MAX_COMMANDS:
            shown.append(f"[$text-muted]… and {len(cmds) - MAX_COMMANDS} more like these[/]")
        self.query_one("#command", Static).update("\n".join(shown))
        self.query_one("#risks", Static).update(
            "\n".join(f"[$warning]⚠ risk: {escape(r)}[/] (you will be asked to confirm)" for r in risks))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self.picker_field and event.input.id == f"f-{self.picker_field}":
            try:
                self.query_one(CpuPicker).set_marked(cpuset.parse(event.value))
            except cpuset.CpusetError:
                pass
        self.refresh_preview()

    @on(Choice.Changed)
    def _chosen(self, event: Choice.Changed) -> None:
        self._relink((event.choice.id or "").removeprefix("f-"))
        self.refresh_preview()

    @on(CpuPicker.Changed)
    def _picked(self, event: CpuPicker.Changed) -> None:
        self.query_one(f"#f-{self.picker_field}", Input).value = cpuset.format(event.cpus)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        self.refresh_preview()
        if self.problems or self.action is None:
            self.app.bell()
            return   # invalid: nothing is applied
        self.dismiss(self.action)

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["ActionForm", "Choice", "CpuPicker", "Field", "NoForm", "Preview", "display"]
