"""7.x memory: allocated but unused, memtune limits, hugepages (7.3.3, 8.4.9)."""

from __future__ import annotations

from collections.abc import Iterator

from .. import analysis, cpuset
from ..fmt import fmt_kib, fmt_pct
from ..model import Guest
from .base import Ctx, action, finding, move_fix, xml_fix
from .findings import Finding

# Memory use is close to memtune hard_limit (the kernel may kill the guest) when less than
# HARD_LIMIT_MARGIN_KIB is left under it and, for a small limit, use is >= 90 % of it: a
# limit set as 7.3.2 asks (memory + QEMU's own) leaves about that much. libvirt allows QEMU
# 1 GiB beyond the guest's memory when it sets a locked-memory limit itself (VFIO).
HARD_LIMIT_MARGIN_KIB = 1 << 20
HARD_LIMIT_SHARE = 10              # ... and the headroom is at most a tenth of the limit
# A guest using less than this share of its configured memory "does not use" the rest (7.2).
UNUSED_SHARE = 0.5
UNUSED_MIN_KIB = 1 << 20           # ... when it is at least 1 GiB
LARGE_GUEST_KIB = 32 << 20         # a guest this large wants hugepages (7.3.3)
UNUSED_POOL_KIB = 1 << 20          # free hugepages of one size on a node worth a finding
MIB = 1024


def max_memory_kib(g: Guest) -> int:
    """The memory the guest may balloon up to (<memory>, the snapshot's max_memory_kib), else its current memory."""
    return g.max_memory_kib or (g.domain.max_memory_kib if g.domain is not None else None) or g.memory_kib


def _close(headroom: int, limit: int) -> bool:
    return headroom < HARD_LIMIT_MARGIN_KIB and headroom * HARD_LIMIT_SHARE <= limit


def _headroom_kib(g: Guest) -> int:
    """A hard_limit that leaves room: the guest's maximum memory (or use) plus a quarter for
    QEMU's own, at least 512 MiB, in whole MiB."""
    base = max(max_memory_kib(g), analysis.guest_memory_kib(g))
    kib = base + max(base // 4, 512 * MIB)
    return -(-kib // MIB) * MIB


def _raise_hard(g: Guest) -> dict[str, object]:
    hard = _headroom_kib(g)
    values: dict[str, object] = {"hard_limit_kib": hard}
    swap = g.memtune.swap_hard_limit_kib if g.memtune is not None else None
    if swap is not None and swap < hard:
        values["swap_hard_limit_kib"] = hard   # libvirt needs swap_hard_limit >= hard_limit
    return values


def unused(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    if not g.numa_memory_kib or g.memory_kib < UNUSED_MIN_KIB:
        return
    used = analysis.guest_memory_kib(g)
    if used < UNUSED_SHARE * g.memory_kib:
        yield finding("mem.unused", g.name,
                      f"uses {fmt_kib(used)} of its {fmt_kib(g.memory_kib)} ({fmt_pct(used / g.memory_kib)})",
                      xml_fix(g.name, f"<memory unit='KiB'>{_fit_kib(used)}</memory>", "--edit", "--memory",
                              # memory= alone sets currentMemory: both, or <memory> stays
                              f"memory={_fit_kib(used) // MIB},currentMemory={_fit_kib(used) // MIB}",
                              note="or let the balloon give it back live: virsh setmem"))


def _fit_kib(used: int) -> int:
    return max(-(-used * 3 // 2 // (256 * MIB)) * 256 * MIB, 512 * MIB)


def memtune(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    mt = g.memtune
    maxmem = max_memory_kib(g)
    if mt is not None and mt.hard_limit_kib is not None:
        hard = mt.hard_limit_kib
        used = analysis.guest_memory_kib(g)
        if hard < maxmem:
            yield finding("memtune.hard_limit_low", g.name,
                          f"hard_limit {fmt_kib(hard)} is below its {'maximum ' if maxmem > g.memory_kib else ''}"
                          f"memory {fmt_kib(maxmem)}: the kernel kills it when it uses more",
                          action("memtune", g.name, values=_raise_hard(g), scope="live"))
        elif _close(hard - used, hard):
            yield finding("memtune.hard_limit_close", g.name,
                          f"uses {fmt_kib(used)} of its {fmt_kib(hard)} hard_limit ({fmt_pct(used / hard)}, "
                          f"{fmt_kib(max(hard - used, 0))} left): the kernel kills it when it goes over",
                          action("memtune", g.name, values=_raise_hard(g), scope="live"))
        swap = mt.swap_hard_limit_kib
        if swap is not None and swap < hard:
            yield finding("memtune.swap_limit", g.name,
                          f"swap_hard_limit {fmt_kib(swap)} < hard_limit {fmt_kib(hard)}",
                          action("memtune", g.name, values={"swap_hard_limit_kib": hard}, scope="live"))
    mb = g.memory_backing
    if mb is not None and mb.locked:
        limit = mt.hard_limit_kib if mt is not None else None
        # locked pages count against the limit with QEMU's own: it wants memory + that margin
        if limit is None or _close(limit - maxmem, limit):
            what = "no hard_limit" if limit is None else \
                f"hard_limit {fmt_kib(limit)}, its memory {fmt_kib(maxmem)} (no room for QEMU's own)"
            yield finding("memtune.locked", g.name,
                          f"<locked/> memory with {what}: it may pin host memory without bound",
                          action("memtune", g.name, values=_raise_hard(g), scope="live"))


def hugepages_missing(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    mb = g.memory_backing
    if mb is None or mb.hugepages or g.memory_kib < LARGE_GUEST_KIB:
        return
    yield finding("huge.missing", g.name,
                  f"{fmt_kib(g.memory_kib)} on 4 KiB pages (and THP where it can): TLB misses cost it",
                  xml_fix(g.name, "<memoryBacking>\n  <hugepages/>\n</memoryBacking>",
                          "--edit", "--memorybacking", "hugepages=on",
                          note="the host needs a hugepage pool this large (h) before the guest restarts"))


def hugepages_other_node(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    if not ctx.multi or not g.hugepages:
        return
    held = {n for per in g.hugepages.values() for n, k in per.items() if k}
    vnodes = ctx.vcpu_nodes(g)
    if held and vnodes and not held & vnodes:
        kib = sum(size * k for size, per in g.hugepages.items() for k in per.values())
        fix = move_fix(g, ctx.host, held) if len(held) == 1 else None
        yield finding("huge.other_node", g.name,
                      f"{fmt_kib(kib)} of hugepages on node(s) {cpuset.format(held)}, vCPUs on node(s) "
                      f"{cpuset.format(vnodes)} (hugepages do not move: move the vCPUs)", fix)


GUEST = (unused, memtune, hugepages_missing, hugepages_other_node)


def thp_never(ctx: Ctx) -> Iterator[Finding]:
    if ctx.host.thp_enabled != "never":
        return
    plain = [g.name for g in ctx.snap.guests if g.running and not (g.memory_backing and g.memory_backing.hugepages)]
    if plain:
        yield finding("huge.thp_never", None,
                      f"transparent hugepages are never used, and {len(plain)} running guest(s) are not on "
                      f"hugepages ({', '.join(plain[:3])}{', ...' if len(plain) > 3 else ''})",
                      action("thp", "host", mode="madvise"))


def unused_pools(ctx: Ctx) -> Iterator[Finding]:
    """Per page size: a pool with at least 1 GiB and a quarter of it spare holds memory nobody
    uses (a pool sized for its guests is full, as it should be). Spare: free, less what the
    defined but stopped guests on hugepages of that size take when they start."""
    sizes = sorted(ctx.host.hugepages)
    for size, p in sorted(ctx.host.hugepages.items()):
        stopped = [(g.name, -(-max_memory_kib(g) // size)) for g in ctx.snap.guests
                   if not g.running and g.memory_backing is not None and g.memory_backing.hugepages
                   and (g.memory_backing.page_size_kib or _default_size(sizes)) == size]
        want = sum(k for _, k in stopped)
        spare = max(p.free - p.reserved - want, 0)
        if p.total and spare * size >= UNUSED_POOL_KIB and spare * 4 >= p.total:
            kept = f"; {want} kept for stopped {', '.join(n for n, _ in stopped[:3])}" \
                f"{', ...' if len(stopped) > 3 else ''}" if stopped else ""
            yield finding("huge.unused_pool", None,
                          f"{p.free} of {p.total} {fmt_kib(size)} pages free ({fmt_kib(spare * size)} nobody "
                          f"uses{kept})",
                          action("hugepages", "host", size_kib=size, node=None, count=p.total - spare),
                          subject=str(size))


def _default_size(sizes: list[int]) -> int | None:
    """The size <hugepages/> without a <page> gets: the host's default, 2 MiB where it has it."""
    return 2048 if 2048 in sizes else (sizes[0] if sizes else None)


HOST = (thp_never, unused_pools)
