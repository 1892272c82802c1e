"""Host actions: KSM, hugepage pools, NUMA balancing, THP — sysfs/procfs writes via HostFS.

Their "virsh equivalent" is the `echo V > /sys/...` line an admin would type; it is only
ever displayed (see base.display), never run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .. import fmt, parse
from ..analysis import ksm_saved_kib
from ..errors import ActionError
from ..model import Snapshot
from ..source import Source
from ..vocab import KSM_DIR, KSM_KNOBS, NUMA_BALANCING, THP_ENABLED, THP_MODES, hugepage_dir
from .base import Action, register

UNMERGE_TIMEOUT_S = 60.0
# A hugepage pool that leaves a node (or the host) less free memory than this share asks first.
LOW_FREE_SHARE = 0.02


def _echo(rel: str, value: object) -> list[str]:
    return ["echo", str(value), ">", "/" + rel]


@register
class KsmSet(Action):
    """Set KSM knobs. Changing merge_across_nodes while pages are shared needs the
    documented sequence (run=2 to unmerge, then the change): done when confirmed."""
    kind = "ksm"

    def __init__(self, values: Mapping[str, int]):
        self.target = "host"
        self.values = {k: int(values[k]) for k in KSM_KNOBS if k in values}
        self._unknown = sorted(set(values) - set(KSM_KNOBS))
        self._unmerge = False
        self._run_was: int | None = None   # run before the unmerge sequence: written back last

    def params(self) -> dict[str, Any]:
        return {"values": dict(self.values)}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> KsmSet:
        return cls(p.get("values", {}))

    def validate(self, snap: Snapshot) -> list[str]:
        problems = [f"unknown KSM setting {k!r} (known: {', '.join(KSM_KNOBS)})" for k in self._unknown]
        if not self.values and not problems:
            problems.append("give at least one KSM setting, e.g. --run 1")
        if snap.host.ksm is None:
            problems.append("this host has no KSM (/sys/kernel/mm/ksm is missing)")
            return problems
        v = self.values
        if "run" in v and v["run"] not in (0, 1, 2):
            problems.append(f"run must be 0 (stop), 1 (run) or 2 (stop and unmerge), not {v['run']}")
        if "pages_to_scan" in v and not 0 < v["pages_to_scan"] <= 100000:
            problems.append(f"pages_to_scan must be 1-100000, not {v['pages_to_scan']}")
        if "sleep_millisecs" in v and not 0 <= v["sleep_millisecs"] <= 3_600_000:
            problems.append(f"sleep_millisecs must be 0-3600000, not {v['sleep_millisecs']}")
        if "merge_across_nodes" in v:
            if v["merge_across_nodes"] not in (0, 1):
                problems.append(f"merge_across_nodes must be 0 or 1, not {v['merge_across_nodes']}")
            elif snap.host.ksm.merge_across_nodes is None:
                problems.append("this kernel has no merge_across_nodes (not a NUMA build)")
        return problems

    def _needs_unmerge(self, snap: Snapshot) -> bool:
        k = snap.host.ksm
        return (k is not None and "merge_across_nodes" in self.values
                and self.values["merge_across_nodes"] != k.merge_across_nodes
                and (k.pages_shared > 0 or k.pages_sharing > 0))

    def bind(self, snap: Snapshot) -> None:
        self._unmerge = self._needs_unmerge(snap)
        self._run_was = snap.host.ksm.run if snap.host.ksm is not None else None

    def risks(self, snap: Snapshot) -> list[str]:
        out = []
        k = snap.host.ksm
        self.bind(snap)
        saved_kib = ksm_saved_kib(snap.host)   # None exactly when k is None
        if self._unmerge and k is not None and saved_kib is not None:   # _unmerge implies KSM
            out.append(f"the kernel refuses merge_across_nodes while pages are shared "
                       f"({k.pages_shared} shared now): kvmtune will first unmerge every KSM page "
                       f"(run=2, the documented sequence), which needs about {fmt.size_text(saved_kib)} more "
                       f"memory, then set it and restore run")
        if self.values.get("run") == 2 and k is not None and saved_kib is not None and k.pages_sharing:
            out.append(f"run=2 unmerges all KSM pages: about {fmt.size_text(saved_kib)} "
                       f"more memory in use")
        if self.values.get("sleep_millisecs") == 0:
            out.append("sleep_millisecs 0: ksmd scans without pausing and keeps a CPU busy "
                       "(the guide's default is 20; ksmtuned adjusts it)")
        return out

    def _writes(self) -> list[tuple[str, int]]:
        """(knob, value) in the order apply() writes them: with the unmerge sequence, run=2 first
        and run (as given, else as it was) last, after merge_across_nodes."""
        values = dict(self.values)
        if self._unmerge and "run" not in values and self._run_was is not None:
            values["run"] = self._run_was
        first = [("run", 2)] if self._unmerge else []
        return first + [(k, values[k]) for k in KSM_KNOBS if k in values]   # KSM_KNOBS ends with run

    def commands(self) -> list[list[str]]:
        return [_echo(f"{KSM_DIR}/{k}", v) for k, v in self._writes()]

    def before(self, source: Source) -> dict[str, Any]:
        keys = set(self.values) | ({"run"} if "merge_across_nodes" in self.values else set())
        return {"values": {k: source.fs.read_int(f"{KSM_DIR}/{k}") for k in KSM_KNOBS if k in keys}}

    def apply(self, source: Source) -> None:
        fs = source.fs
        if (not self._unmerge and "merge_across_nodes" in self.values
                and fs.read_int(f"{KSM_DIR}/merge_across_nodes") != self.values["merge_across_nodes"]
                and fs.read_int(f"{KSM_DIR}/pages_shared") > 0):
            raise ActionError("KSM pages are shared: merge_across_nodes needs run=2 first "
                              "(confirm to let kvmtune do it)")
        for i, (k, v) in enumerate(self._writes()):   # exactly the commands shown
            fs.write_text(f"{KSM_DIR}/{k}", str(v))
            if self._unmerge and i == 0:
                _wait_unmerged(source)

    def inverse(self, before: dict[str, Any]) -> KsmSet:
        return KsmSet(before["values"])


def _wait_unmerged(source: Source) -> None:
    deadline = time.monotonic() + UNMERGE_TIMEOUT_S
    while source.fs.read_int(f"{KSM_DIR}/pages_shared") > 0:
        if time.monotonic() > deadline:
            raise ActionError(f"KSM pages still shared after {UNMERGE_TIMEOUT_S:.0f} s of run=2; "
                              "try again later")
        time.sleep(0.1)


# -- hugepage pools ---------------------------------------------------------------------------

def _nr_hugepages(size_kib: int, node: int | None) -> str:
    return f"{hugepage_dir(size_kib, node)}/nr_hugepages"


@register
class HugepagePool(Action):
    """Set the number of persistent hugepages of one size, on one node or host-wide."""
    kind = "hugepages"

    def __init__(self, size_kib: int, node: int | None, count: int):
        self.target = "host"
        self.size_kib, self.node, self.count = int(size_kib), node, int(count)

    def params(self) -> dict[str, Any]:
        return {"size_kib": self.size_kib, "node": self.node, "count": self.count}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> HugepagePool:
        return cls(p["size_kib"], p.get("node"), p["count"])

    def _pool(self, snap: Snapshot) -> tuple[int, int, int] | None:
        """(total, free, reserved) now for this size and node."""
        if self.node is None:
            hp = snap.host.hugepages.get(self.size_kib)
            return None if hp is None else (hp.total, hp.free, hp.reserved)
        n = snap.host.node(self.node)
        node_hp = None if n is None else n.hugepages.get(self.size_kib)
        return None if node_hp is None else (node_hp.total, node_hp.free, 0)

    def validate(self, snap: Snapshot) -> list[str]:
        if self.count < 0:
            return [f"the page count must be 0 or more, not {self.count}"]
        if self.node is not None and snap.host.node(self.node) is None:
            known = ",".join(str(n.id) for n in snap.host.nodes) or "none"
            return [f"no such online NUMA node: {self.node} (online: {known})"]
        pool = self._pool(snap)
        if pool is None:
            sizes = ", ".join(fmt.size_text(s) for s in sorted(snap.host.hugepages)) or "none"
            return [f"this host has no {fmt.size_text(self.size_kib)} hugepages (it has: {sizes})"]
        grow_kib = (self.count - pool[0]) * self.size_kib
        node = None if self.node is None else snap.host.node(self.node)
        if node is not None:   # checked above: a given node exists
            free = node.mem_free_kib
            where = f"node {self.node}"
        else:
            free = snap.host.mem_free_kib if snap.host.mem_free_kib is not None \
                else sum(n.mem_free_kib for n in snap.host.nodes)
            where = "the host"
        if grow_kib > 0 and grow_kib > free:
            fits = pool[0] + free // self.size_kib
            return [f"{self.count} pages of {fmt.size_text(self.size_kib)} need {fmt.size_text(grow_kib)} "
                    f"more but {where} has {fmt.size_text(free)} free (at most {fits} pages fit)"]
        return []

    def _left_free(self, snap: Snapshot) -> list[tuple[str, int, int]]:
        """(where, free KiB after the growth, total KiB) for each node (or the host) it takes from."""
        pool = self._pool(snap)
        grow_kib = 0 if pool is None else (self.count - pool[0]) * self.size_kib
        if grow_kib <= 0:
            return []
        if self.node is not None:
            n = snap.host.node(self.node)
            return [] if n is None else [(f"node {n.id}", n.mem_free_kib - grow_kib, n.mem_total_kib)]
        h = snap.host
        if h.mem_free_kib is None or h.mem_total_kib is None:
            return []
        return [("the host", h.mem_free_kib - grow_kib, h.mem_total_kib)]

    def risks(self, snap: Snapshot) -> list[str]:
        pool = self._pool(snap)
        if pool is None:
            return []
        total, free, reserved = pool
        held = total - free + reserved
        if self.count < held:
            holders = []
            for g in snap.guests:
                per = (g.hugepages or {}).get(self.size_kib, {})
                n = per.get(self.node, 0) if self.node is not None else sum(per.values())
                if n:
                    holders.append(f"{g.name} {n}")
            who = f" ({', '.join(holders)})" if holders else ""
            return [f"shrinking the {fmt.size_text(self.size_kib)} pool to {self.count} pages, below the {held} "
                    f"in use or reserved{who}: the kernel cannot free those; they stay as surplus "
                    f"pages and new guests needing hugepages will fail to start"]
        return [f"{where} would have only {fmt.size_text(max(left, 0))} free ({left / total:.1%} of "
                f"{fmt.size_text(total)}) once the pool grows: hugepages are not available to anything "
                f"else, so the kernel may swap or kill processes"
                for where, left, total in self._left_free(snap) if total and left < LOW_FREE_SHARE * total]

    def commands(self) -> list[list[str]]:
        return [_echo(_nr_hugepages(self.size_kib, self.node), self.count)]

    def before(self, source: Source) -> dict[str, Any]:
        return {"count": source.fs.read_int(_nr_hugepages(self.size_kib, self.node))}

    def apply(self, source: Source) -> None:
        source.fs.write_text(_nr_hugepages(self.size_kib, self.node), str(self.count))

    def inverse(self, before: dict[str, Any]) -> HugepagePool:
        return HugepagePool(self.size_kib, self.node, before["count"])


# -- NUMA balancing, THP ----------------------------------------------------------------------

@register
class NumaBalancing(Action):
    """Automatic NUMA balancing on (1) or off (0); other kernel values are restored as they were."""
    kind = "numa_balancing"

    def __init__(self, on: bool | int):
        self.target = "host"
        self.value = int(on)

    def params(self) -> dict[str, Any]:
        return {"value": self.value}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> NumaBalancing:
        return cls(p["value"])

    def validate(self, snap: Snapshot) -> list[str]:
        if snap.host.numa_balancing is None:
            return ["this kernel has no automatic NUMA balancing (/proc/sys/kernel/numa_balancing)"]
        if self.value not in (0, 1, 2, 3):
            return [f"numa_balancing must be 0 (off), 1 (on), 2 or 3 (memory tiering modes), not {self.value}"]
        return []

    def commands(self) -> list[list[str]]:
        return [_echo(NUMA_BALANCING, self.value)]

    def before(self, source: Source) -> dict[str, Any]:
        return {"value": source.fs.read_int(NUMA_BALANCING)}

    def apply(self, source: Source) -> None:
        source.fs.write_text(NUMA_BALANCING, str(self.value))

    def inverse(self, before: dict[str, Any]) -> NumaBalancing:
        return NumaBalancing(before["value"])


@register
class ThpEnabled(Action):
    kind = "thp"

    def __init__(self, mode: str):
        self.target = "host"
        self.mode = mode

    def params(self) -> dict[str, Any]:
        return {"mode": self.mode}

    @classmethod
    def from_params(cls, target: str, p: dict[str, Any]) -> ThpEnabled:
        return cls(p["mode"])

    def validate(self, snap: Snapshot) -> list[str]:
        if self.mode not in THP_MODES:
            return [f"THP mode must be one of {', '.join(THP_MODES)}, not {self.mode!r}"]
        if snap.host.thp_enabled is None:
            return ["this kernel has no transparent hugepages (/sys/kernel/mm/transparent_hugepage)"]
        return []

    def commands(self) -> list[list[str]]:
        return [_echo(THP_ENABLED, self.mode)]

    def before(self, source: Source) -> dict[str, Any]:
        text = source.fs.read_text(THP_ENABLED)
        if text.strip() in THP_MODES:   # a plain file (a test tree) holds just the word written
            return {"mode": text.strip()}
        try:
            return {"mode": parse.bracketed(text)}
        except parse.ParseError as e:
            raise ActionError(str(e)) from None

    def apply(self, source: Source) -> None:
        source.fs.write_text(THP_ENABLED, self.mode)

    def inverse(self, before: dict[str, Any]) -> ThpEnabled:
        return ThpEnabled(before["mode"])


