"""Pinning: vcpupin, emulatorpin, iothreadpin.

Through the Hypervisor interface (`source.hv`), never libvirt directly; each shows the
virsh line an admin would type for the same change. "All vCPUs" and "unpin" are resolved
from the Snapshot by `bind(snap)` (validate() calls it), never by reading the host again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import cpuset
from ..errors import ActionError
from ..model import Snapshot
from ..source import Source
from ..vocab import Scope
from .base import (
    GuestAction,
    check_cpus,
    cpu_sharing_risks,
    find_guest,
    ids,
    need_hv,
    nvcpus,
    register,
    scope_flags,
    unbound,
)

# -- vcpupin -------------------------------------------------------------------------------

@register
class VcpuPin(GuestAction):
    """Pin one vCPU (or all: vcpu=None) to `cpus`; cpus=None unpins (the default CPU set).

    `pins` is an explicit {vcpu: cpus} map (what undo restores); it overrides vcpu/cpus.
    `bind(snap)` turns "all" and "unpin" into that map so commands() can list each line.
    """
    kind = "vcpupin"

    def __init__(self, guest: str, vcpu: int | None = None, cpus: tuple[int, ...] | None = None,
                 scope: Scope = "live", pins: Mapping[int, tuple[int, ...]] | None = None):
        self.target, self.vcpu, self.scope = guest, vcpu, scope
        self.cpus = None if cpus is None else tuple(sorted(set(cpus)))
        self.pins = None if pins is None else {int(k): tuple(v) for k, v in sorted(pins.items())}
        self._bound: dict[int, tuple[int, ...]] | None = self.pins
        self._snapped = False   # bind(snap) was called (it may still leave _bound None)

    def params(self) -> dict[str, Any]:
        return {"vcpu": self.vcpu, "cpus": None if self.cpus is None else list(self.cpus),
                "scope": self.scope,
                "pins": None if self.pins is None else {str(k): list(v) for k, v in self.pins.items()}}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> VcpuPin:
        pins = p.get("pins")
        return cls(target, p.get("vcpu"), ids(p.get("cpus")), p.get("scope", "live"),
                   None if pins is None else {int(k): tuple(int(x) for x in v) for k, v in pins.items()})

    def bind(self, snap: Snapshot) -> None:
        self._snapped = True
        if self.pins is not None:
            return
        g = snap.guest(self.target)
        if g is None:
            return
        n = nvcpus(g)
        idx = list(range(n)) if self.vcpu is None else [self.vcpu]
        cpus = self.cpus if self.cpus is not None else snap.default_cpus(g)
        if cpus:
            self._bound = {i: tuple(cpus) for i in idx}

    def validate(self, snap: Snapshot) -> list[str]:
        self.bind(snap)
        problems: list[str] = []
        g = find_guest(snap, self.target, self.scope, problems)
        if g is None:
            return problems
        n = nvcpus(g)
        wanted = self.pins.keys() if self.pins is not None else ([] if self.vcpu is None else [self.vcpu])
        for i in wanted:
            if not 0 <= i < n:
                problems.append(f"guest {g.name!r} has vCPUs 0-{n - 1}; there is no vCPU {i}")
        for cpus in ([self.cpus] if self.cpus is not None else []) + list((self.pins or {}).values()):
            check_cpus(snap, cpus, problems)
        return problems

    def risks(self, snap: Snapshot) -> list[str]:
        g = snap.guest(self.target)
        if g is None or (self.cpus is None and self.pins is None):
            return []  # unpinning confines nothing
        targets: set[int]
        cpus: set[int]
        if self.pins is not None:   # several vCPUs, each to its own list
            targets = set(self.pins)
            cpus = {c for cs in self.pins.values() for c in cs}
        else:
            targets = set(range(nvcpus(g))) if self.vcpu is None else {self.vcpu}
            cpus = set(self.cpus or ())
        # vCPUs that will be confined to these CPUs: the ones pinned now plus those already inside.
        inside = {v.index for v in g.vcpus if v.pinned and set(v.affinity) <= cpus}
        return cpu_sharing_risks(snap, g.name, cpus, len(targets | inside))

    def commands(self) -> list[list[str]]:
        flags = scope_flags(self.scope)
        # Only lines virsh would run: one per vCPU (virsh has no "all"), never an empty list.
        pins = self._bound if self._bound is not None else (
            {self.vcpu: self.cpus} if self.vcpu is not None and self.cpus else {})
        return [["virsh", "vcpupin", self.target, str(i), cpuset.format(c), *flags]
                for i, c in pins.items() if c]

    def _resolved(self) -> dict[int, tuple[int, ...]]:
        """{vcpu: cpus} to pin: bound from the snapshot, or given outright (one vCPU, its CPUs)."""
        if self._bound is not None:
            return self._bound
        if self.vcpu is not None and self.cpus is not None:
            return {self.vcpu: self.cpus}
        what = "which vCPUs to pin" if self.vcpu is None else "the default CPU set (unpin)"
        if not self._snapped:
            raise unbound(self, what)
        raise ActionError(f"vcpupin {self.target}: the snapshot it was bound to has no guest "
                          f"{self.target!r} or no online CPUs, so {what} is unknown")

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        aff = need_hv(source).vcpu_affinity(self.target, scope)
        return {"pins": {str(i): list(aff[i]) for i in self._resolved() if i < len(aff)}}

    def apply(self, source: Source) -> None:
        hv = need_hv(source)
        for i, cpus in self._resolved().items():
            hv.pin_vcpu(self.target, i, cpus, self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> VcpuPin:
        return VcpuPin(self.target, scope=scope,
                       pins={int(k): tuple(v) for k, v in before["pins"].items()})


def one_to_one(guest: str, vcpus: Sequence[int], cpus: Sequence[int], scope: Scope = "live") -> VcpuPin:
    """The guide's one-to-one pinning (3.3.4): the k-th of `vcpus` alone on the k-th of `cpus`
    (ascending: vCPU i on the i-th CPU of a node or list), as a VcpuPin with that map (shown
    line by line, logged and undone as any pin). ActionError when a vCPU would get no CPU."""
    order = sorted(set(cpus))
    if not vcpus:
        raise ActionError(f"one-to-one: guest {guest!r} has no vCPUs to pin")
    if len(order) < len(vcpus):
        raise ActionError(f"one-to-one needs a CPU per vCPU: {len(vcpus)} vCPUs, {len(order)} CPU(s) "
                          f"({cpuset.format(order) or 'none'}); pick {len(vcpus) - len(order)} more")
    return VcpuPin(guest, scope=scope, pins={v: (c,) for v, c in zip(vcpus, order)})


# -- emulatorpin / iothreadpin ---------------------------------------------------------------

@register
class EmulatorPin(GuestAction):
    """Pin the emulator threads to `cpus`; cpus=None unpins (the guest's default CPU set)."""
    kind = "emulatorpin"

    def __init__(self, guest: str, cpus: tuple[int, ...] | None, scope: Scope = "live"):
        self.target, self.scope = guest, scope
        self.cpus = None if cpus is None else tuple(sorted(set(cpus)))
        self._bound = self.cpus
        self._snapped = False

    def params(self) -> dict[str, Any]:
        return {"cpus": None if self.cpus is None else list(self.cpus), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> EmulatorPin:
        return cls(target, ids(p.get("cpus")), p.get("scope", "live"))

    def bind(self, snap: Snapshot) -> None:
        self._snapped = True
        g = snap.guest(self.target)
        if self.cpus is None and g is not None and snap.default_cpus(g):
            self._bound = snap.default_cpus(g)

    def validate(self, snap: Snapshot) -> list[str]:
        self.bind(snap)
        problems: list[str] = []
        g = find_guest(snap, self.target, self.scope, problems)
        if g is not None and self.cpus is not None:
            check_cpus(snap, self.cpus, problems)
        return problems

    def commands(self) -> list[list[str]]:
        if not self._bound:   # "unpin" before bind(snap): the CPU set is not known yet
            return []
        return [["virsh", "emulatorpin", self.target, cpuset.format(self._bound), *scope_flags(self.scope)]]

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        return {"cpus": list(need_hv(source).emulator_affinity(self.target, scope))}

    def apply(self, source: Source) -> None:
        hv = need_hv(source)
        if self._bound is None:
            if not self._snapped:
                raise unbound(self, "the default CPU set (unpin)")
            raise ActionError(f"emulatorpin {self.target}: the snapshot it was bound to has no guest "
                              f"{self.target!r} or no online CPUs, so the default CPU set is unknown")
        hv.pin_emulator(self.target, self._bound, self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> EmulatorPin:
        return EmulatorPin(self.target, tuple(before["cpus"]), scope)


@register
class IoThreadPin(GuestAction):
    kind = "iothreadpin"

    def __init__(self, guest: str, iothread: int, cpus: tuple[int, ...], scope: Scope = "live"):
        self.target, self.iothread, self.scope = guest, int(iothread), scope
        self.cpus = tuple(sorted(set(cpus)))

    def params(self) -> dict[str, Any]:
        return {"iothread": self.iothread, "cpus": list(self.cpus), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> IoThreadPin:
        return cls(target, p["iothread"], ids(p["cpus"]) or (), p.get("scope", "live"))

    def validate(self, snap: Snapshot) -> list[str]:
        problems: list[str] = []
        g = find_guest(snap, self.target, self.scope, problems)
        if g is None:
            return problems
        if g.iothreads is not None and self.iothread not in {t.id for t in g.iothreads}:
            have = cpuset.format(t.id for t in g.iothreads) or "none"
            problems.append(f"guest {g.name!r} has no I/O thread {self.iothread} (it has: {have})")
        check_cpus(snap, self.cpus, problems)
        return problems

    def commands(self) -> list[list[str]]:
        return [["virsh", "iothreadpin", self.target, str(self.iothread),
                 cpuset.format(self.cpus), *scope_flags(self.scope)]]

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        for t in need_hv(source).iothreads(self.target, scope):
            if t.id == self.iothread:
                return {"cpus": list(t.affinity)}
        raise ActionError(f"guest {self.target!r} has no I/O thread {self.iothread}")

    def apply(self, source: Source) -> None:
        need_hv(source).pin_iothread(self.target, self.iothread, self.cpus, self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> IoThreadPin:
        return IoThreadPin(self.target, self.iothread, tuple(before["cpus"]), scope)
