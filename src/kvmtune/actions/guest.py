"""Guest actions: pinning, numatune, memtune, blkiotune, blkdeviotune, and the NUMA move.

All of them go through the Hypervisor interface (`source.hv`), never libvirt directly,
and show the virsh line an admin would type for the same change.
"""

from __future__ import annotations

from typing import Any, Mapping

from .. import cpuset
from ..model import MEMTUNE_UNLIMITED_KIB, Guest, Snapshot
from ..source import Source
from ..virt.interface import VirtError
from .base import (Action, ActionError, check_cpus, check_nodes, default_cpus, find_guest,
                   need_hv, register, scope_flag, strict_memory_problem)

NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")
# libvirt 9 (measured on the lab) changes a running guest's nodeset only in restrictive mode
# (cgroup-enforced), or once on a guest without <numatune>; a strict nodeset is QEMU's own
# memory policy, fixed at start.
LIVE_NODESET_MODES = ("restrictive",)


def _nvcpus(g: Guest) -> int:
    return len(g.vcpus) or (g.nvcpus or 0)


def _ids(v: Any) -> tuple[int, ...] | None:
    return None if v is None else tuple(int(x) for x in v)


# -- vcpupin -------------------------------------------------------------------------------

@register
class VcpuPin(Action):
    """Pin one vCPU (or all: vcpu=None) to `cpus`; cpus=None unpins (the default CPU set).

    `pins` is an explicit {vcpu: cpus} map (what undo restores); it overrides vcpu/cpus.
    `bind(snap)` turns "all" and "unpin" into that map so commands() can list each line.
    """
    kind = "vcpupin"

    def __init__(self, guest: str, vcpu: int | None = None, cpus: tuple[int, ...] | None = None,
                 scope: str = "live", pins: Mapping[int, tuple[int, ...]] | None = None):
        self.target, self.vcpu, self.scope = guest, vcpu, scope
        self.cpus = None if cpus is None else tuple(sorted(set(cpus)))
        self.pins = None if pins is None else {int(k): tuple(v) for k, v in sorted(pins.items())}
        self._bound: dict[int, tuple[int, ...]] | None = self.pins

    def params(self) -> dict[str, Any]:
        return {"vcpu": self.vcpu, "cpus": None if self.cpus is None else list(self.cpus),
                "scope": self.scope,
                "pins": None if self.pins is None else {str(k): list(v) for k, v in self.pins.items()}}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "VcpuPin":
        pins = p.get("pins")
        return cls(target, p.get("vcpu"), _ids(p.get("cpus")), p.get("scope", "live"),
                   None if pins is None else {int(k): _ids(v) for k, v in pins.items()})

    def bind(self, snap: Snapshot) -> None:
        if self.pins is not None:
            return
        g = snap.guest(self.target)
        if g is None:
            return
        n = _nvcpus(g)
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
        n = _nvcpus(g)
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
        if self.pins is not None:   # several vCPUs, each to its own list
            targets = set(self.pins)
            cpus = {c for cs in self.pins.values() for c in cs}
        else:
            targets = set(range(_nvcpus(g))) if self.vcpu is None else {self.vcpu}
            cpus = set(self.cpus)
        # vCPUs that will be confined to these CPUs: the ones pinned now plus those already inside.
        inside = {v.index for v in g.vcpus if v.pinned and set(v.affinity) <= cpus}
        count = len(targets | inside)
        if count > len(cpus):
            return [f"overcommit: {count} vCPUs of {g.name!r} would share {len(cpus)} CPU(s) "
                    f"({cpuset.format(cpus)}); the guide advises at most one vCPU per CPU"]
        return []

    def commands(self) -> list[list[str]]:
        flag = scope_flag(self.scope)
        if self._bound is None:
            what = "all" if self.vcpu is None else str(self.vcpu)
            cpus = "<all host CPUs>" if self.cpus is None else cpuset.format(self.cpus)
            return [["virsh", "vcpupin", self.target, what, cpus, flag]]
        return [["virsh", "vcpupin", self.target, str(i), cpuset.format(c), flag]
                for i, c in self._bound.items()]

    def _resolved(self, source: Source) -> dict[int, tuple[int, ...]]:
        if self._bound is not None:
            return self._bound
        assert source.hv is not None
        n = len(source.hv.vcpu_affinity(self.target))
        cpus = self.cpus if self.cpus is not None else default_cpus(source, self.target)
        return {i: cpus for i in (range(n) if self.vcpu is None else [self.vcpu])}

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        aff = source.hv.vcpu_affinity(self.target)  # type: ignore[union-attr]
        return {"pins": {str(i): list(aff[i]) for i in self._resolved(source) if i < len(aff)}}

    def apply(self, source: Source) -> None:
        need_hv(source)
        for i, cpus in self._resolved(source).items():
            source.hv.pin_vcpu(self.target, i, cpus, self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "VcpuPin":
        return VcpuPin(self.target, scope=self.scope,
                       pins={int(k): tuple(v) for k, v in before["pins"].items()})


# -- emulatorpin / iothreadpin ---------------------------------------------------------------

@register
class EmulatorPin(Action):
    kind = "emulatorpin"

    def __init__(self, guest: str, cpus: tuple[int, ...] | None, scope: str = "live"):
        self.target, self.scope = guest, scope
        self.cpus = None if cpus is None else tuple(sorted(set(cpus)))
        self._bound = self.cpus

    def params(self) -> dict[str, Any]:
        return {"cpus": None if self.cpus is None else list(self.cpus), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "EmulatorPin":
        return cls(target, _ids(p.get("cpus")), p.get("scope", "live"))

    def bind(self, snap: Snapshot) -> None:
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
        cpus = "<all host CPUs>" if self._bound is None else cpuset.format(self._bound)
        return [["virsh", "emulatorpin", self.target, cpus, scope_flag(self.scope)]]

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        return {"cpus": list(source.hv.emulator_affinity(self.target))}  # type: ignore[union-attr]

    def apply(self, source: Source) -> None:
        need_hv(source)
        cpus = self._bound if self._bound is not None else default_cpus(source, self.target)
        source.hv.pin_emulator(self.target, cpus, self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "EmulatorPin":
        return EmulatorPin(self.target, tuple(before["cpus"]), self.scope)


@register
class IoThreadPin(Action):
    kind = "iothreadpin"

    def __init__(self, guest: str, iothread: int, cpus: tuple[int, ...], scope: str = "live"):
        self.target, self.iothread, self.scope = guest, int(iothread), scope
        self.cpus = tuple(sorted(set(cpus)))

    def params(self) -> dict[str, Any]:
        return {"iothread": self.iothread, "cpus": list(self.cpus), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "IoThreadPin":
        return cls(target, p["iothread"], _ids(p["cpus"]) or (), p.get("scope", "live"))

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
                 cpuset.format(self.cpus), scope_flag(self.scope)]]

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        for t in source.hv.iothreads(self.target):  # type: ignore[union-attr]
            if t.id == self.iothread:
                return {"cpus": list(t.affinity)}
        raise ActionError(f"guest {self.target!r} has no I/O thread {self.iothread}")

    def apply(self, source: Source) -> None:
        need_hv(source)
        source.hv.pin_iothread(self.target, self.iothread, self.cpus, self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "IoThreadPin":
        return IoThreadPin(self.target, self.iothread, tuple(before["cpus"]), self.scope)


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
    live = scope == "live" or (scope == "current" and g.running)
    if live and g.running:
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
class NumaTune(Action):
    kind = "numatune"

    def __init__(self, guest: str, mode: str | None, nodeset: str | None, scope: str = "live"):
        self.target, self.mode, self.scope = guest, mode, scope
        self.nodeset = None if nodeset in (None, "") else cpuset.format(cpuset.parse(nodeset))

    def params(self) -> dict[str, Any]:
        return {"mode": self.mode, "nodeset": self.nodeset, "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "NumaTune":
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
        return [argv + [scope_flag(self.scope)]]

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        hv = source.hv
        assert hv is not None
        if hv.domain_config(self.target).has_numatune:
            nt = hv.numatune(self.target)
            return {"mode": nt.mode, "nodeset": nt.nodeset}
        # No <numatune>: libvirt cannot remove one live; undo sets every online node instead.
        try:
            every = source.fs.read_str("sys/devices/system/node/online")
        except OSError:
            every = None
        return {"mode": None, "nodeset": None, "default_nodeset": every or None}

    def apply(self, source: Source) -> None:
        need_hv(source)
        source.hv.set_numatune(self.target, self.mode, self.nodeset, self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "NumaTune":
        # A guest without numatune cannot lose it live: every online node is the nearest thing.
        mode = before.get("mode") if self.mode is not None else None
        nodeset = (before.get("nodeset") or before.get("default_nodeset")) if self.nodeset is not None else None
        return NumaTune(self.target, mode, nodeset, self.scope)


# -- memtune -------------------------------------------------------------------------------------

MEMTUNE_KEYS = ("hard_limit_kib", "soft_limit_kib", "swap_hard_limit_kib")
MEMTUNE_OPTS = {"hard_limit_kib": "--hard-limit", "soft_limit_kib": "--soft-limit",
                "swap_hard_limit_kib": "--swap-hard-limit"}
_KEEP: Any = object()


@register
class MemTune(Action):
    """memtune limits in KiB; None means unlimited; an omitted limit is left as it is."""
    kind = "memtune"

    def __init__(self, guest: str, hard: int | None = _KEEP, soft: int | None = _KEEP,
                 swap_hard: int | None = _KEEP, scope: str = "live"):
        self.target, self.scope = guest, scope
        given = zip(MEMTUNE_KEYS, (hard, soft, swap_hard))
        self.values: dict[str, int | None] = {k: (None if v is None or v >= MEMTUNE_UNLIMITED_KIB else int(v))
                                              for k, v in given if v is not _KEEP}

    def params(self) -> dict[str, Any]:
        return {"values": dict(self.values), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "MemTune":
        v = p.get("values", {})
        kw = {name: v[key] for name, key in zip(("hard", "soft", "swap_hard"), MEMTUNE_KEYS) if key in v}
        return cls(target, scope=p.get("scope", "live"), **kw)

    def _effective(self, g: Guest) -> dict[str, int | None]:
        cur = g.memtune
        now = {k: (getattr(cur, k) if cur is not None else None) for k in MEMTUNE_KEYS}
        return {**now, **self.values}

    def validate(self, snap: Snapshot) -> list[str]:
        if not self.values:
            return ["give at least one of --hard-limit, --soft-limit, --swap-hard-limit"]
        problems: list[str] = []
        for k, v in self.values.items():
            if v is not None and v <= 0:
                problems.append(f"{MEMTUNE_OPTS[k]} must be more than 0 (or 'unlimited')")
        g = find_guest(snap, self.target, self.scope, problems)
        if g is None or problems:
            return problems
        eff = self._effective(g)
        hard, swap = eff["hard_limit_kib"], eff["swap_hard_limit_kib"]
        if swap is not None and (hard is None or swap < hard):
            problems.append(f"swap_hard_limit ({swap} KiB) must be at least hard_limit "
                            f"({'unlimited' if hard is None else f'{hard} KiB'})")
        return problems

    def risks(self, snap: Snapshot) -> list[str]:
        g = snap.guest(self.target)
        if g is None:
            return []
        out = []
        hard = self.values.get("hard_limit_kib", _KEEP)
        if hard is not _KEEP and hard is not None:
            used = sum((g.numa_memory_kib or {}).values()) or None
            if hard < g.memory_kib or (used is not None and hard < used):
                now = f", uses {used} KiB now" if used is not None else ""
                out.append(f"hard_limit {hard} KiB is below what guest {g.name!r} uses or may use "
                           f"({g.memory_kib} KiB of RAM{now}, plus QEMU's own): the kernel kills "
                           f"the guest when it goes over")
        if hard is None and g.memory_backing is not None and g.memory_backing.locked:
            out.append(f"guest {g.name!r} has locked memory: without a hard_limit it can lock "
                       f"host memory without bound")
        return out

    def commands(self) -> list[list[str]]:
        argv = ["virsh", "memtune", self.target]
        for k, v in self.values.items():
            argv += [MEMTUNE_OPTS[k], "-1" if v is None else str(v)]  # virsh: KiB; -1 = unlimited
        return [argv + [scope_flag(self.scope)]]

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        mt = source.hv.memtune(self.target)  # type: ignore[union-attr]
        return {k: getattr(mt, k) for k in MEMTUNE_KEYS}

    def apply(self, source: Source) -> None:
        need_hv(source)
        source.hv.set_memtune(self.target, dict(self.values), self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "MemTune":
        kw = {name: before.get(key) for name, key in zip(("hard", "soft", "swap_hard"), MEMTUNE_KEYS)
              if key in self.values}
        return MemTune(self.target, scope=self.scope, **kw)


# -- blkiotune -------------------------------------------------------------------------------

def parse_device_weights(text: str) -> dict[str, int]:
    """virsh's "path,weight[,path,weight...]" -> {path: weight}."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if len(parts) % 2:
        raise ActionError(f"device weights {text!r}: expected path,weight pairs")
    out: dict[str, int] = {}
    for path, w in zip(parts[::2], parts[1::2]):
        try:
            out[path] = int(w)
        except ValueError:
            raise ActionError(f"device weights {text!r}: {w!r} is not a number") from None
    return out


def format_device_weights(weights: Mapping[str, int]) -> str:
    return ",".join(f"{p},{w}" for p, w in weights.items())


@register
class BlkioTune(Action):
    """blkiotune: the guest's weight and/or per-device weights (0 removes a device weight)."""
    kind = "blkiotune"

    def __init__(self, guest: str, weight: int | None = None,
                 device_weights: Mapping[str, int] | None = None, scope: str = "live"):
        self.target, self.scope = guest, scope
        self.weight = None if weight is None else int(weight)
        self.device_weights = dict(device_weights or {})

    def params(self) -> dict[str, Any]:
        return {"weight": self.weight, "device_weights": dict(self.device_weights), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "BlkioTune":
        return cls(target, p.get("weight"), p.get("device_weights"), p.get("scope", "live"))

    def validate(self, snap: Snapshot) -> list[str]:
        if self.weight is None and not self.device_weights:
            return ["give --weight and/or --device-weights"]
        problems: list[str] = []
        if self.weight is not None and not 100 <= self.weight <= 1000:
            problems.append(f"weight must be 100-1000, not {self.weight}")
        for path, w in self.device_weights.items():
            if not path.startswith("/"):
                problems.append(f"device weight path {path!r} must be a host block device like /dev/sda")
            if w != 0 and not 100 <= w <= 1000:
                problems.append(f"device weight for {path} must be 100-1000 (0 removes it), not {w}")
        find_guest(snap, self.target, self.scope, problems)
        return problems

    def commands(self) -> list[list[str]]:
        argv = ["virsh", "blkiotune", self.target]
        if self.weight is not None:
            argv += ["--weight", str(self.weight)]
        if self.device_weights:
            argv += ["--device-weights", format_device_weights(self.device_weights)]
        return [argv + [scope_flag(self.scope)]]

    def _values(self) -> dict[str, object]:
        v: dict[str, object] = {}
        if self.weight is not None:
            v["weight"] = self.weight
        if self.device_weights:
            v["device_weight"] = format_device_weights(self.device_weights)
        return v

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        b = source.hv.blkio(self.target)  # type: ignore[union-attr]
        have = parse_device_weights(str(b.get("device_weight") or ""))
        return {"weight": b.get("weight"),
                "device_weights": {p: have.get(p, 0) for p in self.device_weights}}

    def apply(self, source: Source) -> None:
        need_hv(source)
        source.hv.set_blkio(self.target, self._values(), self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "BlkioTune":
        return BlkioTune(self.target, before.get("weight") if self.weight is not None else None,
                         before.get("device_weights") or {}, self.scope)


BlkioWeight = BlkioTune


# -- blkdeviotune ----------------------------------------------------------------------------

IOTUNE_BASE = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
               "total_iops_sec", "read_iops_sec", "write_iops_sec")
IOTUNE_INT_KEYS = (IOTUNE_BASE + tuple(f"{k}_max" for k in IOTUNE_BASE)
                   + tuple(f"{k}_max_length" for k in IOTUNE_BASE) + ("size_iops_sec",))
IOTUNE_KEYS = IOTUNE_INT_KEYS + ("group_name",)


THROTTLE_MAX = 10 ** 15  # QEMU's THROTTLE_VALUE_MAX; libvirt refuses more


def iotune_problems(values: Mapping[str, object]) -> list[str]:
    problems = []
    for k, v in values.items():
        if k not in IOTUNE_KEYS:
            problems.append(f"unknown throttle {k!r}")
        elif k != "group_name" and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            problems.append(f"{k} must be a whole number >= 0, not {v!r}")
        elif k != "group_name" and v > THROTTLE_MAX:
            problems.append(f"{k} must be at most {THROTTLE_MAX} (QEMU's limit), not {v}")
    if problems:
        return problems
    for unit in ("bytes_sec", "iops_sec"):
        for suffix in ("", "_max", "_max_length"):
            tot = values.get(f"total_{unit}{suffix}") or 0
            rw = [d for d in ("read", "write") if values.get(f"{d}_{unit}{suffix}")]
            if tot and rw:
                problems.append(f"total_{unit}{suffix} cannot be combined with "
                                f"{' and '.join(f'{d}_{unit}{suffix}' for d in rw)} (libvirt refuses "
                                f"mixing a total limit with read/write limits)")
    for base in IOTUNE_BASE:
        mx = values.get(f"{base}_max") or 0
        if mx and values.get(base) is not None and values[base] and mx < values[base]:  # type: ignore[operator]
            problems.append(f"{base}_max ({mx}) must be at least {base} ({values[base]})")
        if values.get(f"{base}_max_length") and not mx:
            problems.append(f"{base}_max_length needs {base}_max")
    return problems


@register
class BlkDevIoTune(Action):
    kind = "blkdeviotune"

    def __init__(self, guest: str, disk: str, values: Mapping[str, object], scope: str = "live"):
        self.target, self.disk, self.scope = guest, disk, scope
        self.values = dict(values)

    def params(self) -> dict[str, Any]:
        return {"disk": self.disk, "values": dict(self.values), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "BlkDevIoTune":
        return cls(target, p["disk"], p.get("values", {}), p.get("scope", "live"))

    def validate(self, snap: Snapshot) -> list[str]:
        if not self.values:
            return ["give at least one throttle, e.g. --total-bytes-sec 1048576"]
        problems = iotune_problems(self.values)
        g = find_guest(snap, self.target, self.scope, problems)
        if g is not None and g.disks and self.disk not in {d.target for d in g.disks}:
            have = ", ".join(d.target for d in g.disks)
            problems.append(f"guest {g.name!r} has no disk {self.disk!r} (it has: {have})")
        return problems

    def _sent(self) -> dict[str, object]:
        """The values plus 0 for the other side of each total vs read/write pair given: the
        qemu driver resets the rest of such a group itself (so the virsh line shown is
        equivalent); other drivers (the test driver) would refuse the mix instead."""
        out = dict(self.values)
        for unit in ("bytes_sec", "iops_sec"):
            for suffix in ("", "_max", "_max_length"):
                tot, rw = f"total_{unit}{suffix}", (f"read_{unit}{suffix}", f"write_{unit}{suffix}")
                if out.get(tot):
                    for k in rw:
                        out.setdefault(k, 0)
                elif any(out.get(k) for k in rw):
                    out.setdefault(tot, 0)
        return out

    def commands(self) -> list[list[str]]:
        argv = ["virsh", "blkdeviotune", self.target, self.disk]
        for k, v in self.values.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        return [argv + [scope_flag(self.scope)]]

    def before(self, source: Source) -> dict[str, Any]:
        need_hv(source)
        return dict(source.hv.block_iotune(self.target, self.disk))  # type: ignore[union-attr]

    def apply(self, source: Source) -> None:
        need_hv(source)
        source.hv.set_block_iotune(self.target, self.disk, self._sent(), self.scope)  # type: ignore[union-attr]

    def inverse(self, before: dict[str, Any]) -> "BlkDevIoTune":
        # Restore every value: libvirt resets the rest of a group (bytes, iops) when one is set.
        vals = {k: v for k, v in before.items() if k in IOTUNE_INT_KEYS}
        if before.get("group_name") or "group_name" in self.values:
            vals["group_name"] = before.get("group_name") or ""
        return BlkDevIoTune(self.target, self.disk, vals, self.scope)


# -- move to NUMA node(s) ------------------------------------------------------------------------

@register
class MoveToNode(Action):
    """vCPUs + emulator pinned to the nodes' CPUs and numatune strict to them, together."""
    kind = "move"

    def __init__(self, guest: str, nodes: tuple[int, ...], scope: str = "live"):
        self.target, self.scope = guest, scope
        self.nodes = tuple(sorted(set(nodes)))
        self._cpus: tuple[int, ...] | None = None
        self._nvcpus: int | None = None
        self._running = True
        self._same_nodes = False

    def params(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "MoveToNode":
        return cls(target, _ids(p["nodes"]) or (), p.get("scope", "live"))

    def bind(self, snap: Snapshot) -> None:
        online = set(snap.host.cpu_ids)
        cpus = [c for n in self.nodes if (node := snap.host.node(n)) for c in node.cpus
                if not online or c in online]
        self._cpus = tuple(sorted(cpus)) or None
        g = snap.guest(self.target)
        self._nvcpus = _nvcpus(g) if g is not None else None
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

    def _mode(self, running: bool) -> str | None:
        """strict in the saved definition; live, the nodeset alone (libvirt keeps the mode)."""
        live = self.scope == "live" or (self.scope == "current" and running)
        return None if live else "strict"

    def risks(self, snap: Snapshot) -> list[str]:
        if self._cpus and self._nvcpus and self._nvcpus > len(self._cpus):
            return [f"overcommit: {self._nvcpus} vCPUs of {self.target!r} would share "
                    f"{len(self._cpus)} CPU(s) of node(s) {cpuset.format(self.nodes)}"]
        return []

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

    def _bind_live(self, source: Source) -> None:
        if self._cpus is not None and self._nvcpus is not None:
            return
        from ..collect import Collector  # only when used without a snapshot (tests, scripts)
        self.bind(Collector(source).collect())
        if not self._cpus:
            raise ActionError(f"node(s) {cpuset.format(self.nodes)} have no online CPUs")

    def before(self, source: Source) -> dict[str, Any]:
        self._bind_live(source)
        out = {s.kind: s.before(source) for s in self._steps()}
        out.setdefault("numatune", NumaTune(self.target, None, None, self.scope).before(source))
        return {"numatune": out.pop("numatune"), **out}

    def apply(self, source: Source) -> None:
        self._bind_live(source)
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

    def inverse(self, before: dict[str, Any]) -> "Restore":
        steps: list[Action] = []
        nt = before.get("numatune") or {}
        # Live, a guest that had no numatune keeps the one the move gave it: libvirt can
        # neither remove it nor (strict) change it while the guest runs.
        nodeset = nt.get("nodeset") or (nt.get("default_nodeset") if self._mode(self._running) else None)
        if nodeset and cpuset.parse(nodeset) != self.nodes:
            mode = self._mode(self._running) and (nt.get("mode") or "strict")
            steps.append(NumaTune(self.target, mode, nodeset, self.scope))
        if "emulatorpin" in before:
            steps.append(EmulatorPin(self.target, tuple(before["emulatorpin"]["cpus"]), self.scope))
        if "vcpupin" in before:
            steps.append(VcpuPin(self.target, scope=self.scope, pins={
                int(k): tuple(v) for k, v in before["vcpupin"]["pins"].items()}))
        return Restore(self.target, steps)


@register
class Restore(Action):
    """Several guest actions applied in order (what undoing a move does)."""
    kind = "restore"

    def __init__(self, guest: str, steps: list[Action]):
        self.target, self.steps = guest, list(steps)
        self.scope = steps[0].scope if steps else "live"

    def params(self) -> dict[str, Any]:
        return {"steps": [{"kind": s.kind, "params": s.params()} for s in self.steps]}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> "Restore":
        from .base import rebuild
        return cls(target, [rebuild(s["kind"], target, s["params"]) for s in p.get("steps", [])])

    def validate(self, snap: Snapshot) -> list[str]:
        return [p for s in self.steps for p in s.validate(snap)]

    def commands(self) -> list[list[str]]:
        return [c for s in self.steps for c in s.commands()]

    def before(self, source: Source) -> dict[str, Any]:
        return {"steps": [s.before(source) for s in self.steps]}

    def apply(self, source: Source) -> None:
        for s in self.steps:
            s.apply(source)

    def inverse(self, before: dict[str, Any]) -> "Restore":
        return Restore(self.target, [s.inverse(b) for s, b in zip(self.steps, before["steps"])])
