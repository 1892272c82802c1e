"""One small form per action: validates as you type, shows the virsh/sysfs equivalent and
the guide's risks, and returns the Action on Enter (the app runs it through the Executor,
which asks for confirmation naming the risk).

A form is fields + a `build(values) -> Action` function; building turns text into values
with the same functions the CLI's arguments use (inputs.py) and raises their ValueError
(bad number, bad CPU list), which the form shows as it shows `validate()` problems.
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
from .. import analysis as a
from .. import cpuset, fmt, inputs
from ..actions import display
from ..model import Guest, Snapshot
from ..vocab import IOTUNE_BASE
from . import panes


@dataclass
class Field:
    name: str
    label: str
    value: str = ""
    hint: str = ""


MAX_COMMANDS = 4   # command lines shown; the audit log keeps them all

Build = Callable[[dict[str, str]], "act.Action"]


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

    def __init__(self, snap: Snapshot, marked: tuple[int, ...] = (), **kw: Any) -> None:
        super().__init__(**kw)
        self.snap = snap
        self.marked = set(marked)
        self.rows = _cpu_rows(snap)
        self.order = [c for row in self.rows for c in row]
        self.cursor = 0
        if self.marked and min(self.marked) in self.order:
            self.cursor = self.order.index(min(self.marked))

    def on_mount(self) -> None:
        self._draw()

    def _draw(self) -> None:
        cur = self.order[self.cursor] if self.order else None
        self.update("\n".join(panes.cpu_map(self.snap, {}, marked=self.marked, cursor=cur, width=72)))

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
    """CPU ids per picker line, exactly as `panes.cpu_map` draws them."""
    return [[c for g in groups for c in g] for _, groups in panes.cpu_rows(snap, width)]


class ActionForm(ModalScreen["act.Action | None"]):
    """Fields, live validation, the equivalent command, the risks; Enter applies, Esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "submit", "Apply", priority=False),
        Binding("ctrl+s", "submit", "Apply"),
    ]

    def __init__(self, title: str, fields: list[Field], build: Build, snap: Snapshot,
                 picker_field: str | None = None, note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.build = build
        self.snap = snap
        self.picker_field = picker_field
        self.note = note
        self.action: act.Action | None = None
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label(self.title_text, id="form-title")
            if self.note:
                yield Static(self.note, id="form-note")
            for f in self.fields:
                with Horizontal(classes="field"):
                    yield Label(f.label, classes="field-label")
                    yield Input(value=f.value, placeholder=f.hint, id=f"f-{f.name}")
            if self.picker_field:
                initial: tuple[int, ...] = ()
                try:
                    initial = cpuset.parse(self._field(self.picker_field).value)
                except cpuset.CpusetError:
                    pass
                yield CpuPicker(self.snap, initial, id="picker")
                yield Static("[$text-muted]arrows move · space toggles a CPU · a toggles its node[/]",
                             classes="hint")
            yield Static(id="problems")
            yield Static(id="risks")
            yield Static(id="command")
            yield Static("[$text-muted]Enter apply · Esc cancel · Tab next field[/]", classes="hint")

    def _field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def on_mount(self) -> None:
        if self.picker_field:
            self.query_one(CpuPicker).focus()
        elif self.fields:
            self.query_one(f"#f-{self.fields[0].name}", Input).focus()
        self.refresh_preview()

    def values(self) -> dict[str, str]:
        return {f.name: self.query_one(f"#f-{f.name}", Input).value for f in self.fields}

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
        p = self.query_one("#problems", Static)
        if problems:
            p.update("\n".join(f"[$error]✗ {_esc(x)}[/]" for x in problems))
        else:
            p.update("[$success]✓ valid[/]")
        shown = [f"[b]$ {_esc(display(c))}[/]" for c in cmds[:MAX_COMMANDS]]
        if len(cmds) > MAX_COMMANDS:
            shown.append(f"[$text-muted]… and {len(cmds) - MAX_COMMANDS} more like these[/]")
        self.query_one("#command", Static).update("\n".join(shown))
        self.query_one("#risks", Static).update(
            "\n".join(f"[$warning]⚠ risk: {_esc(r)}[/] (you will be asked to confirm)" for r in risks))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self.picker_field and event.input.id == f"f-{self.picker_field}":
            try:
                self.query_one(CpuPicker).set_marked(cpuset.parse(event.value))
            except cpuset.CpusetError:
                pass
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


def _esc(text: str) -> str:
    return text.replace("[", r"\[")


# -- the forms, one per key ----------------------------------------------------------------

def pin_form(snap: Snapshot, g: Guest) -> ActionForm:
    first = g.vcpus[0] if g.vcpus else None
    current = cpuset.format(first.affinity) if first is not None and first.pinned else ""

    def build(v: dict[str, str]) -> act.Action:
        cpus = inputs.cpulist(v["cpus"])
        which = inputs.vcpu_list(v["vcpus"])
        if which is None:
            return act.VcpuPin(g.name, None, cpus)
        if len(which) == 1:
            return act.VcpuPin(g.name, which[0], cpus)
        return act.VcpuPin(g.name, pins={i: cpus for i in which})
    return ActionForm(f"p  pin vCPUs of {g.name}", [
        Field("vcpus", "vCPUs", "all", "all, or 0 / 0-1 / 0,2"),
        Field("cpus", "host CPUs", current, "e.g. 0-3 (or pick below)"),
    ], build, snap, picker_field="cpus")


def unpin_form(snap: Snapshot, g: Guest) -> ActionForm:
    def build(v: dict[str, str]) -> act.Action:
        which = inputs.vcpu_list(v["vcpus"])
        if which is None:
            return act.VcpuPin(g.name, None, None)
        if len(which) == 1:
            return act.VcpuPin(g.name, which[0], None)
        return act.VcpuPin(g.name, pins={i: snap.host.cpu_ids for i in which})
    return ActionForm(f"u  unpin vCPUs of {g.name}", [
        Field("vcpus", "vCPUs", "all", "all, or 0 / 0-1"),
    ], build, snap, note="vCPUs go back to every host CPU the guest may use.")


def emulatorpin_form(snap: Snapshot, g: Guest) -> ActionForm:
    current = cpuset.format(g.emulator_affinity or ())

    def build(v: dict[str, str]) -> act.Action:
        return act.EmulatorPin(g.name, inputs.cpulist(v["cpus"]))
    return ActionForm(f"e  pin the emulator threads of {g.name}", [
        Field("cpus", "host CPUs", current, "e.g. 0-1"),
    ], build, snap, picker_field="cpus",
        note="The guide (8.4.4): pin the emulator on the vCPUs' node.")


def move_form(snap: Snapshot, g: Guest) -> ActionForm:
    best = a.best_node(g, snap.host)

    def build(v: dict[str, str]) -> act.Action:
        return act.MoveToNode(g.name, inputs.cpulist(v["nodes"]))
    return ActionForm(f"M  move {g.name} to a node", [
        Field("nodes", "node(s)", "" if best is None else str(best), "e.g. 0"),
    ], build, snap, note="vcpupin + emulatorpin + numatune strict to the node, together (8.4.1).")


def numatune_form(snap: Snapshot, g: Guest) -> ActionForm:
    nt = g.numatune
    nodes = a.vcpu_nodes(g, snap.host)

    def build(v: dict[str, str]) -> act.Action:
        return act.NumaTune(g.name, v["mode"].strip() or None, v["nodeset"].strip() or None)
    return ActionForm(f"n  numatune {g.name}", [
        Field("mode", "mode", nt.mode if nt else "strict", "strict, preferred, interleave, restrictive"),
        Field("nodeset", "nodeset", (nt.nodeset or "") if nt else cpuset.format(nodes), "e.g. 0"),
    ], build, snap)


def _kib_text(v: int | None) -> str:
    return "unlimited" if v is None else f"{v}K"


def memtune_form(snap: Snapshot, g: Guest) -> ActionForm:
    mt = g.memtune
    cur = {"hard": mt.hard_limit_kib if mt else None, "soft": mt.soft_limit_kib if mt else None,
           "swap_hard": mt.swap_hard_limit_kib if mt else None}

    def build(v: dict[str, str]) -> act.Action:
        kw: dict[str, int | None] = {}   # only the limits changed: MemTune keeps the others
        for k in ("hard", "soft", "swap_hard"):
            if v[k].strip() and v[k].strip() != _kib_text(cur[k]):
                kw[k] = inputs.size_kib(v[k])
        return act.MemTune(g.name, scope="live", **kw)
    return ActionForm(f"m  memtune {g.name} (memory {fmt.fmt_kib(g.memory_kib)})", [
        Field("hard", "hard_limit", _kib_text(cur["hard"]), "e.g. 2G, unlimited"),
        Field("soft", "soft_limit", _kib_text(cur["soft"]), "e.g. 1G"),
        Field("swap_hard", "swap_hard", _kib_text(cur["swap_hard"]), "more than hard_limit"),
    ], build, snap, note="Too low a hard_limit gets the guest killed by the kernel (7.3.2).")


def throttle_form(snap: Snapshot, g: Guest) -> ActionForm:
    disk = g.disks[0] if g.disks else None

    def build(v: dict[str, str]) -> act.Action:
        target = v["disk"].strip()
        d = next((x for x in g.disks if x.target == target), None)
        if d is None:
            raise ValueError(f"{g.name} has no disk {target!r} (disks: "
                             f"{', '.join(x.target for x in g.disks) or 'none'})")
        return act.BlkDevIoTune(g.name, target, {k: inputs.scaled(v[k]) for k in IOTUNE_BASE})
    return ActionForm(f"b  disk throttles of {g.name}", [
        Field("disk", "disk", disk.target if disk else "", "e.g. vda"),
        *[Field(k, k.replace("_sec", "/s"), str(disk.limit(k) if disk else 0), "0 = no limit; 1M = 1048576")
          for k in IOTUNE_BASE],
    ], build, snap, note="blkdeviotune; a total limit cannot be mixed with read/write ones (6.5.1).")


def weight_form(snap: Snapshot, g: Guest) -> ActionForm:
    def build(v: dict[str, str]) -> act.Action:
        return act.BlkioWeight(g.name, inputs.whole(v["weight"]))
    return ActionForm(f"w  blkio weight of {g.name}", [
        Field("weight", "weight", str(g.blkio_weight or 500), "100-1000"),
    ], build, snap)


def ksm_toggle_form(snap: Snapshot) -> ActionForm:
    run = snap.host.ksm.run if snap.host.ksm else 0

    def build(v: dict[str, str]) -> act.Action:
        return act.KsmSet({"run": inputs.whole(v["run"])})
    return ActionForm(f"k  KSM {'off' if run == 1 else 'on'}", [
        Field("run", "run", "0" if run == 1 else "1", "0 stop, 1 run, 2 stop and unmerge"),
    ], build, snap)


def ksm_settings_form(snap: Snapshot) -> ActionForm:
    k = snap.host.ksm
    cur = {"pages_to_scan": k.pages_to_scan if k else 100, "sleep_millisecs": k.sleep_millisecs if k else 20,
           "merge_across_nodes": k.merge_across_nodes if k and k.merge_across_nodes is not None else 1}

    def build(v: dict[str, str]) -> act.Action:
        changed = {key: inputs.whole(v[key]) for key in cur if v[key].strip() != str(cur[key])}
        if not changed:
            raise ValueError("change at least one value")
        return act.KsmSet(changed)
    return ActionForm("K  KSM settings", [Field(key, key, str(val)) for key, val in cur.items()],
                      build, snap, note="merge_across_nodes=0 keeps merged pages node-local (8.5).")


def hugepages_form(snap: Snapshot) -> ActionForm:
    sizes = a.hugepage_sizes(snap) or [2048]
    pool = snap.host.hugepages.get(sizes[0])

    def build(v: dict[str, str]) -> act.Action:
        size = inputs.page_size_kib(v["size"])
        node = v["node"].strip()
        return act.HugepagePool(size, None if node in ("", "all") else inputs.whole(node),
                                inputs.whole(v["count"]))
    return ActionForm("h  hugepage pool", [
        Field("size", "page size", panes.size_label(sizes[0]), "2M or 1G"),
        Field("node", "node", "all", "all, or a node id"),
        Field("count", "pages", str(pool.total if pool else 0), "persistent pages wanted"),
    ], build, snap)


__all__ = ["ActionForm", "CpuPicker", "Field", "display"]
