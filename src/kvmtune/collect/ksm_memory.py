"""A KSM-merging guest's memory per node, and how much of it is KSM-shared on each node.

The memory cgroup charges a KSM page to one cgroup only (the one whose page ksmd kept),
so a guest's cgroup `anon` misses the merged pages it maps from pages charged to other
guests. Per tick, and only for a guest with merging pages, two cheap reads say how much
is missing: `RssAnon` (status) minus the cgroup's anon. Where it sits comes from the last
`numa_maps` read (a page-table walk, so at the slow cadence): the anonymous memory the
guest maps per node, less what its cgroup holds there, is where the pages charged
elsewhere lie. Totals are always this tick's; only the split over nodes is as of that read.
"""

from __future__ import annotations

from collections.abc import Mapping


def split(total: int, weights: Mapping[int, int]) -> dict[int, int]:
    """`total` over the keys of `weights` in proportion, in integers that add up to `total`."""
    wsum = sum(w for w in weights.values() if w > 0)
    if total <= 0 or wsum <= 0:
        return {}
    out = {n: total * w // wsum for n, w in weights.items() if w > 0}
    rest = total - sum(out.values())
    for n in sorted(out, key=lambda n: -weights[n])[:rest]:   # largest weights take the remainder
        out[n] += 1
    return out


def elsewhere(mapped: Mapping[int, int], charged: Mapping[int, int]) -> dict[int, int]:
    """KiB per node the guest maps (numa_maps) beyond what its cgroup holds there."""
    return {n: kib - charged.get(n, 0) for n, kib in mapped.items() if kib > charged.get(n, 0)}


def adjust(charged: Mapping[int, int], rss_anon_kib: int, merging_kib: int,
           where: Mapping[int, int] | None) -> tuple[dict[int, int], dict[int, int]]:
    """(anonymous memory per node as the guest maps it, its KSM-shared KiB per node).

    `charged` is the cgroup's anon per node, `where` the last `elsewhere()` (None before
    the first numa_maps read). The KSM-shared pages charged elsewhere are placed by
    `where`; those charged to the guest itself are among its own pages, so they are
    spread like them (exact when the guest's memory is on one node).
    """
    missing = max(0, rss_anon_kib - sum(charged.values()))
    foreign = split(missing, where if where and sum(where.values()) > 0 else charged)
    memory = dict(charged)
    for n, kib in foreign.items():
        memory[n] = memory.get(n, 0) + kib
    shared = foreign if missing <= merging_kib else split(merging_kib, foreign)
    shared = dict(shared)
    for n, kib in split(max(0, merging_kib - missing), charged or memory).items():
        shared[n] = shared.get(n, 0) + kib
    return memory, shared
