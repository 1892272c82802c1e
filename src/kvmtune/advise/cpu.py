"""3.2.2 devices, 3.3 CPU (overcommit, model, topology) and 3.3.4 / 8.4.1 pinning."""

from __future__ import annotations

from collections.abc import Iterator

from .. import analysis, cpuset
from ..model import Guest
from .base import Ctx, action, finding, node_cpus, numatune_nodes, nvcpus, split_on_purpose, xml_fix
from .findings import Finding, Fix


def model(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    if d is None:
        return
    if d.cpu_mode not in ("host-passthrough", "host-model", "maximum"):
        what = "no <cpu> element (QEMU's default model)" if d.cpu_mode is None else \
            f"cpu mode {d.cpu_mode}" + (f" model {d.cpu_model}" if d.cpu_model else "")
        yield finding("cpu.model", g.name, f"{what}: the guest does not see the host CPU's features",
                      _model_fix(g.name, d.virt_type == "qemu"))
    if d.pmu is False:
        yield finding("cpu.pmu", g.name, "<pmu state='off'/>: perf inside the guest counts no hardware events",
                      xml_fix(g.name, "<features>\n  <pmu state='on'/>\n</features>",
                              "--edit", "--features", "pmu.state=on"))


def _model_fix(guest: str, tcg: bool) -> Fix:
    """host-model: 3.3.2 recommends copying the host's CPU, and a host-model guest stays
    migratable. Only the mode attribute changes: <topology> and <numa> cells stay (virt-xml's
    clearxml=yes would blank the whole <cpu> element)."""
    other = "or 'maximum' (host-passthrough is refused for a TCG guest)" if tcg else \
        "or host-passthrough (every host feature, but it migrates only to an identical host CPU)"
    return xml_fix(guest, "<cpu mode='host-model'>  (set the mode attribute of <cpu>; keep its "
                   "<topology> and <numa>; drop a <model> child)",
                   "--edit", "--cpu", "host-model",
                   note=f"host-model copies the host CPU's model and features, {other}")


def topology(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    """3.3.3: the guest's sockets x cores x threads should be a shape the host has, and make
    its maximum vCPUs (<vcpu>: the topology covers the hot-pluggable ones too)."""
    d = g.domain
    host = ctx.host_topology()
    if d is None or host is None or d.sockets is None or d.cores is None or d.threads is None:
        return
    _hs, hc, ht = host
    n = d.max_vcpus or nvcpus(g)
    why = []
    if d.threads > ht:
        why.append(f"{d.threads} threads per core, the host's cores have {ht}")
    if d.cores > hc:
        why.append(f"{d.cores} cores per socket, the host's sockets have {hc}")
    if n and d.sockets * d.cores * d.threads != n:
        why.append(f"{d.sockets} x {d.cores} x {d.threads} is not its {n} vCPUs")
    if not why:
        return
    # 3.3.3's note: sockets only, one core and one thread each, usually performs best
    n = n or d.sockets * d.cores * d.threads
    yield finding("cpu.topology", g.name, "; ".join(why),
                  xml_fix(g.name, f"<cpu>\n  <topology sockets='{n}' cores='1' threads='1'/>\n</cpu>",
                          "--edit", "--vcpus", f"sockets={n},cores=1,threads=1"))


def shared_pins(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    """3.3.1: CPUs shared by pinned guests with more vCPUs confined to them than they have
    (two 1:1 pins on one CPU are that too). Several guests pinned to a whole node, as the move
    fixes place them, share its CPUs by design and are not this."""
    sets = sorted({frozenset(v.affinity) for v in g.vcpus if v.pinned and v.affinity}, key=min)
    why = []
    for cpus in sets:
        n, who = ctx.confined(cpus)
        others = sorted(who - {g.name})
        if others and n > len(cpus):
            why.append(f"CPU(s) {cpuset.format(cpus)} hold {n} pinned vCPUs, with "
                       f"{', '.join(others[:3])}{', ...' if len(others) > 3 else ''}")
    if why:
        yield finding("cpu.shared_pins", g.name, "; ".join(why[:3]) + ("; ..." if len(why) > 3 else ""))


def too_big_for_node(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    pinned = [v for v in g.vcpus if v.pinned]
    nodes = ctx.pinned_nodes(g)
    if not ctx.multi or len(nodes) != 1 or len(pinned) != len(g.vcpus):
        return
    (n,) = nodes
    node = ctx.host.node(n)
    if node is not None and len(g.vcpus) > len(node.cpus):
        yield finding("pin.too_big_for_node", g.name,
                      f"{len(g.vcpus)} vCPUs pinned into node {n}, which has {len(node.cpus)} CPUs: they queue there "
                      "(give it a guest NUMA topology over two nodes, 8.4.8)")


def no_numatune(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    if g.numatune is not None or not any(v.pinned for v in g.vcpus):
        return
    nodes = ctx.pinned_nodes(g)
    fix = None
    if nodes and analysis.fits_nodes(g, ctx.host, nodes):
        fix = action("numatune", g.name, mode=None, nodeset=cpuset.format(nodes), scope="live")
    yield finding("pin.no_numatune", g.name,
                  f"vCPUs pinned to node(s) {cpuset.format(nodes) or '-'}, memory may live anywhere "
                  f"(now: {analysis.nodes_label(g)})", fix)


def numatune_unpinned(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    nodes = numatune_nodes(g)
    if not ctx.multi or not nodes or any(v.pinned for v in g.vcpus) or not g.vcpus:
        return
    if set(nodes) >= {n.id for n in ctx.host.nodes}:
        return   # bound to every node: nothing to pin to
    cpus = node_cpus(ctx.host, nodes)
    yield finding("pin.numatune_unpinned", g.name,
                  f"memory bound to node(s) {cpuset.format(nodes)}, vCPUs free to run on any node "
                  f"(now on {cpuset.format(ctx.vcpu_nodes(g)) or '-'})",
                  action("vcpupin", g.name, vcpu=None, cpus=list(cpus), scope="live") if cpus else None)


def emulator(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    nodes = ctx.pinned_nodes(g)
    if not ctx.multi or not nodes or not g.emulator_affinity:
        return
    emu = ctx.nodes_of(g.emulator_affinity)
    if emu and not emu <= nodes:
        cpus = node_cpus(ctx.host, nodes)
        yield finding("pin.emulator", g.name,
                      f"emulator on node(s) {cpuset.format(emu)} (CPUs {cpuset.format(g.emulator_affinity)}), "
                      f"vCPUs on node(s) {cpuset.format(nodes)}",
                      action("emulatorpin", g.name, cpus=list(cpus), scope="live"))


def partial(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    pinned = [v for v in g.vcpus if v.pinned]
    loose = [v.index for v in g.vcpus if not v.pinned]
    if not pinned or not loose:
        return
    cpus = sorted({c for v in pinned for c in v.affinity})
    # the loose vCPUs go 1:1 onto free CPUs of the pinned ones' node(s): onto the pinned
    # vCPUs' own CPUs they would queue behind them (3.3.1), onto another guest's they share
    taken = set(cpus) | ctx.pinned_by_others(g.name)
    free = [c for c in node_cpus(ctx.host, ctx.pinned_nodes(g)) if c not in taken]
    fix = None
    if len(free) >= len(loose):
        fix = action("vcpupin", g.name, pins={str(i): [c] for i, c in zip(loose, free)}, scope="live")
        then = f"; CPU(s) {cpuset.format(free[:len(loose)])} of the same node(s) are free for them"
    else:
        then = f"; node(s) {cpuset.format(ctx.pinned_nodes(g)) or '-'} have {len(free)} CPU(s) no guest pins, " \
               "too few for them: no pinning proposed"
    yield finding("pin.partial", g.name,
                  f"vCPU(s) {cpuset.format(v.index for v in pinned)} pinned to {cpuset.format(cpus)}, "
                  f"vCPU(s) {cpuset.format(loose)} not" + then, fix)


def across_nodes(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    pinned = [v for v in g.vcpus if v.pinned]
    if not ctx.multi or not pinned:
        return
    wide = [v.index for v in pinned if len(ctx.nodes_of(v.affinity)) > 1]
    if wide:
        yield finding("pin.vcpu_across_nodes", g.name,
                      f"vCPU(s) {cpuset.format(wide)} may run on CPUs of several nodes")
    elif len(nodes := ctx.pinned_nodes(g)) > 1 and not split_on_purpose(ctx, g):
        yield finding("pin.vcpus_across_nodes", g.name,
                      f"its vCPUs are pinned to nodes {cpuset.format(nodes)} (with no guest NUMA topology "
                      "matching them, the guest cannot keep memory local)" if g.domain is not None
                      and not g.domain.cells else f"its vCPUs are pinned to nodes {cpuset.format(nodes)}")


# a server guest does not need these (3.2.2)
def unused_devices(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    if d is None:
        return
    if d.sounds:
        yield finding("devices.unused", g.name, f"sound device(s): {', '.join(d.sounds)}",
                      xml_fix(g.name, "remove the <sound> element(s)", "--remove-device", "--sound", "all"),
                      subject=f"sound {' '.join(d.sounds)}")
    tablets = [i for i in d.inputs if i.startswith("tablet")]
    if tablets:
        yield finding("devices.unused", g.name, f"input device(s): {', '.join(tablets)}",
                      xml_fix(g.name, "remove <input type='tablet' .../>", "--remove-device", "--input", "type=tablet"),
                      subject=f"input {' '.join(tablets)}")
    if d.redirdevs:
        yield finding("devices.unused", g.name, f"{d.redirdevs} USB redirection device(s)",
                      xml_fix(g.name, "remove the <redirdev> element(s)", "--remove-device", "--redirdev", "all"),
                      subject="redirdev")


GUEST = (model, topology, shared_pins, too_big_for_node, no_numatune, numatune_unpinned, emulator, partial,
         across_nodes, unused_devices)


def overcommit(ctx: Ctx) -> Iterator[Finding]:
    """3.3.1: vCPUs of running guests against host CPUs, and per node for pinned vCPUs."""
    h, running = ctx.host, [g for g in ctx.snap.guests if g.running]
    pcpus = len(h.cpu_ids)
    total = sum(nvcpus(g) for g in running)
    if pcpus and total > pcpus:
        yield finding("cpu.overcommit", None,
                      f"{total} vCPUs of {len(running)} running guests on {pcpus} host CPUs ({total / pcpus:.2g}:1)")
    for n in h.nodes:
        cpus = set(n.cpus)
        if not cpus:
            continue
        held = {g.name: k for g in running
                if (k := sum(1 for v in g.vcpus if v.pinned and v.affinity and set(v.affinity) <= cpus))}
        if sum(held.values()) > len(cpus):
            who = ", ".join(f"{k} {x}" for x, k in sorted(held.items()))
            yield finding("cpu.overcommit_node", None,
                          f"node {n.id}: {sum(held.values())} pinned vCPUs ({who}) on its {len(cpus)} CPUs")


HOST = (overcommit,)
