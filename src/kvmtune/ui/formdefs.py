"""The forms, one per action key: which fields, their defaults (the guest's or host's current
values, never a guess), and how their text becomes an Action (inputs.py, as the CLI).

Every guest form starts with "apply to": live (the default for a running guest), config (the
saved definition; the only choice for a stopped guest) or both, as virsh's --live,
--config and --live --config.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import actions as act
from .. import analysis as a
from .. import cpuset, fmt, inputs
from ..actions.base import nvcpus
from ..model import Guest, Snapshot
from ..vocab import IOTUNE_BASE, NUMA_MODES, SCOPE_BOTH, THP_MODES, Scope
from . import panes
from .forms import ActionForm, Field, NoForm

KEEP = "keep"   # a choice that leaves the value as it is


def _scope_field(g: Guest) -> Field:
    choices = ("live", "config", SCOPE_BOTH) if g.running else ("config",)
    return Field("scope", "apply to", choices[0], choices=choices)


def _scope(v: dict[str, str]) -> Scope:
    s = v.get("scope") or "live"
    return "config" if s == "config" else SCOPE_BOTH if s == SCOPE_BOTH else "live"


def _scoped(fields: list[Field], g: Guest) -> list[Field]:
    return [_scope_field(g), *fields]   # first, where it is read; the form focuses the first typed field


ONE_EACH = "one CPU each, in order"   # the pin form's one-to-one map: vCPU i on the i-th CPU
EVERY = "all of these CPUs"


def pin_form(snap: Snapshot, g: Guest) -> ActionForm:
    first = g.vcpus[0] if g.vcpus else None
    current = cpuset.format(first.affinity) if first is not None and first.pinned else ""
    taken = a.pins_of_others(snap, g.name)

    def vcpus(v: dict[str, str]) -> list[int]:
        which = inputs.vcpu_list(v["vcpus"])
        return list(range(nvcpus(g))) if which is None else list(which)

    def linked(changed: str, v: dict[str, str]) -> dict[str, str]:
        # one CPU each and too few CPUs picked: start from the free CPUs of the node it fits best
        if changed != "map" or v["map"] != ONE_EACH or len(_cpus_or_none(v["cpus"])) >= len(vcpus(v)):
            return {}
        best = a.best_node(g, snap.host, snap)
        node = None if best is None else snap.host.node(best)
        others = {c for cpus in taken.values() for c in cpus}
        free = [c for c in (node.cpus if node else ()) if c not in others]
        return {"cpus": cpuset.format(free)} if free else {}

    def build(v: dict[str, str]) -> act.Action:
        cpus = inputs.cpulist(v["cpus"])
        if v["map"] == ONE_EACH:
            return act.one_to_one(g.name, vcpus(v), cpus, _scope(v))
        which = inputs.vcpu_list(v["vcpus"])
        if which is None:
            return act.VcpuPin(g.name, None, cpus, _scope(v))
        if len(which) == 1:
            return act.VcpuPin(g.name, which[0], cpus, _scope(v))
        return act.VcpuPin(g.name, scope=_scope(v), pins={i: cpus for i in which})
    return ActionForm(f"p  pin vCPUs of {g.name}", _scoped([
        Field("vcpus", "vCPUs", "all", "all, or 0 / 0-1 / 0,2"),
        Field("map", "each vCPU on", EVERY, choices=(EVERY, ONE_EACH)),
        Field("cpus", "host CPUs", current, "e.g. 0-3 (or pick below; a takes a node)"),
    ], g), build, snap, picker_field="cpus", pins_of_others=taken, linked=linked, preview=_pin_map)


def _cpus_or_none(text: str) -> tuple[int, ...]:
    try:
        return cpuset.parse(text)
    except cpuset.CpusetError:
        return ()


def _pin_map(action: act.Action) -> str:
    """A one-to-one pin's whole map (its commands show only the first few): vCPU -> CPU."""
    pins = action.pins if isinstance(action, act.VcpuPin) else None
    if not pins or any(len(c) != 1 for c in pins.values()):
        return ""
    cells = [f"{i}→{c[0]}" for i, c in pins.items()]
    lines, cur = [], "vCPU→CPU"
    for cell in cells:
        if len(cur) + 2 + len(cell) > 70:
            lines.append(cur)
            cur = "        "
        cur += "  " + cell
    return "\n".join([*lines, cur])


def unpin_form(snap: Snapshot, g: Guest) -> ActionForm:
    def build(v: dict[str, str]) -> act.Action:
        which = inputs.vcpu_list(v["vcpus"])
        if which is None:
            return act.VcpuPin(g.name, None, None, _scope(v))
        if len(which) == 1:
            return act.VcpuPin(g.name, which[0], None, _scope(v))
        return act.VcpuPin(g.name, scope=_scope(v), pins={i: snap.default_cpus(g) for i in which})
    return ActionForm(f"u  unpin vCPUs of {g.name}", _scoped([
        Field("vcpus", "vCPUs", "all", "all, or 0 / 0-1"),
    ], g), build, snap, note="vCPUs go back to every host CPU the guest may use.")


def emulatorpin_form(snap: Snapshot, g: Guest) -> ActionForm:
    current = cpuset.format(g.emulator_affinity or ())

    def build(v: dict[str, str]) -> act.Action:
        return act.EmulatorPin(g.name, inputs.cpulist(v["cpus"]), _scope(v))
    return ActionForm(f"e  pin the emulator threads of {g.name}", _scoped([
        Field("cpus", "host CPUs", current, "e.g. 0-1"),
    ], g), build, snap, picker_field="cpus", pins_of_others=a.pins_of_others(snap, g.name),
        note="The guide (8.4.4): pin the emulator on the vCPUs' node.")


def iothreadpin_form(snap: Snapshot, g: Guest) -> ActionForm:
    if not g.iothreads:
        raise NoForm(f"{g.name} has no I/O threads to pin (<iothreads> in its definition)")
    by_id = {str(t.id): t for t in g.iothreads}
    first = g.iothreads[0]

    def linked(changed: str, v: dict[str, str]) -> dict[str, str]:
        return {"cpus": cpuset.format(by_id[v["iothread"]].affinity)} if changed == "iothread" else {}

    def build(v: dict[str, str]) -> act.Action:
        return act.IoThreadPin(g.name, int(v["iothread"]), inputs.cpulist(v["cpus"]), _scope(v))
    return ActionForm(f"i  pin an I/O thread of {g.name}", _scoped([
        Field("iothread", "I/O thread", str(first.id), choices=tuple(by_id)),
        Field("cpus", "host CPUs", cpuset.format(first.affinity), "e.g. 0-1"),
    ], g), build, snap, picker_field="cpus", pins_of_others=a.pins_of_others(snap, g.name), linked=linked,
        note="The guide (8.4.4): the I/O threads beside the vCPUs, on their node.")


def move_form(snap: Snapshot, g: Guest) -> ActionForm:
    best = a.best_node(g, snap.host, snap)

    def build(v: dict[str, str]) -> act.Action:
        return act.MoveToNode(g.name, inputs.cpulist(v["nodes"]), _scope(v))
    return ActionForm(f"M  move {g.name} to a node", _scoped([
        Field("nodes", "node(s)", "" if best is None else str(best), "e.g. 0"),
    ], g), build, snap, note="vcpupin + emulatorpin + numatune strict to the node, together (8.4.1).")


def numatune_form(snap: Snapshot, g: Guest) -> ActionForm:
    nt = g.numatune
    nodes = a.vcpu_nodes(g, snap.host)
    # No <numatune>: "keep" (a running guest takes a nodeset once, then strict; a mode it refuses).
    mode = nt.mode if nt is not None and nt.mode in NUMA_MODES else KEEP

    def build(v: dict[str, str]) -> act.Action:
        m = None if v["mode"] == KEEP else v["mode"]
        return act.NumaTune(g.name, m, v["nodeset"].strip() or None, _scope(v))
    return ActionForm(f"n  numatune {g.name}", _scoped([
        Field("mode", "mode", mode, choices=(KEEP, *NUMA_MODES)),
        Field("nodeset", "nodeset", (nt.nodeset or "") if nt else cpuset.format(nodes), "e.g. 0"),
    ], g), build, snap, note="" if nt else f"{g.name} has no numatune yet: live, only a nodeset can be set.")


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
        return act.MemTune(g.name, scope=_scope(v), **kw)
    return ActionForm(f"m  memtune {g.name} (memory {fmt.fmt_kib(g.memory_kib)})", _scoped([
        Field("hard", "hard_limit", _kib_text(cur["hard"]), "e.g. 2G, unlimited"),
        Field("soft", "soft_limit", _kib_text(cur["soft"]), "e.g. 1G"),
        Field("swap_hard", "swap_hard", _kib_text(cur["swap_hard"]), "more than hard_limit"),
    ], g), build, snap, note="Too low a hard_limit gets the guest killed by the kernel (7.3.2).")


def throttle_form(snap: Snapshot, g: Guest) -> ActionForm:
    if not g.disks:
        raise NoForm(f"{g.name} has no disks to throttle")
    disks = {d.target: d for d in g.disks}
    first = g.disks[0]

    def limits(target: str) -> dict[str, str]:
        return {k: str(disks[target].limit(k)) for k in IOTUNE_BASE}

    def linked(changed: str, v: dict[str, str]) -> dict[str, str]:
        return limits(v["disk"]) if changed == "disk" else {}   # the chosen disk's own limits

    def build(v: dict[str, str]) -> act.Action:
        now = disks[v["disk"]]
        wanted = {k: inputs.iotune(k)(v[k]) for k in IOTUNE_BASE}   # as the CLI and virsh: sizes for bytes
        changed = {k: x for k, x in wanted.items() if x != now.limit(k)}   # the virsh line an admin types
        if not changed:
            raise ValueError(f"change a limit of {v['disk']} (these are its current ones)")
        return act.BlkDevIoTune(g.name, v["disk"], changed, _scope(v))
    return ActionForm(f"b  disk throttles of {g.name}", _scoped([
        Field("disk", "disk", first.target, choices=tuple(disks)),
        *[Field(k, k.replace("_sec", "/s"), val, "0 = no limit; 1M = 1048576")
          for k, val in limits(first.target).items()],
    ], g), build, snap, linked=linked,
        note="blkdeviotune; a total limit cannot be mixed with read/write ones (6.5.1).")


def weight_form(snap: Snapshot, g: Guest) -> ActionForm:
    def build(v: dict[str, str]) -> act.Action:
        return act.BlkioWeight(g.name, inputs.whole(v["weight"]), scope=_scope(v))
    known = g.blkio_weight is not None and g.blkio_weight > 0
    return ActionForm(f"w  blkio weight of {g.name}", _scoped([
        Field("weight", "weight", str(g.blkio_weight) if known else "", "100-1000"),
    ], g), build, snap, note="" if known else "The current weight is not known: type one (100-1000).")


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
    by_label = {panes.size_label(s): s for s in sizes}

    def pool_total(size_label: str, node: str) -> str:
        size = by_label.get(size_label, sizes[0])
        if node == "all":
            pool = snap.host.hugepages.get(size)
            return str(pool.total if pool else 0)
        n = snap.host.node(int(node))
        node_pool = n.hugepages.get(size) if n is not None else None
        return str(node_pool.total if node_pool else 0)

    def linked(changed: str, v: dict[str, str]) -> dict[str, str]:
        # another size or node: start from that pool's own count, not the one shown before
        return {"count": pool_total(v["size"], v["node"])} if changed in ("size", "node") else {}

    def build(v: dict[str, str]) -> act.Action:
        node = v["node"]
        return act.HugepagePool(by_label.get(v["size"], sizes[0]), None if node == "all" else int(node),
                                inputs.whole(v["count"]))
    first = panes.size_label(sizes[0])
    return ActionForm("h  hugepage pool", [
        Field("size", "page size", first, choices=tuple(by_label)),
        Field("node", "node", "all", choices=("all", *(str(n.id) for n in snap.host.nodes))),
        Field("count", "pages", pool_total(first, "all"), "persistent pages wanted"),
    ], build, snap, linked=linked)


def thp_form(snap: Snapshot) -> ActionForm:
    now = snap.host.thp_enabled
    if now is None:
        raise NoForm("this kernel has no transparent hugepages (/sys/kernel/mm/transparent_hugepage)")

    def build(v: dict[str, str]) -> act.Action:
        return act.ThpEnabled(v["mode"])
    return ActionForm(f"T  transparent hugepages (now {now})", [
        Field("mode", "enabled", now if now in THP_MODES else THP_MODES[0], choices=THP_MODES),
    ], build, snap, note="madvise: THP where a process asks (QEMU does for guest RAM); never: none.")


def numa_balancing_form(snap: Snapshot) -> ActionForm:
    now = snap.host.numa_balancing
    if now is None:
        raise NoForm("this kernel has no automatic NUMA balancing (/proc/sys/kernel/numa_balancing)")

    def build(v: dict[str, str]) -> act.Action:
        return act.NumaBalancing(int(v["value"]))
    return ActionForm(f"N  automatic NUMA balancing (now {now})", [
        Field("value", "numa_balancing", "0" if now else "1", choices=("0", "1")),
    ], build, snap, note="0 off, 1 on. Off when every guest is pinned to its node (8.3).")


# form name -> (builder, takes the selected guest); bound as "form('<name>')"
FORMS: dict[str, tuple[Callable[..., ActionForm], bool]] = {
    "pin": (pin_form, True), "unpin": (unpin_form, True),
    "emulatorpin": (emulatorpin_form, True), "move": (move_form, True),
    "numatune": (numatune_form, True), "memtune": (memtune_form, True),
    "throttle": (throttle_form, True), "weight": (weight_form, True),
    "ksm_toggle": (ksm_toggle_form, False), "ksm_settings": (ksm_settings_form, False),
    "hugepages": (hugepages_form, False), "iothreadpin": (iothreadpin_form, True),
    "thp": (thp_form, False), "numa_balancing": (numa_balancing_form, False),
}
