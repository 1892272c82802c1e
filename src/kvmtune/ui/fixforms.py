"""A finding's fix as a form: the action key's own form (formdefs.py), its fields prefilled
from the Fix's params, so it validates, shows its command and runs as any other.

Each action kind's params map onto its form's fields here (`PREFILL`). A fix with no params
(it only names its kind) opens the form with the current values, as the key does. A fix
the form's fields cannot say (several vCPUs each to its own CPUs, a kind with no key) opens
a form without fields: the rebuilt action, validated, with its command, applied on Enter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import actions as act
from .. import cpuset
from ..advise import Finding
from ..fixes import action_of
from ..model import Guest, Snapshot
from ..vocab import IOTUNE_BASE, MEMTUNE_KEYS, SCOPE_BOTH
from . import formdefs, panes
from .forms import ActionForm, NoForm

Values = dict[str, str]
# (snapshot, guest, params) -> (form name, field values); None: the form cannot say it
Prefill = Callable[[Snapshot, Guest | None, Mapping[str, Any]], tuple[str, Values] | None]


def _scope(p: Mapping[str, Any]) -> Values:
    s = p.get("scope")
    return {"scope": s} if s in ("live", "config", SCOPE_BOTH) else {}


def _cpus(v: Any) -> str:
    return cpuset.format(int(x) for x in v)


def _vcpupin(snap: Snapshot, g: Guest | None, p: Mapping[str, Any]) -> tuple[str, Values] | None:
    pins = p.get("pins")
    if pins:
        sets = {tuple(sorted(int(c) for c in cpus)) for cpus in pins.values()}
        if len(sets) != 1:
            return None   # each vCPU to its own CPUs: more than the form's one CPU list
        vcpus = sorted(int(k) for k in pins)
        every = g is not None and vcpus == [v.index for v in g.vcpus]
        return "pin", {**_scope(p), "vcpus": "all" if every else cpuset.format(vcpus), "cpus": _cpus(sets.pop())}
    which = "all" if p.get("vcpu") is None else str(p["vcpu"])
    if p.get("cpus") is None:
        return "unpin", {**_scope(p), "vcpus": which}
    return "pin", {**_scope(p), "vcpus": which, "cpus": _cpus(p["cpus"])}


def _memtune(snap: Snapshot, g: Guest | None, p: Mapping[str, Any]) -> tuple[str, Values]:
    values = p.get("values") or {}
    fields = dict(zip(MEMTUNE_KEYS, ("hard", "soft", "swap_hard")))
    return "memtune", {**_scope(p), **{fields[k]: "unlimited" if v is None else f"{int(v)}K"
                                        for k, v in values.items() if k in fields}}


def _throttle(snap: Snapshot, g: Guest | None, p: Mapping[str, Any]) -> tuple[str, Values] | None:
    values = p.get("values") or {}
    disk = next((d for d in (g.disks if g else ()) if d.target == p.get("disk")), None)
    if disk is None or set(values) - set(IOTUNE_BASE):
        return None   # *_max, group_name...: not fields of the form
    return "throttle", {**_scope(p), "disk": disk.target,
                        **{k: str(values.get(k, disk.limit(k))) for k in IOTUNE_BASE}}


def _ksm(snap: Snapshot, g: Guest | None, p: Mapping[str, Any]) -> tuple[str, Values] | None:
    values = {k: str(v) for k, v in (p.get("values") or {}).items()}
    if set(values) == {"run"}:
        return "ksm_toggle", values
    if "run" in values:
        return None
    return "ksm_settings", values


def _hugepages(snap: Snapshot, g: Guest | None, p: Mapping[str, Any]) -> tuple[str, Values]:
    node = p.get("node")
    return "hugepages", {"size": panes.size_label(int(p["size_kib"])),
                         "node": "all" if node is None else str(node), "count": str(p["count"])}


PREFILL: dict[str, Prefill] = {
    "vcpupin": _vcpupin,
    "emulatorpin": lambda s, g, p: ("emulatorpin", {**_scope(p), "cpus": _cpus(p["cpus"])}),
    "move": lambda s, g, p: ("move", {**_scope(p), "nodes": _cpus(p["nodes"])}),
    "numatune": lambda s, g, p: ("numatune", {**_scope(p), "mode": p.get("mode") or formdefs.KEEP,
                                              "nodeset": p.get("nodeset") or ""}),
    "memtune": _memtune,
    "blkdeviotune": _throttle,
    "blkiotune": lambda s, g, p: None if p.get("device_weights") else ("weight", {**_scope(p),
                                                                                 "weight": str(p["weight"])}),
    "ksm": _ksm,
    "hugepages": _hugepages,
}

# the form a kind's key opens when the fix gives no values
KIND_FORMS = {"vcpupin": "pin", "emulatorpin": "emulatorpin", "move": "move", "numatune": "numatune",
              "memtune": "memtune", "blkdeviotune": "throttle", "blkiotune": "weight",
              "ksm": "ksm_settings", "hugepages": "hugepages", "iothreadpin": "iothreadpin",
              "thp": "thp", "numa_balancing": "numa_balancing"}


def _open(name: str, snap: Snapshot, g: Guest | None) -> ActionForm:
    build, per_guest = formdefs.FORMS[name]
    if per_guest and g is None:
        raise NoForm("the guest of this fix is not on the host now")
    return build(snap, g) if per_guest else build(snap)


def prefill(form: ActionForm, values: Values) -> ActionForm:
    """Put `values` in the form's fields before it is shown (a choice only to one it offers)."""
    for f in form.fields:
        v = values.get(f.name)
        if v is not None and (not f.choices or v in f.choices):
            f.value = v
    return form


def fix_form(snap: Snapshot, finding: Finding) -> ActionForm:
    """The form that applies the finding's action fix, prefilled; NoForm says why there is none."""
    fix = finding.fix
    if fix is None or fix.action is None:
        raise NoForm("this finding has no action to apply")
    g = snap.guest(fix.target) if fix.target != "host" else None
    if not fix.params:   # a fix naming only its kind: the key's form, current values
        name = KIND_FORMS.get(fix.action)
        if name is None:
            raise NoForm(f"no form for the {fix.action} action: use `kvmtune apply {fix.action}`")
        return _open(name, snap, g)
    try:
        filled = PREFILL[fix.action](snap, g, fix.params) if fix.action in PREFILL else None
    except (KeyError, TypeError, ValueError):
        filled = None
    if filled is not None:
        return prefill(_open(filled[0], snap, g), filled[1])
    action = action_of(fix)
    if action is None:
        raise NoForm(f"the {fix.action} fix cannot be rebuilt: use `kvmtune apply {fix.action}`")
    return generic_form(snap, finding, action)


def generic_form(snap: Snapshot, finding: Finding, action: act.Action) -> ActionForm:
    """The rebuilt action as it is: validated, its command shown, applied on Enter."""
    note = (finding.fix.note if finding.fix else None) or finding.title
    return ActionForm(f"{action.kind} {action.target}: the fix of {finding.code}", [],
                      lambda _values: action, snap, note=note)


__all__ = ["KIND_FORMS", "PREFILL", "fix_form", "generic_form", "prefill"]
