"""One wide row per guest and frame, for CSV (`kvmtune dump --format csv`), like virt-top's.

The columns are fixed for a file: the per-node ones come from the node ids given when the
table is made (a recording's host nodes), so a header never changes within a file. Rates
are the frame's (rates.py, through frame.Framer): the figures the TUI shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from ..frame import Frame
from ..model import Guest
from ..rates import GuestRate

Cell = int | float | str | None
Getter = Callable[[Frame, Guest, GuestRate | None], Cell]


def _sum(values: Iterable[float | None]) -> float | None:
    """The total, or None when any part is unknown (a partial total would mislead)."""
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _disk(attr: str) -> Getter:
    def get(f: Frame, g: Guest, r: GuestRate | None) -> Cell:
        if r is None or not r.disks:
            return None
        return _sum(getattr(d, attr) for d in r.disks.values())
    return get


def _limit(key: str) -> Getter:
    """The most the guest's disks together may do: the sum of their limits, 0 when a disk has none."""
    def get(f: Frame, g: Guest, r: GuestRate | None) -> Cell:
        if not g.disks:
            return None
        limits = [d.iotune.get(key, 0) for d in g.disks]
        return 0 if 0 in limits else sum(limits)
    return get


def _local(t: float) -> str:
    try:
        return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return ""


# name -> (what it is, how to read it); the order is the default order of the columns
COLUMNS: dict[str, tuple[str, Getter]] = {
    "time": ("Unix time of the sample (seconds)", lambda f, g, r: f.snap.time),
    "datetime": ("the sample's local time, ISO 8601", lambda f, g, r: _local(f.snap.time)),
    "host": ("host name", lambda f, g, r: f.snap.host.hostname),
    "guest": ("guest name", lambda f, g, r: g.name),
    "uuid": ("guest UUID", lambda f, g, r: g.uuid),
    "state": ("libvirt state (running, paused, shut off...)", lambda f, g, r: g.state),
    "vcpus": ("vCPU count", lambda f, g, r: len(g.vcpus) if g.vcpus else g.nvcpus),
    "pinned_vcpus": ("vCPUs pinned narrower than the default", lambda f, g, r: sum(v.pinned for v in g.vcpus)),
    "cpu_pct": ("CPU use, % of one host CPU, since the previous sample",
                lambda f, g, r: None if r is None else r.cpu_percent),
    "memory_kib": ("guest memory (KiB)", lambda f, g, r: g.memory_kib),
    "numa_kib": ("guest memory the host holds, all nodes (KiB)",
                 lambda f, g, r: None if g.numa_memory_kib is None else sum(g.numa_memory_kib.values())),
    # node<N>_kib go here, one per host node
    "hugepages_kib": ("hugepages the guest holds (KiB)", lambda f, g, r: g.hugepages_kib),
    "ksm_merging_pages": ("pages KSM merged for the guest",
                          lambda f, g, r: None if g.ksm is None else g.ksm.merging_pages),
    "numatune_mode": ("numatune mode", lambda f, g, r: None if g.numatune is None else g.numatune.mode),
    "numatune_nodeset": ("numatune nodeset", lambda f, g, r: None if g.numatune is None else g.numatune.nodeset),
    "hard_limit_kib": ("memtune hard limit (KiB; empty = unlimited)",
                       lambda f, g, r: None if g.memtune is None else g.memtune.hard_limit_kib),
    "soft_limit_kib": ("memtune soft limit (KiB; empty = unlimited)",
                       lambda f, g, r: None if g.memtune is None else g.memtune.soft_limit_kib),
    "blkio_weight": ("blkio weight", lambda f, g, r: g.blkio_weight),
    "disks": ("disk count", lambda f, g, r: len(g.disks)),
    "disk_rd_bytes_s": ("disk reads, bytes/s, all disks", _disk("rd_bytes_s")),
    "disk_wr_bytes_s": ("disk writes, bytes/s, all disks", _disk("wr_bytes_s")),
    "disk_rd_iops": ("disk reads per second, all disks", _disk("rd_iops")),
    "disk_wr_iops": ("disk writes per second, all disks", _disk("wr_iops")),
    **{f"limit_{k}": (f"throttle {k}: the sum over the disks, 0 = not every disk is limited", _limit(k))
       for k in ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
                 "total_iops_sec", "read_iops_sec", "write_iops_sec")},
}
NODE_PATTERN = "node<N>_kib"   # as --help names them


def _node(n: int) -> Getter:
    def get(f: Frame, g: Guest, r: GuestRate | None) -> Cell:
        return None if g.numa_memory_kib is None else g.numa_memory_kib.get(n, 0)
    return get


class Table:
    """The columns of one file: `names` in order, and `rows(frame)` giving each guest's cells."""

    def __init__(self, nodes: Iterable[int], names: Sequence[str] | None = None):
        known: dict[str, Getter] = {}
        for name, (_what, get) in COLUMNS.items():
            known[name] = get
            if name == "numa_kib":
                known.update({f"node{n}_kib": _node(n) for n in sorted(set(nodes))})
        self.known = tuple(known)
        if names is None:
            names = self.known
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"the fields are: {', '.join(self.known)}")
        self.names = tuple(names)
        self._get = [known[n] for n in names]

    def rows(self, frame: Frame) -> Iterator[list[str]]:
        for g in frame.snap.guests:
            r = frame.rates.get(g.name)
            yield [cell(get(frame, g, r)) for get in self._get]


def cell(v: Cell) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


__all__ = ["COLUMNS", "Table", "cell"]
