"""Guest memory: numatune (where its RAM may live) and memtune (how much it may use).

Through the Hypervisor interface (`source.hv`), never libvirt directly; each shows the
virsh line an admin would type for the same change.
"""

from __future__ import annotations

from typing import Any

from .. import cpuset, fmt
from ..model import Guest, Snapshot
from ..source import Source
from ..vocab import (
    LIVE_NODESET_MODES,
    MEMTUNE_KEYS,
    MEMTUNE_LIBVIRT,
    MEMTUNE_OPTS,
    MEMTUNE_UNLIMITED_KIB,
    NODE_DIR,
    NUMA_MODES,
    Scope,
    affects_live,
)
from .base import GuestAction, check_nodes, find_guest, need_hv, register, scope_flags, strict_memory_problem

# -- numatune ----------------------------------------------------------------------------------

def numatune_problems(snap: Snapshot, g: Guest, mode: str | None, nodes: tuple[int, ...] | None,
                      scope: str) -> list[str]:
    problems: list[str] = []
    if mode is not None and mode not in NUMA_MODES:
        problems.append(f"numatune mode must be one of {', '.join(NUMA_MODES)}, not {mode!r}")
        return problems
    if nodes is not None:
        check_nodes(snap, nodes, problems)
    cur = g.numatune
    if affects_live(scope, g.running) and g.running:
        if mode is not None and mode != (cur.mode if cur else None):
            problems.append(
                f"libvirt cannot change the numatune mode of running guest {g.name!r} "
                f"({cur.mode if cur else 'none'} -> {mode}); give only --nodeset"
                f"{' (allowed once while it has no numatune)' if cur is None else ''}, or set the "
                f"mode with --config and restart the guest")
        elif nodes is not None and cur is not None and cur.mode not in LIVE_NODESET_MODES:
            problems.append(
                f"libvirt changes the nodeset of a running guest only in restrictive mode "
                f"(guest {g.name!r} is {cur.mode}); use --config and restart the guest, or set "
                f"--mode restrictive --config and restart it once to make its memory movable live")
    eff_mode = mode or (cur.mode if cur else "strict")
    if nodes is not None and eff_mode in ("strict", "restrictive") and not problems:
        p = strict_memory_problem(snap, g, nodes)
        if p:
            problems.append(p)
    return problems


@register
class NumaTune(GuestAction):
    kind = "numatune"

    def __init__(self, guest: str, mode: str | None, nodeset: str | None, scope: Scope = "live"):
        self.target, self.mode, self.scope = guest, mode, scope
        self.nodeset = None if not nodeset else cpuset.format(cpuset.parse(nodeset))

    def params(self) -> dict[str, Any]:
        return {"mode": self.mode, "nodeset": self.nodeset, "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> NumaTune:
        return cls(target, p.get("mode"), p.get("nodeset"), p.get("scope", "live"))

    def validate(self, snap: Snapshot) -> list[str]:
        problems: list[str] = []
        if self.mode is None and self.nodeset is None:
            return ["give a mode, a nodeset, or both"]
        g = find_guest(snap, self.target, self.scope, problems)
        if g is None:
            return problems
        nodes = None if self.nodeset is None else cpuset.parse(self.nodeset)
        return problems + numatune_problems(snap, g, self.mode, nodes, self.scope)

    def commands(self) -> list[list[str]]:
        argv = ["virsh", "numatune", self.target]
        if self.mode is not None:
            argv += ["--mode", self.mode]
        if self.nodeset is not None:
            argv += ["--nodeset", self.nodeset]
        return [argv + scope_flags(self.scope)]

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        hv = need_hv(source)
        if hv.domain_config(self.target, inactive=scope == "config").has_numatune:
            nt = hv.numatune(self.target, scope)
            return {"mode": nt.mode, "nodeset": nt.nodeset}
        # No <numatune>: libvirt cannot remove one live; undo sets every online node instead.
        every: str | None
        try:
            every = source.fs.read_str(f"{NODE_DIR}/online")
        except OSError:
            every = None
        return {"mode": None, "nodeset": None, "default_nodeset": every or None}

    def apply(self, source: Source) -> None:
        need_hv(source).set_numatune(self.target, self.mode, self.nodeset, self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> NumaTune:
        # A guest without numatune cannot lose it live: every online node is the nearest thing.
        mode = before.get("mode") if self.mode is not None else None
        nodeset = (before.get("nodeset") or before.get("default_nodeset")) if self.nodeset is not None else None
        return NumaTune(self.target, mode, nodeset, scope)


# -- memtune -------------------------------------------------------------------------------------

_KEEP: Any = object()   # a limit not given: left as it is (None already means unlimited)


@register
class MemTune(GuestAction):
    """memtune limits in KiB; None means unlimited; an omitted limit is left as it is."""
    kind = "memtune"

    def __init__(self, guest: str, hard: int | None = _KEEP, soft: int | None = _KEEP,
                 swap_hard: int | None = _KEEP, scope: Scope = "live"):
        self.target, self.scope = guest, scope
        given = zip(MEMTUNE_KEYS, (hard, soft, swap_hard))
        self.values: dict[str, int | None] = {k: (None if v is None or v >= MEMTUNE_UNLIMITED_KIB else int(v))
                                              for k, v in given if v is not _KEEP}

    def params(self) -> dict[str, Any]:
        return {"values": dict(self.values), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> MemTune:
        v = p.get("values", {})
        kw = {name: v[key] for name, key in zip(("hard", "soft", "swap_hard"), MEMTUNE_KEYS) if key in v}
        return cls(target, scope=p.get("scope", "live"), **kw)

    def _effective(self, g: Guest) -> dict[str, int | None]:
        cur = g.memtune
        now: dict[str, int | None] = {k: (getattr(cur, k) if cur is not None else None) for k in MEMTUNE_KEYS}
        return {**now, **self.values}

    def validate(self, snap: Snapshot) -> list[str]:
        if not self.values:
            return ["give at least one of hard_limit, soft_limit, swap_hard_limit"]
        problems: list[str] = []
        for k, v in self.values.items():
            if v is not None and v <= 0:
                problems.append(f"{MEMTUNE_LIBVIRT[k]} must be more than 0 (or 'unlimited')")
        g = find_guest(snap, self.target, self.scope, problems)
        if g is None or problems:
            return problems
        eff = self._effective(g)
        hard, swap = eff["hard_limit_kib"], eff["swap_hard_limit_kib"]
        if swap is not None and (hard is None or swap < hard):
            problems.append(f"swap_hard_limit ({fmt.size_text(swap)}) must be at least hard_limit "
                            f"({fmt.size_text(hard)})")
        return problems

    def risks(self, snap: Snapshot) -> list[str]:
        g = snap.guest(self.target)
        if g is None:
            return []
        out: list[str] = []
        hard = self.values.get("hard_limit_kib", _KEEP)
        if hard is not _KEEP and hard is not None:
            used = sum((g.numa_memory_kib or {}).values()) or None
            if hard < g.memory_kib or (used is not None and hard < used):
                now = f", uses {fmt.size_text(used)} now" if used is not None else ""
                out.append(f"hard_limit {fmt.size_text(hard)} is below what guest {g.name!r} uses or may "
                           f"use ({fmt.size_text(g.memory_kib)} of RAM{now}, plus QEMU's own): the kernel "
                           f"kills the guest when it goes over")
        eff = self._effective(g)
        soft, hard_eff = eff["soft_limit_kib"], eff["hard_limit_kib"]
        if ("soft_limit_kib" in self.values or "hard_limit_kib" in self.values) and soft is not None \
                and hard_eff is not None and soft > hard_eff:
            out.append(f"soft_limit {fmt.size_text(soft)} is above hard_limit {fmt.size_text(hard_eff)}: "
                       f"the soft limit would never take effect (the guest is stopped at the hard one first)")
        if hard is None and g.memory_backing is not None and g.memory_backing.locked:
            out.append(f"guest {g.name!r} has locked memory: without a hard_limit it can lock "
                       f"host memory without bound")
        return out

    def commands(self) -> list[list[str]]:
        argv = ["virsh", "memtune", self.target]
        for k, v in self.values.items():
            argv += [MEMTUNE_OPTS[k], "-1" if v is None else str(v)]  # virsh: KiB; -1 = unlimited
        return [argv + scope_flags(self.scope)]

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        mt = need_hv(source).memtune(self.target, scope)
        return {k: getattr(mt, k) for k in MEMTUNE_KEYS}

    def apply(self, source: Source) -> None:
        need_hv(source).set_memtune(self.target, dict(self.values), self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> MemTune:
        kw = {name: before.get(key) for name, key in zip(("hard", "soft", "swap_hard"), MEMTUNE_KEYS)
              if key in self.values}
        return MemTune(self.target, scope=scope, **kw)
