"""The Action shape every tuning step shares, and the checks several of them use.

An Action is plain data plus: `validate(snap)` (problems; touches nothing), `risks(snap)`
(the guide's warnings that need confirmation), `commands()` (the virsh/sysfs equivalent,
argvs shown with `display`), `before(source)` (the values it will change, read back),
`apply(source)` and `inverse(before)` (the action that restores `before`).
`params()` + `from_params()` let the audit log rebuild an action for undo; `undo_gaps()`
says what that undo cannot restore.
What depends on the host ("all vCPUs", "unpin", a node's CPUs) comes from the Snapshot via
`bind(snap)` (validate() calls it); an action never collects or reads the host for it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import analysis, cpuset, fmt
from ..errors import ActionError
from ..model import Guest, Snapshot
from ..source import Source
from ..virt.interface import Hypervisor
from ..vocab import SCOPE_BOTH, SCOPES, Scope, scope_args

# Every concrete action class, by kind (filled by `register`), so a logged entry can be rebuilt.
KINDS: dict[str, type[Action]] = {}


def register(cls: type[Action]) -> type[Action]:
    KINDS[cls.kind] = cls
    return cls


def display(argv: list[str]) -> str:
    """One command as a user would type it. `echo V > PATH` keeps its redirection unquoted."""
    if len(argv) == 4 and argv[0] == "echo" and argv[2] == ">":
        return f"echo {shlex.quote(argv[1])} > {shlex.quote(argv[3])}"
    return shlex.join(argv)


class Action:
    kind: ClassVar[str] = ""
    target: str = "host"
    scope: Scope = "live"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r}, {self.params()!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Action) and type(other) is type(self) and other.target == self.target
                and other.params() == self.params())

    # -- what subclasses provide --------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """JSON-ready parameters; `from_params(target, params())` rebuilds the action."""
        raise NotImplementedError

    @classmethod
    def from_params(cls, target: str, params: dict[str, Any]) -> Action:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for a user: what this does."""
        return " ; ".join(display(c) for c in self.commands())

    def bind(self, snap: Snapshot) -> None:
        """Resolve what depends on the host (e.g. "all vCPUs", "unpin") from the snapshot."""

    def validate(self, snap: Snapshot) -> list[str]:
        return []

    def risks(self, snap: Snapshot) -> list[str]:
        return []

    def commands(self) -> list[list[str]]:
        raise NotImplementedError

    def before(self, source: Source) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, source: Source) -> None:
        raise NotImplementedError

    def inverse(self, before: dict[str, Any]) -> Action:
        raise NotImplementedError

    def undo_gaps(self, before: dict[str, Any], snap: Snapshot) -> list[str]:
        """What undoing this action (`inverse(before)`, bound to `snap`) cannot restore, and what
        that leaves; the executor asks before such an undo."""
        return []


class GuestAction(Action):
    """A guest tunable, read and undone per scope: `read(source, scope)` reads one scope (live,
    config or current), `undo_as(before, scope)` is the action that writes `before` back there.
    live+config reads both, since the saved definition may hold other values than the running
    guest, and its undo restores each into its own."""

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        raise NotImplementedError

    def undo_as(self, before: dict[str, Any], scope: Scope) -> Action:
        raise NotImplementedError

    def before(self, source: Source) -> dict[str, Any]:
        if self.scope == SCOPE_BOTH:
            return {"live": self.read(source, "live"), "config": self.read(source, "config")}
        return self.read(source, self.scope)

    def inverse(self, before: dict[str, Any]) -> Action:
        if self.scope != SCOPE_BOTH:
            return self.undo_as(before, self.scope)
        live, config = before["live"], before["config"]
        if live == config:
            return self.undo_as(live, SCOPE_BOTH)
        return Restore(self.target, [self.undo_as(live, "live"), self.undo_as(config, "config")])


@register
class Restore(Action):
    """Several guest actions applied in order (what undoing a move does)."""
    kind = "restore"

    def __init__(self, guest: str, steps: list[Action]):
        self.target, self.steps = guest, list(steps)
        scopes = {s.scope for s in steps}
        self.scope = SCOPE_BOTH if len(scopes) > 1 else scopes.pop() if scopes else "live"

    def params(self) -> dict[str, Any]:
        return {"steps": [{"kind": s.kind, "params": s.params()} for s in self.steps]}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> Restore:
        return cls(target, [rebuild(s["kind"], target, s["params"]) for s in p.get("steps", [])])

    def bind(self, snap: Snapshot) -> None:
        for s in self.steps:
            s.bind(snap)

    def validate(self, snap: Snapshot) -> list[str]:
        return [p for s in self.steps for p in s.validate(snap)]

    def commands(self) -> list[list[str]]:
        return [c for s in self.steps for c in s.commands()]

    def before(self, source: Source) -> dict[str, Any]:
        return {"steps": [s.before(source) for s in self.steps]}

    def apply(self, source: Source) -> None:
        for s in self.steps:
            s.apply(source)

    def inverse(self, before: dict[str, Any]) -> Restore:
        return Restore(self.target, [s.inverse(b) for s, b in zip(self.steps, before["steps"])])


def rebuild(kind: str, target: str, params: dict[str, Any]) -> Action:
    cls = KINDS.get(kind)
    if cls is None:
        raise ActionError(f"unknown action kind {kind!r}")
    return cls.from_params(target, params)


# -- checks shared by the guest actions ------------------------------------------------------

def scope_flags(scope: str) -> list[str]:
    """virsh's scope options for the shown command (e.g. ["--live", "--config"])."""
    if scope not in SCOPES:
        raise ActionError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    return scope_args(scope)


def find_guest(snap: Snapshot, name: str, scope: str, problems: list[str]) -> Guest | None:
    """The guest, or None with a problem recorded (missing; not running for a live change)."""
    if scope not in SCOPES:
        problems.append(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    g = snap.guest(name)
    if g is None:
        if snap.disconnected:
            problems.append(f"cannot check guest {name!r}: the hypervisor is not reachable")
        else:
            problems.append(f"no guest named {name!r}")
        return None
    if scope in ("live", SCOPE_BOTH) and not g.running:
        problems.append(f"guest {name!r} is {g.state}: a live change needs it running "
                        "(change only its saved definition: config, --config)")
    return g


def check_cpus(snap: Snapshot, cpus: tuple[int, ...], problems: list[str]) -> None:
    if not cpus:
        problems.append("the CPU list is empty")
        return
    online = set(snap.host.cpu_ids)
    if not online:
        return  # the host figures are missing; libvirt will check
    bad = [c for c in cpus if c not in online]
    if bad:
        problems.append(f"no such online CPU: {cpuset.format(bad)} (online: {cpuset.format(online)})")


def check_nodes(snap: Snapshot, nodes: tuple[int, ...], problems: list[str]) -> None:
    if not nodes:
        problems.append("the node set is empty")
        return
    known = {n.id for n in snap.host.nodes}
    if not known:
        return
    bad = [n for n in nodes if n not in known]
    if bad:
        problems.append(f"no such online NUMA node: {cpuset.format(bad)} (online: {cpuset.format(known)})")


def cpu_sharing_risks(snap: Snapshot, name: str, cpus: Iterable[int], confined: int,
                      where: str = "") -> list[str]:
    """The guide's CPU rules for confining `confined` vCPUs of guest `name` to `cpus` (`where`
    names them, e.g. "of node 2"): another guest's pinned (dedicated) CPUs are its own, and at
    most one vCPU per CPU."""
    want = set(cpus)
    if not want or want >= set(snap.host.cpu_ids):
        return []   # every CPU: nothing is confined
    out = []
    taken = {other: set(c) & want for other, c in analysis.pins_of_others(snap, name).items()}
    taken = {k: v for k, v in taken.items() if v}
    if taken:
        who = "; ".join(f"{other} on {cpuset.format(c)}" for other, c in taken.items())
        out.append(f"CPU(s) {cpuset.format(set().union(*taken.values()))} are pinned by other guests "
                   f"({who}): the vCPUs of {name} would compete with them there")
    others = analysis.confined_vcpus(snap, want, name)
    total = confined + sum(others.values())
    if total > len(want):
        parts = ", ".join(f"{g} {n}" for g, n in {name: confined, **others}.items() if n)
        out.append(f"overcommit: {total} vCPUs ({parts}) would share {len(want)} CPU(s) "
                   f"{where + ' ' if where else ''}({cpuset.format(want)}), {total / len(want):.2g}:1; "
                   f"the guide advises at most one vCPU per CPU")
    return out


def strict_memory_problem(snap: Snapshot, g: Guest, nodes: tuple[int, ...]) -> str | None:
    """A strict nodeset must hold the guest: what must move there <= its free memory (the one
    rule, analysis.fits_nodes, that the move form and the advisor use too)."""
    host_nodes = [snap.host.node(n) for n in nodes]
    if any(n is None for n in host_nodes):
        return None
    if analysis.fits_nodes(g, snap.host, nodes):
        return None
    free = sum(n.mem_free_kib for n in host_nodes if n is not None)
    need = analysis.strict_need_kib(g, nodes)
    return (f"node(s) {cpuset.format(nodes)} have {fmt.size_text(free)} free but guest {g.name!r} "
            f"needs {fmt.size_text(need)} more there; free memory first or pick more nodes")


def need_hv(source: Source) -> Hypervisor:
    """The source's hypervisor; ActionError for a host-only source."""
    if source.hv is None:
        raise ActionError("no hypervisor connection (this source is host-only)")
    return source.hv


def unbound(action: Action, what: str) -> ActionError:
    """The error for before()/apply() on an action that needs `bind(snap)` and never had it."""
    return ActionError(f"{action.kind} {action.target}: {what} comes from the snapshot; "
                       "bind it to a snapshot first (validate)")


# -- small helpers shared by the guest actions -----------------------------------------------

def nvcpus(g: Guest) -> int:
    """The guest's vCPU count: its vCPU rows, else the count libvirt gave (0 when unknown)."""
    return len(g.vcpus) or (g.nvcpus or 0)


def ids(v: Any) -> tuple[int, ...] | None:
    """A logged list of CPU or node ids (JSON) as a tuple of ints; None stays None."""
    return None if v is None else tuple(int(x) for x in v)
