"""The NUMA move: vCPUs, emulator and memory to some nodes, together (its undo is a Restore).

A move is bound from the Snapshot by `bind(snap)` (validate() calls it): which CPUs the
nodes have, how many vCPUs the guest has, whether it runs. It never collects on its own.
"""

from __future__ import annotations

from typing import Any

from .. import cpuset
from ..errors import ActionError, VirtError
from ..model import Snapshot
from ..source import Source
from ..vocab import SCOPE_BOTH, Scope, affects_live
from .base import Action, Restore, check_nodes, cpu_sharing_risks, find_guest, ids, nvcpus, register, unbound
from .memory import NumaTune, numatune_problems
from .pin import EmulatorPin, VcpuPin


@register
class MoveToNode(Action):
    """vCPUs + emulator pinned to the nodes' CPUs and numatune strict to them, together."""
    kind = "move"

    def __init__(self, guest: str, nodes: tuple[int, ...], scope: Scope = "live"):
        self.target, self.scope = guest, scope
        self.nodes = tuple(sorted(set(nodes)))
        self._cpus: tuple[int, ...] | None = None
        self._nvcpus: int | None = None
        self._running = True
        self._same_nodes = False
        self._snapped = False   # bind(snap) was called

    def params(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> MoveToNode:
        return cls(target, ids(p["nodes"]) or (), p.get("scope", "live"))

    def bind(self, snap: Snapshot) -> None:
        self._snapped = True
        online = set(snap.host.cpu_ids)
        cpus = [c for n in self.nodes if (node := snap.host.node(n)) for c in node.cpus
                if not online or c in online]
        self._cpus = tuple(sorted(cpus)) or None
        g = snap.guest(self.target)
        self._nvcpus = nvcpus(g) if g is not None else None
        self._running = g.running if g is not None else True
        nt = g.numatune if g is not None else None
        # Memory already bound to exactly these nodes: no numatune change (libvirt may refuse one).
        self._same_nodes = nt is not None and nt.nodeset is not None and \
            cpuset.parse(nt.nodeset) == self.nodes and nt.mode in ("strict", "restrictive")

    def validate(self, snap: Snapshot) -> list[str]:
        self.bind(snap)
        problems: list[str] = []
        g = find_guest(snap, self.target, self.scope, problems)
        if g is None:
            return problems
        check_nodes(snap, self.nodes, problems)
        if problems:
            return problems
        if not self._cpus:
            return [f"node(s) {cpuset.format(self.nodes)} have no online CPUs to run the guest on"]
        if self._same_nodes:
            return []
        return numatune_problems(snap, g, self._mode(g.running), self.nodes, self.scope)

    def _mode(self, running: bool, scope: Scope | None = None) -> str | None:
        """strict in the saved definition; live, the nodeset alone (libvirt keeps the mode)."""
        return None if affects_live(scope or self.scope, running) else "strict"

    def risks(self, snap: Snapshot) -> list[str]:
        self.bind(snap)
        if not self._cpus or not self._nvcpus:
            return []
        return cpu_sharing_risks(snap, self.target, self._cpus, self._nvcpus,
                                 f"of node(s) {cpuset.format(self.nodes)}")

    def _steps(self) -> list[Action]:
        nodeset = cpuset.format(self.nodes)
        steps: list[Action] = [] if self._same_nodes else [
            NumaTune(self.target, self._mode(self._running), nodeset, self.scope)]
        if self._cpus is not None:
            steps.append(EmulatorPin(self.target, self._cpus, self.scope))
            steps.append(VcpuPin(self.target, None, self._cpus, self.scope,
                                 pins=None if self._nvcpus is None
                                 else {i: self._cpus for i in range(self._nvcpus)}))
        return steps

    def commands(self) -> list[list[str]]:
        return [c for s in self._steps() for c in s.commands()]

    def _check_bound(self) -> None:
        """before()/apply() need what bind(snap) found: the nodes' CPUs and the guest's vCPUs."""
        if not self._snapped:
            raise unbound(self, "which CPUs the nodes have and how many vCPUs the guest has")
        if not self._cpus:
            raise ActionError(f"node(s) {cpuset.format(self.nodes)} have no online CPUs")
        if self._nvcpus is None:
            raise ActionError(f"move {self.target}: guest {self.target!r} is not in the snapshot "
                              "it was bound to")

    def before(self, source: Source) -> dict[str, Any]:
        self._check_bound()
        out = {s.kind: s.before(source) for s in self._steps()}
        out.setdefault("numatune", NumaTune(self.target, None, None, self.scope).before(source))
        return {"numatune": out.pop("numatune"), **out}

    def apply(self, source: Source) -> None:
        self._check_bound()
        done: list[tuple[Action, dict[str, Any]]] = []
        try:
            for s in self._steps():
                b = s.before(source)
                s.apply(source)
                done.append((s, b))
        except (VirtError, ActionError, OSError):
            for s, b in reversed(done):  # leave the guest as it was, not half-moved
                try:
                    s.inverse(b).apply(source)
                except (VirtError, ActionError, OSError):
                    pass
            raise

    def inverse(self, before: dict[str, Any]) -> Restore:
        if self.scope == SCOPE_BOTH:   # each value holds {"live": ..., "config": ...}: each restored in its own
            return Restore(self.target, self._undo_steps(_part(before, "live"), "live")
                           + self._undo_steps(_part(before, "config"), "config"))
        return Restore(self.target, self._undo_steps(before, self.scope))

    def _undo_steps(self, before: dict[str, Any], scope: Scope) -> list[Action]:
        steps: list[Action] = []
        nt = before.get("numatune") or {}
        mode = self._mode(self._running, scope)
        # Live, a guest that had no numatune keeps the one the move gave it: libvirt can
        # neither remove it nor (strict) change it while the guest runs.
        nodeset = nt.get("nodeset") or (nt.get("default_nodeset") if mode else None)
        if nodeset and cpuset.parse(nodeset) != self.nodes:
            steps.append(NumaTune(self.target, mode and (nt.get("mode") or "strict"), nodeset, scope))
        if "emulatorpin" in before:
            steps.append(EmulatorPin(self.target, tuple(before["emulatorpin"]["cpus"]), scope))
        if "vcpupin" in before:
            steps.append(VcpuPin(self.target, scope=scope, pins={
                int(k): tuple(v) for k, v in before["vcpupin"]["pins"].items()}))
        return steps

    def undo_gaps(self, before: dict[str, Any], snap: Snapshot) -> list[str]:
        """Live, a move's numatune cannot be taken back (libvirt can neither remove it nor change a
        strict nodeset while the guest runs): say what stays and what the restored pins leave."""
        g = snap.guest(self.target)
        if g is None or not affects_live(self.scope, g.running):
            return []    # the saved definition can always be put back
        live = _part(before, "live") if self.scope == SCOPE_BOTH else before
        nt = g.numatune
        if nt is None or not nt.nodeset or any(s.kind == "numatune" for s in self._undo_steps(live, "live")):
            return []
        logged = live.get("numatune") or {}
        was = logged.get("nodeset")
        if was and cpuset.parse(was) == cpuset.parse(nt.nodeset):
            return []
        nodes = cpuset.parse(nt.nodeset)
        if set(nodes) >= {n.id for n in snap.host.nodes}:
            return []    # bound to every node: nothing is held in place
        pins = (live.get("vcpupin") or {}).get("pins") or {}
        cpus = {int(c) for v in pins.values() for c in v}
        near = {c for n in nodes if (node := snap.host.node(n)) for c in node.cpus}
        share = len(cpus & near) / len(cpus) if cpus else None
        leaves = (f"; its vCPUs would run on {cpuset.format(cpus)}, of which {share:.0%} are on node(s) "
                  f"{cpuset.format(nodes)}: memory locality would fall to about {share:.0%}"
                  if share is not None and share < 1 else "")
        free = was or logged.get("default_nodeset") or cpuset.format(n.id for n in snap.host.nodes)
        after = ("the undo restores the saved definition, so a restart frees it" if self.scope == SCOPE_BOTH
                 else f"to free it: `virsh numatune {self.target} --nodeset {free} --config` and "
                      f"restart the guest")
        return [f"undo cannot restore where {self.target}'s memory may live: it stays bound to node(s) "
                f"{cpuset.format(nodes)} (numatune {nt.mode}; libvirt can neither remove nor change that "
                f"while the guest runs){leaves}; {after}"]


def _part(before: dict[str, Any], scope: str) -> dict[str, Any]:
    """One scope's values of a live+config move's "before" ({kind: {"live": ..., "config": ...}})."""
    return {k: v[scope] for k, v in before.items() if isinstance(v, dict) and scope in v}
