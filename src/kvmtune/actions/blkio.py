"""Guest block I/O: blkiotune (weights) and blkdeviotune (one disk's throttles).

Through the Hypervisor interface (`source.hv`), never libvirt directly; each shows the
virsh line an admin would type for the same change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import fmt, inputs
from ..errors import ActionError
from ..model import Snapshot
from ..source import Source
from ..vocab import IOTUNE_BASE, IOTUNE_GROUPS, IOTUNE_KEYS, SCOPE_BOTH, THROTTLE_MAX, Scope
from .base import Action, GuestAction, Restore, find_guest, need_hv, register, scope_flags

# -- blkiotune -------------------------------------------------------------------------------

def parse_device_weights(text: str) -> dict[str, int]:
    """libvirt's "path,weight[,path,weight...]" (as virsh takes it) -> {path: weight}."""
    try:
        return inputs.device_weights(text)
    except ValueError as e:
        raise ActionError(str(e)) from None


def format_device_weights(weights: Mapping[str, int]) -> str:
    """{path: weight} -> virsh's "path,weight[,path,weight...]"."""
    return ",".join(f"{p},{w}" for p, w in weights.items())


@register
class BlkioTune(GuestAction):
    """blkiotune: the guest's weight and/or per-device weights (0 removes a device weight)."""
    kind = "blkiotune"

    def __init__(self, guest: str, weight: int | None = None,
                 device_weights: Mapping[str, int] | None = None, scope: Scope = "live"):
        self.target, self.scope = guest, scope
        self.weight = None if weight is None else int(weight)
        self.device_weights = dict(device_weights or {})

    def params(self) -> dict[str, Any]:
        return {"weight": self.weight, "device_weights": dict(self.device_weights), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> BlkioTune:
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
        return [argv + scope_flags(self.scope)]

    def _values(self) -> dict[str, object]:
        v: dict[str, object] = {}
        if self.weight is not None:
            v["weight"] = self.weight
        if self.device_weights:
            v["device_weight"] = format_device_weights(self.device_weights)
        return v

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        b = need_hv(source).blkio(self.target, scope)
        have = parse_device_weights(str(b.get("device_weight") or ""))
        return {"weight": b.get("weight"),
                "device_weights": {p: have.get(p, 0) for p in self.device_weights}}

    def apply(self, source: Source) -> None:
        need_hv(source).set_blkio(self.target, self._values(), self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> Action:
        # weight 0 = never set: libvirt cannot set 0 back (undo_gaps says so and leaves it)
        weight = before.get("weight") if self.weight is not None and before.get("weight") else None
        if weight is None and not before.get("device_weights"):
            return Restore(self.target, [])     # nothing it can put back: the undo only marks it done
        return BlkioTune(self.target, weight, before.get("device_weights") or {}, scope)

    def undo_gaps(self, before: dict[str, Any], snap: Snapshot) -> list[str]:
        parts = [before[s] for s in ("live", "config") if s in before] if self.scope == SCOPE_BOTH else [before]
        if self.weight is not None and any(not p.get("weight") for p in parts):
            return [f"{self.target} had no blkio weight set before, and libvirt cannot unset one: "
                    f"the weight stays {self.weight} (the default is 500)"]
        return []


BlkioWeight = BlkioTune


# -- blkdeviotune ----------------------------------------------------------------------------

def _limit_text(key: str, value: int) -> str:
    """A throttle value in words: bytes/s as the table shows rates, IOPS and lengths as numbers."""
    if "bytes_sec" in key and not key.endswith("_max_length"):
        return fmt.fmt_rate(value)
    return str(value)


def iotune_problems(values: Mapping[str, object]) -> list[str]:
    problems: list[str] = []
    for k, v in values.items():
        if k not in IOTUNE_KEYS:
            problems.append(f"unknown throttle {k!r}")
        elif k == "group_name":
            continue
        elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
            problems.append(f"{k} must be a whole number >= 0, not {v!r}")
        elif v > THROTTLE_MAX:
            problems.append(f"{k} must be at most {THROTTLE_MAX} (QEMU's limit), not {v}")
    if problems:
        return problems
    # every value but group_name is a whole number now
    nums = {k: v for k, v in values.items() if isinstance(v, int)}
    for unit in ("bytes_sec", "iops_sec"):
        for suffix in ("", "_max", "_max_length"):
            tot = nums.get(f"total_{unit}{suffix}") or 0
            rw = [d for d in ("read", "write") if nums.get(f"{d}_{unit}{suffix}")]
            if tot and rw:
                problems.append(f"total_{unit}{suffix} cannot be combined with "
                                f"{' and '.join(f'{d}_{unit}{suffix}' for d in rw)} (libvirt refuses "
                                f"mixing a total limit with read/write limits)")
    for base in IOTUNE_BASE:
        mx = nums.get(f"{base}_max") or 0
        if mx and nums.get(base) and mx < nums[base]:
            problems.append(f"{base}_max ({mx}) must be at least {base} ({nums[base]})")
        if nums.get(f"{base}_max_length") and not mx:
            problems.append(f"{base}_max_length needs {base}_max")
    return problems


@register
class BlkDevIoTune(GuestAction):
    kind = "blkdeviotune"

    def __init__(self, guest: str, disk: str, values: Mapping[str, object], scope: Scope = "live",
                 restores: bool = False):
        self.target, self.disk, self.scope = guest, disk, scope
        self.values = dict(values)
        self.restores = restores   # an undo's: removing the limits the undone change set is its point

    def params(self) -> dict[str, Any]:
        return {"disk": self.disk, "values": dict(self.values), "scope": self.scope}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> BlkDevIoTune:
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

    def risks(self, snap: Snapshot) -> list[str]:
        """A limit this change would remove (set to 0, or reset with the rest of its group)."""
        g = snap.guest(self.target)
        d = next((x for x in g.disks if x.target == self.disk), None) if g is not None else None
        if d is None or self.restores:
            return []
        sent = self._sent()
        gone = [f"{k}={_limit_text(k, d.limit(k))}" for group in IOTUNE_GROUPS if any(k in sent for k in group)
                for k in group if d.limit(k) and not sent.get(k)]
        if not gone:
            return []
        return [f"this removes the existing limit(s) {', '.join(gone)} of disk {self.disk} of {self.target}: "
                f"that I/O would no longer be throttled"]

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
        return [argv + scope_flags(self.scope)]

    def read(self, source: Source, scope: Scope) -> dict[str, Any]:
        return dict(need_hv(source).block_iotune(self.target, self.disk, scope))

    def apply(self, source: Source) -> None:
        need_hv(source).set_block_iotune(self.target, self.disk, self._sent(), self.scope)

    def undo_as(self, before: dict[str, Any], scope: Scope) -> BlkDevIoTune:
        # Each group this change touched, whole: libvirt resets the rest of a group when one is set.
        sent = self._sent()
        touched = [k for group in IOTUNE_GROUPS if any(x in sent for x in group) for k in group]
        vals: dict[str, object] = {k: before[k] for k in touched if k in before}
        if before.get("group_name") or "group_name" in self.values:
            vals["group_name"] = before.get("group_name") or ""
        return BlkDevIoTune(self.target, self.disk, vals, scope, restores=True)
