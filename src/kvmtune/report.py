"""`kvmtune snapshot`'s compact text report (plain text, no Textual).

Host nodes with memory and hugepages; per guest its memory per node in MiB (like
`numastat -c`, but only the guest's RAM: anonymous memory + hugepages, without the
QEMU binary and libraries that numastat's Private row also counts), how much of it KSM
merged per node, and its vCPU placement (like `virsh vcpuinfo`); with `--perf`, the perf
counters' rates over the counting window per vCPU thread and per guest; the advisor's
findings (host and per guest) with their severity and the guide's section.
"""

from __future__ import annotations

from collections.abc import Set

from . import cpuset
from .advise import Finding, evaluate
from .analysis import ksm_saved_kib
from .model import Guest, Snapshot
from .rates import CounterRate, PerfRate, guest_rates


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f}"


def _table(rows: list[list[str]], right: Set[int] = frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    return out


def render_report(snap: Snapshot, prev: Snapshot | None = None) -> str:
    """The report of `snap`; perf rates are since `prev` (the snapshot before, when counting)."""
    h = snap.host
    rates = guest_rates(prev, snap) if prev is not None else {}
    lines = [f"host {h.hostname}"]
    opts = []
    saved_kib = ksm_saved_kib(h)   # None exactly when there is no KSM
    if h.ksm is not None and saved_kib is not None:
        saved = saved_kib // 1024
        opts.append(f"KSM {'on' if h.ksm.run == 1 else 'off' if h.ksm.run == 0 else 'unmerge'}"
                    f" ({saved} MiB saved)")
    if h.thp_enabled:
        opts.append(f"THP {h.thp_enabled}")
    if h.numa_balancing is not None:
        opts.append(f"NUMA balancing {'on' if h.numa_balancing else 'off'}")
    if h.tuned_profile:
        opts.append(f"tuned {h.tuned_profile}")
    if opts:
        lines.append("  " + ", ".join(opts))
    sizes = sorted({s for n in h.nodes for s in n.hugepages} | set(h.hugepages))
    rows = [["node", "cpus", "mem MiB", "free MiB"] + [f"huge {_size(s)} used/total" for s in sizes]]
    for n in h.nodes:
        rows.append([str(n.id), cpuset.format(n.cpus) or "-", _mib(n.mem_total_kib), _mib(n.mem_free_kib)]
                    + [f"{n.hugepages[s].used}/{n.hugepages[s].total}" if s in n.hugepages else "-"
                       for s in sizes])
    if len(rows) > 1:
        lines += ["", *_table(rows, right={2, 3})]
    advice = evaluate(snap, prev, rates)
    if advice.host:
        lines += ["", "findings:", *_findings(advice.host)]
    if snap.disconnected:
        lines += ["", "guests: not available (no connection to libvirt)"]
    for g in snap.guests:
        r = rates.get(g.name)
        lines += ["", *_guest(g, [n.id for n in h.nodes], r.perf if r is not None else None)]
        lines += _findings(advice.guests.get(g.name, ()))
    if snap.errors:
        lines += ["", "errors:"]
        lines += [f"  {e.source}: {e.message}" for e in snap.errors]
    return "\n".join(lines) + "\n"


def _findings(found: tuple[Finding, ...]) -> list[str]:
    """One line each: "  ! critical numa.split (8.4.1): memory split ...: 50% on node 2, ..."."""
    return [f"  ! {f.severity} {f.code} ({f.section}): {f.text}" for f in found]


def _size(kib: int) -> str:
    return f"{kib // (1024 * 1024)}G" if kib >= 1024 * 1024 else f"{kib // 1024}M"


def _guest(g: Guest, node_ids: list[int], perf: PerfRate | None = None) -> list[str]:
    head = f"guest {g.name} ({g.state}"
    if g.pid is not None:
        head += f", pid {g.pid}"
    head += f", {g.memory_kib // 1024} MiB"
    if g.numatune is not None:
        head += f", numatune {g.numatune.mode} {g.numatune.nodeset or ''}".rstrip()
    out = [head + ")"]
    if g.numa_memory_kib is not None:
        ids = sorted(set(node_ids) | set(g.numa_memory_kib))
        huge: dict[int, int] = {}
        for size, per in (g.hugepages or {}).items():
            for n, pages in per.items():
                huge[n] = huge.get(n, 0) + pages * size
        rows = [["MiB"] + [f"Node {i}" for i in ids] + ["Total"]]
        anon = {i: g.numa_memory_kib.get(i, 0) - huge.get(i, 0) for i in ids}
        if huge:
            rows.append(["Huge"] + [_mib(huge.get(i, 0)) for i in ids] + [_mib(sum(huge.values()))])
        rows.append(["Anon"] + [_mib(anon[i]) for i in ids] + [_mib(sum(anon.values()))])
        rows.append(["Total"] + [_mib(g.numa_memory_kib.get(i, 0)) for i in ids]
                    + [_mib(sum(g.numa_memory_kib.values()))])
        out += ["  " + line for line in _table(rows, right=set(range(1, len(ids) + 2)))]
    shared = g.ksm.shared_kib if g.ksm is not None else None
    if shared:   # part of Anon above: the pages KSM merged, on the node each sits on
        out.append(f"  KSM-shared {_mib(sum(shared.values()))} MiB ("
                   + ", ".join(f"node {n} {_mib(v)} MiB" for n, v in sorted(shared.items())) + ")")
    counted = perf is not None and g.perf is not None and not g.perf.unavailable
    if g.vcpus:
        rows = [["vCPU", "CPU", "affinity", "pinned"] + (list(_PERF_COLUMNS) if counted else [])]
        for v in g.vcpus:
            rows.append([str(v.index), "-" if v.pcpu is None else str(v.pcpu),
                         cpuset.format(v.affinity) or "-", "yes" if v.pinned else "no"]
                        + (_perf_cells(perf.vcpus.get(v.index)) if perf is not None and counted else []))
        out += ["  " + line for line in _table(rows, right=set(range(4, 4 + len(_PERF_COLUMNS))))]
    if g.perf is not None:
        out += _perf_lines(g, perf)
    if g.emulator_affinity is not None:
        out.append(f"  emulator affinity {cpuset.format(g.emulator_affinity) or '-'}")
    for d in g.disks:
        limits = ", ".join(f"{k}={v}" for k, v in d.iotune.items() if v)
        out.append(f"  disk {d.target} {d.source or ''} {('limits ' + limits) if limits else 'no limits'}")
    return out


_PERF_COLUMNS = ("task %", "ctx/s", "migr/s", "faults/s", "IPC")


def _num(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _perf_cells(r: CounterRate | None) -> list[str]:
    if r is None:
        return ["-"] * len(_PERF_COLUMNS)
    return [_num(r.task_clock_percent), _num(r.get("context_switches")), _num(r.get("cpu_migrations"), 1),
            _num(r.get("page_faults")), _num(r.ipc, 2)]


def _perf_lines(g: Guest, perf: PerfRate | None) -> list[str]:
    p = g.perf
    assert p is not None
    if p.unavailable:
        return [f"  perf: not counted: {p.unavailable}"]
    if perf is None or perf.total is None:
        return ["  perf: counting began with this sample (rates need the next one)"]
    t = perf.total
    line = (f"  perf, every thread: task-clock {_num(t.task_clock_percent)} % of a CPU, "
            f"{_num(t.get('context_switches'))} context switches/s, {_num(t.get('cpu_migrations'), 1)} "
            f"migrations/s, {_num(t.get('page_faults'))} page faults/s")
    out = [line + (f", IPC {_num(t.ipc, 2)}" if t.ipc is not None else "")]
    if p.hardware:
        out.append(f"  perf hardware counters: {p.hardware}")
    if perf.exits:   # KVM's counters: "exits" is the total, the others its reasons and halt polling
        total = perf.exits.get("exits")
        top = sorted(((v, k) for k, v in perf.exits.items() if v and k != "exits"), reverse=True)[:5]
        out.append(f"  KVM exits {_num(total)}/s" + (": " + ", ".join(f"{k} {v:.0f}" for v, k in top) if top else ""))
    elif p.exits_note:
        out.append(f"  KVM exits: {p.exits_note}")
    return out
