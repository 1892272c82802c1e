"""The host view (`H`): every node's CPUs, memory, hugepages and the guests on it, the nodes'
distances (as `numactl -H` prints them) and their allocation counters per second (numastat's).

A pure function of a Frame, as the panes are (panes.py)."""

from __future__ import annotations

from .. import analysis as a
from .. import cpuset, fmt
from ..frame import Frame
from ..model import Node
from ..rates import numastat_rates
from ..vocab import NUMASTAT_KEYS
from .cpumap import cpu_map
from .markup import escape
from .panes import MUTED, size_label


def host_view(frame: Frame, width: int = 80) -> str:
    snap, cpu_pct = frame.snap, frame.cpu_pct
    out = [f"[b]{escape(snap.host.hostname)}[/] — every node: CPUs, memory, hugepages, guests", ""]
    out += cpu_map(snap, cpu_pct, width=width)
    bw = max(6, min(40, width - 40))   # (as the panes' bars)
    for u in a.node_summary(snap):
        n = snap.host.node(u.node)
        frac = u.mem_used_kib / u.mem_total_kib if u.mem_total_kib else None
        out.append("")
        out.append(f"[b]node {u.node}[/]  CPUs {cpuset.format(u.cpus) or '-'}  "
                   f"[$primary]{fmt.bar(frac, bw)}[/] {fmt.fmt_kib(u.mem_used_kib)}/{fmt.fmt_kib(u.mem_total_kib)}")
        for s, p in sorted(n.hugepages.items() if n is not None else ()):
            out.append(f"  hugepages {size_label(s)}: {p.used}/{p.total} used, {p.free} free")
        names = sorted(set(u.guests_kib) | set(u.vcpu_guests),
                       key=lambda x: -u.guests_kib.get(x, 0))
        for name in names:
            mem = fmt.fmt_kib(u.guests_kib.get(name)) if name in u.guests_kib else '-'
            out.append(f"  {escape(name):<24} mem {mem:>6}"
                       f"  vCPUs here {u.vcpu_guests.get(name, 0)}")
        if not names:
            out.append(f"  [{MUTED}]no guest uses this node[/]")
    out += _distances(snap.host.nodes, width)
    out += _numastat(frame, width)
    return "\n".join(out)


def _node_groups(ids: list[int], width: int, label: int, cell: int) -> list[list[int]]:
    """Node ids in groups whose columns fit the width beside a row label."""
    per = max(1, (width - 2 - label) // cell)
    return [ids[i:i + per] for i in range(0, len(ids), per)]


def _distances(nodes: tuple[Node, ...], width: int) -> list[str]:
    """The nodes' distance matrix as `numactl -H` prints it (10 = local)."""
    known = [n for n in nodes if n.distances is not None]
    if not known:
        return []
    # a distance file lists every online node in id order: index by the position of the id
    ids = [n.id for n in nodes]
    out = ["", f"[b]node distances[/] [{MUTED}](10 = local; numactl -H)[/]"]
    for group in _node_groups(ids, width, 4, 4):
        out.append("node" + "".join(f"{i:>4}" for i in group))
        for n in known:
            d = n.distances or ()
            out.append(f"{n.id:>3}:" + "".join(
                f"{d[ids.index(i)] if ids.index(i) < len(d) else '-':>4}" for i in group))
    return out


def _numastat(frame: Frame, width: int) -> list[str]:
    """Each node's allocations per second, numastat's rows (pages/s, since the last sample)."""
    rates = numastat_rates(frame.prev, frame.snap)
    if not rates:
        return []
    ids = sorted(rates)
    out = ["", f"[b]numastat[/] [{MUTED}](each node's allocations, pages per second)[/]"]
    for group in _node_groups(ids, width, 15, 9):
        out.append(f"{'':<15}" + "".join(f"{'node' + str(i):>9}" for i in group))
        for key in NUMASTAT_KEYS:
            cells = []
            for i in group:
                v = rates[i].get(key)
                text = f"{fmt.fmt_count(v):>9}"
                cells.append(f"[$warning]{text}[/]" if key in ("numa_miss", "numa_foreign") and v else text)
            out.append(f"{key:<15}" + "".join(cells))
    out.append(f"[{MUTED}]hit: on the node its policy wanted  miss: here, wanted elsewhere[/]")
    out.append(f"[{MUTED}]foreign: wanted here, went elsewhere  local/other: its task runs here/elsewhere[/]")
    return out
