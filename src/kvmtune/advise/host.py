"""4 tuned and 8.5 KSM: the host-wide settings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..fmt import fmt_pct
from ..model import Guest
from .base import Ctx, action, finding, nvcpus
from .findings import Finding, Fix

IDENTICAL_GUESTS = 3   # this many running guests of one size: KSM would find pages to merge
# 8.5: with memory not oversubscribed, KSM off is faster; worth it only when the running
# guests' memory comes this close to the host's
KSM_PRESSURE = 0.80


def tuned(ctx: Ctx) -> Iterator[Finding]:
    h = ctx.host
    fix = Fix(note="tuned-adm profile virtual-host")
    if h.tuned_running is False:
        yield finding("tuned.off", None, "the tuned daemon is not running: no profile applies",
                      Fix(note="systemctl enable --now tuned; tuned-adm profile virtual-host"))
    elif h.tuned_profile is not None and "virtual-host" not in h.tuned_profile.split():   # tuned merges several
        yield finding("tuned.profile", None, f"tuned profile {h.tuned_profile}", fix)


def ksm_across_nodes(ctx: Ctx) -> Iterator[Finding]:
    k = ctx.host.ksm
    if k is not None and k.run == 1 and ctx.multi and k.merge_across_nodes == 1:
        yield finding("ksm.across_nodes", None,
                      f"merge_across_nodes=1 on {len(ctx.host.nodes)} nodes, {k.pages_sharing} pages sharing: "
                      "a merged page is remote for the guests of the other nodes",
                      action("ksm", "host", values={"merge_across_nodes": 0}))


def ksm_off_identical(ctx: Ctx) -> Iterator[Finding]:
    k = ctx.host.ksm
    if k is None or k.run != 0:
        return
    total = ctx.host.mem_total_kib or sum(n.mem_total_kib for n in ctx.host.nodes)
    running = [g for g in ctx.snap.guests if g.running]
    committed = sum(g.memory_kib for g in running)
    if not total or committed <= KSM_PRESSURE * total:
        return
    shapes = Counter((g.memory_kib, nvcpus(g)) for g in running if _mergeable(g))
    same = [(shape, n) for shape, n in shapes.items() if n >= IDENTICAL_GUESTS]
    if same:
        (mem, cpus), n = max(same, key=lambda t: t[1])
        yield finding("ksm.off_identical", None,
                      f"KSM is off, running guests hold {fmt_pct(committed / total)} of the host's memory, "
                      f"and {n} of them have the same size ({mem // 1024} MiB, {cpus} vCPUs)",
                      action("ksm", "host", values={"run": 1}))


def _mergeable(g: Guest) -> bool:
    mb = g.memory_backing
    return mb is None or not (mb.hugepages or mb.nosharepages)


HOST = (tuned, ksm_across_nodes, ksm_off_identical)


def ksm_nosharepages(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    mb = g.memory_backing
    if mb is None or not mb.nosharepages or g.ksm is None or not g.ksm.merging_pages:
        return
    yield finding("ksm.nosharepages", g.name,
                  f"<nosharepages/> but KSM merges {g.ksm.merging_pages} of its pages",
                  Fix(target=g.name, note="QEMU marks its memory unmergeable at start: restart the guest"))


GUEST = (ksm_nosharepages,)
