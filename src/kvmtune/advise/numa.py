"""8.x NUMA: where a guest's memory lives against its vCPUs, guest NUMA topology, balancing."""

from __future__ import annotations

from collections.abc import Iterator

from .. import analysis, cpuset
from ..fmt import fmt_kib, fmt_pct
from ..model import Guest
from .base import Ctx, action, finding, move_fix, numatune_nodes, nvcpus, split_on_purpose, xml_fix
from .findings import Finding, Fix


def split(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    """8.4: memory over several nodes though one node's free memory and CPUs take it all;
    the node named is the move form's (analysis.best_node), so `M` proposes the same."""
    parts = analysis.memory_nodes(g, analysis.SPLIT_MIN_SHARE)
    if not ctx.multi or len(parts) < 2 or split_on_purpose(ctx, g):
        return
    best = analysis.best_node(g, ctx.host, ctx.snap, ctx.pinned_by_others(g.name))
    if best is None:
        return
    total = sum((g.numa_memory_kib or {}).values())
    where = ", ".join(f"{fmt_pct(share)} on node {n}" for n, _, share in parts)
    node = ctx.host.node(best)
    free = fmt_kib(node.mem_free_kib) if node else "-"
    yield finding("numa.split", g.name,
                  f"{where} of {fmt_kib(total)}; node {best} has {free} free and "
                  f"{len(node.cpus) if node else 0} CPUs for its {nvcpus(g)} vCPUs",
                  move_fix(g, ctx.host, (best,)))


def remote(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    loc = ctx.locality(g)
    if not ctx.multi or loc is None or loc >= analysis.LOW_LOCALITY or split_on_purpose(ctx, g):
        return
    vnodes = ctx.vcpu_nodes(g)
    best = analysis.best_node(g, ctx.host, ctx.snap, ctx.pinned_by_others(g.name))
    yield finding("numa.remote", g.name,
                  f"{fmt_pct(loc)} of its memory is on node(s) {cpuset.format(vnodes)} where its vCPUs run "
                  "(NUMA misses cost 10 % or more)",
                  None if best is None else move_fix(g, ctx.host, (best,)))


def numatune_elsewhere(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    nt = g.numatune
    if not ctx.multi or nt is None or nt.mode != "strict":
        return
    mem, cpu = set(numatune_nodes(g)), ctx.pinned_nodes(g)
    if mem and cpu and not cpu <= mem:
        yield finding("numa.numatune_elsewhere", g.name,
                      f"numatune strict on node(s) {cpuset.format(mem)}, vCPUs pinned to node(s) "
                      f"{cpuset.format(cpu)}", move_fix(g, ctx.host, cpu))


def numad_off(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    if d is None or ctx.host.numad_running is not False:
        return
    auto = [what for what, p in (("vcpu", d.vcpu_placement), ("numatune memory", d.numa_placement))
            if p == "auto"]
    if auto:
        yield finding("numa.numad_off", g.name,
                      f"<{' and <'.join(a + ' placement=' for a in auto)}'auto'> asks numad for a placement, "
                      "and numad is not running: libvirt places nothing",
                      Fix(target="host", note="start numad: systemctl enable --now numad"))


def no_guest_topology(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    """8.4.8: a guest larger than any node (memory or vCPUs) should see the host's NUMA shape."""
    d = g.domain
    if d is None or d.cells or not ctx.multi:
        return
    nodes = ctx.host.nodes
    big_mem = max(n.mem_total_kib for n in nodes)
    big_cpus = max(len(n.cpus) for n in nodes)
    n = nvcpus(g)
    if g.memory_kib <= big_mem and n <= big_cpus:
        return
    k = min(len(nodes), max(2, -(-g.memory_kib // big_mem), -(-n // max(big_cpus, 1))))
    per_cpu, per_mem = -(-n // k), g.memory_kib // k
    cells = [(i, cpuset.format(range(i * per_cpu, min(n, (i + 1) * per_cpu))), per_mem) for i in range(k)]
    xml = "<cpu>\n  <numa>\n" + "".join(
        f"    <cell id='{i}' cpus='{c}' memory='{m}' unit='KiB'/>\n" for i, c, m in cells) + "  </numa>\n</cpu>"
    arg = ",".join(f"numa.cell{i}.cpus={c},numa.cell{i}.memory={m}" for i, c, m in cells)
    yield finding("numa.no_guest_topology", g.name,
                  f"{fmt_kib(g.memory_kib)} and {n} vCPUs; the largest node has {fmt_kib(big_mem)} and "
                  f"{big_cpus} CPUs, and the guest sees one NUMA node",
                  xml_fix(g.name, xml, "--edit", "--cpu", arg))


def cells_mismatch(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    if d is None or not d.cells or not ctx.host.nodes:
        return
    nodes = ctx.host.nodes
    big_mem = max(n.mem_total_kib for n in nodes)
    big_cpus = max(len(n.cpus) for n in nodes)
    why = []
    if len(d.cells) > len(nodes):
        why.append(f"{len(d.cells)} guest cells on {len(nodes)} host node(s)")
    for c in d.cells:
        ncpu = len(_cells_cpus(c.cpus))
        if c.memory_kib > big_mem or ncpu > big_cpus:
            why.append(f"cell {c.id} ({fmt_kib(c.memory_kib)}, {ncpu} vCPUs) is larger than any node "
                       f"({fmt_kib(big_mem)}, {big_cpus} CPUs)")
    if why:
        yield finding("numa.cells_mismatch", g.name, "; ".join(why))


def _cells_cpus(text: str | None) -> tuple[int, ...]:
    try:
        return cpuset.parse(text or "")
    except cpuset.CpusetError:
        return ()


GUEST = (split, remote, numatune_elsewhere, numad_off, no_guest_topology, cells_mismatch)


def balancing(ctx: Ctx) -> Iterator[Finding]:
    """8.3: with nothing pinned, automatic balancing is what places guests. Manual tuning
    overrides it for a pinned process (8.3.1), so only when every running guest is pinned does
    it cost its scanning for nothing; while one is unpinned, it relies on it."""
    h = ctx.host
    if not ctx.multi or h.numa_balancing is None:
        return
    pinned = sorted(ctx.pinned_cpus())
    running = sum(1 for g in ctx.snap.guests if g.running)
    if h.numa_balancing and pinned and len(pinned) == running:
        yield finding("numa.balancing_pinned", None,
                      f"numa_balancing={h.numa_balancing} and every running guest is pinned "
                      f"({', '.join(pinned[:3])}{', ...' if len(pinned) > 3 else ''}): balancing leaves them "
                      "where you pinned them, and only costs its page scanning",
                      action("numa_balancing", "host", value=0))
    elif not h.numa_balancing and not pinned:
        yield finding("numa.balancing_off", None,
                      f"numa_balancing=0 on {len(h.nodes)} nodes and no guest is pinned: nothing keeps "
                      "memory near its vCPUs", action("numa_balancing", "host", value=1))


HOST = (balancing,)
