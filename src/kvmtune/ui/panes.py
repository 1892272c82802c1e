"""Text of the detail panes and the host view, as Textual markup (the header: headertext.py).

Pure functions of Frames (frame.py: the snapshot, the previous one, the rates, the
findings, the history); the figures come from `kvmtune.analysis`. Colours are theme variables ($warning, $error, ...) so
`t` recolours everything and NO_COLOR drops them.
"""

from __future__ import annotations

from .. import analysis as a
from .. import cpuset, fmt
from ..advise import Finding
from ..frame import HISTORY, Frame
from ..model import Guest
from ..rates import ksm_scan_rate
from .cpumap import cpu_map
from .keys import PANES, finding_text
from .markup import escape

__all__ = ["PANES"]   # (and the pane functions below)


MUTED = "$text-muted"


def bar_width(width: int, used: int) -> int:
    return max(6, min(40, width - used))


def size_label(kib: int) -> str:
    """Hugepage size as people say it: 2048 -> "2M", 1048576 -> "1G"."""
    return fmt.fmt_kib(kib).replace(".0", "")


# -- 1. NUMA memory --------------------------------------------------------------------------

def numa_pane(frame: Frame, g: Guest, width: int = 80) -> str:
    h = frame.snap.host
    mem = g.numa_memory_kib or {}
    huge_per_node: dict[int, int] = {}
    for size, per in (g.hugepages or {}).items():
        for node, count in per.items():
            huge_per_node[node] = huge_per_node.get(node, 0) + size * count
    total = sum(mem.values()) or 1
    # (a stopped guest's vCPUs run nowhere: vcpu_nodes would name where they are pinned)
    vnodes = a.vcpu_nodes(g, h) if g.running else set()
    bw = bar_width(width, 46)
    out = [f"[b]{escape(g.name)}[/]  memory {_memory(g)}  locality "
           f"{_locality(a.locality(g, h))}  numatune {_numatune(g)}"]
    # the first finding next, the rest under the nodes: at 80x24 a memory split and its fix
    # (M) show without scrolling, and so do the nodes
    warns = _warnings(frame, g, {"numa.", "pin.no_numatune", "huge.other_node"})
    out += warns[:1]
    for n in h.nodes:
        kib = mem.get(n.id, 0)
        huge = min(kib, huge_per_node.get(n.id, 0))
        cells = round(bw * kib / total) if mem else 0
        hcells = min(cells, round(bw * huge / total)) if mem else 0
        bar = f"[$accent]{'▓' * hcells}[/][$primary]{'█' * (cells - hcells)}[/]{'░' * (bw - cells)}"
        mark = "vCPUs" if n.id in vnodes else ""
        out.append(f"node {n.id:<2} {bar} {fmt.fmt_kib(kib) if kib else '0':>6} {fmt.fmt_pct(kib / total):>4}"
                   f"{'  huge ' + fmt.fmt_kib(huge) if huge else ''}  {mark}")
    if not mem:
        out.append(f"[{MUTED}]no per-node figures (guest not running or cgroup unreadable)[/]")
    shared = g.ksm.shared_kib if g.ksm is not None else None
    if shared:   # part of the figures above: memory KSM merged with other pages, where it sits
        out.append(f"KSM-shared {fmt.fmt_kib(sum(shared.values()))} ("
                   + ", ".join(f"node {n} {fmt.fmt_kib(v)}" for n, v in sorted(shared.items()) if v) + ")")
    out += warns[1:]
    out.append(f"[{MUTED}]█ normal  [$accent]▓[/] hugepages  'vCPUs' = its vCPUs run there[/]")
    return "\n".join(out)


def _memory(g: Guest) -> str:
    """Its size now (the balloon's) of the configured one, and what QEMU holds in RAM (RSS)."""
    text = fmt.fmt_kib(a.memory_now_kib(g))
    if g.max_memory_kib is not None:
        text += f" of {fmt.fmt_kib(g.max_memory_kib)}"
    return text + ("" if g.rss_kib is None else f"  RSS {fmt.fmt_kib(g.rss_kib)}")


def _numatune(g: Guest) -> str:
    if g.numatune is None:
        return f"[{MUTED}]none[/]"
    return f"{g.numatune.mode} {escape(g.numatune.nodeset or '-')}"


def _locality(loc: float | None) -> str:
    if loc is None:
        return "-"
    style = "$success" if loc >= a.LOW_LOCALITY else "$warning" if loc >= 0.5 else "$error"
    return f"[{style}]{fmt.fmt_pct(loc)}[/]"


def _warning_lines(findings: tuple[Finding, ...], codes: set[str] | None = None) -> list[str]:
    """The findings whose code is in `codes`; a code ending in "." names a family ("numa.")."""
    return [f"[$warning]! {escape(finding_text(w))}[/] [{MUTED}]§{w.section}[/]"
            for w in findings if codes is None or w.code in codes
            or any(c.endswith(".") and w.code.startswith(c) for c in codes)]


def _warnings(frame: Frame, g: Guest, codes: set[str]) -> list[str]:
    return _warning_lines(frame.guest_findings(g.name), codes)


# -- 2. vCPU placement -----------------------------------------------------------------------

_STATE_STYLE = {"running": "$success", "blocked": "$warning", "stopped": "$warning", "offline": MUTED}


def vcpu_pane(frame: Frame, g: Guest, width: int = 80) -> str:
    """What `virsh vcpuinfo` says per vCPU (its CPU, state, CPU time, affinity) and more: its
    thread, node, CPU % over the last interval, pinned or not; the host CPU map below."""
    snap, prev, rate = frame.snap, frame.prev, frame.rates.get(g.name)
    h = snap.host
    moved = a.moved_vcpus(prev.guest(g.name) if prev else None, g)
    running_on: dict[int, list[int]] = {}
    states: dict[str, int] = {}
    for v in g.vcpus:
        if v.pcpu is not None:
            running_on.setdefault(v.pcpu, []).append(v.index)
        if v.state is not None:
            states[v.state] = states.get(v.state, 0) + 1
    pinned, n = a.pinned_count(g)
    # the summary and the vCPU table first: at 80x24 they are what shows; the host CPU map below
    part = f"[$warning]pinned {pinned} of {n}[/]" if 0 < pinned < n else f"pinned {pinned} of {n}"
    out = [f"[b]{escape(g.name)}[/]  {n} vCPUs  {part}"
           + "".join(f"  {k} {c}" for k, c in sorted(states.items(), key=lambda kv: -kv[1]))]
    out.append(f"[b]{'vCPU':<4} {'state':<7} {'tid':>7} {'CPU':>4} {'node':>4} {'time':>6} {'%':>4} "
               f"{'pin':<3} affinity[/]")
    for v in g.vcpus:
        node = h.node_of_cpu(v.pcpu) if v.pcpu is not None else None
        pct = (rate.vcpu_percent.get(v.index) if rate else None)
        state = f"{v.state or '-':<7}"
        if v.state in _STATE_STYLE:
            state = f"[{_STATE_STYLE[v.state]}]{state}[/]"
        line = (f"{v.index:<4} {state} {v.tid or '-':>7} {'-' if v.pcpu is None else v.pcpu:>4} "
                f"{'-' if node is None else node:>4} {fmt.cpu_time(v.cpu_time_ns):>6} "
                f"{fmt.fmt_pct(pct, False):>4} {'yes' if v.pinned else '-':<3} {cpuset.format(v.affinity) or '-'}")
        if v.pcpu is not None and v.affinity and v.pcpu not in v.affinity:
            # The kernel reports where a thread last ran; an idle vCPU keeps that until it wakes.
            line += f" [{MUTED}](last ran before the pin)[/]"
        out.append(f"[reverse $accent]{line} moved[/]" if v.index in moved else line)
    hist = frame.cpu_history.get(g.name, ())
    if g.running and len(hist) > 1:
        # the guest's CPU over the kept history (the top of the line: its peak there)
        sw = max(8, min(HISTORY, width - 36))
        peak = max((x for x in hist if x is not None), default=None)
        out.append(f"[b]CPU[/] {fmt.fmt_pct(rate.cpu_percent if rate else None, False):>5} "
                   f"[$primary]{fmt.sparkline(hist, sw)}[/] "
                   f"[{MUTED}]peak {fmt.fmt_pct(peak, False)} of {100 * max(1, n)}%[/]")
    if moved:
        out.append(f"[{MUTED}]moved: on another host CPU than at the previous refresh "
                   "(the scheduler moves unpinned vCPUs; p pins them)[/]")
    # (two short lines, not one that wraps at 80 columns)
    if any(v.tid for v in g.vcpus):
        out.append(f"[{MUTED}]state: the vCPU thread's, from /proc; halted = asleep, its guest CPU idles[/]")
        out.append(f"[{MUTED}](virsh vcpuinfo says running for every online vCPU) · time: CPU time used[/]")
    else:
        out.append(f"[{MUTED}]state: libvirt's (no /proc for this guest here) · time: CPU time used[/]")
    emu = "-" if g.emulator_affinity is None else cpuset.format(g.emulator_affinity)
    out.append(f"emulator  {emu}")
    for t in g.iothreads or ():
        out.append(f"iothread {t.id}  {cpuset.format(t.affinity)}")
    for w in g.vhost_threads:
        # the NICs' vhost-net workers: on the vCPUs' node, their packets stay local (the guide's 5.3)
        node = h.node_of_cpu(w.pcpu) if w.pcpu is not None else None
        pct = rate.vhost_percent.get(w.tid) if rate else None
        # (in the vCPU rows' columns: tid, CPU, node, time, %, pin, affinity)
        out.append(f"{'vhost':<12} {w.tid:>7} {'-' if w.pcpu is None else w.pcpu:>4} "
                   f"{'-' if node is None else node:>4} {fmt.cpu_time(w.cpu_time_ns):>6} "
                   f"{fmt.fmt_pct(pct, False):>4} {'-':<3} {cpuset.format(w.affinity) or '-'}"
                   + (f" [{MUTED}](kernel thread)[/]" if w.kernel else ""))
    out.append(f"[b]host CPUs[/] [{MUTED}](id+load; a [reverse]reversed[/] id = a vCPU of this guest "
               "runs there; SMT siblings side by side)[/]")
    out += cpu_map(snap, frame.cpu_pct, running_on, width=width)
    out += _warnings(frame, g, {"pin.", "cpu."})
    return "\n".join(out)


# -- 3. hugepages ------------------------------------------------------------------------

def huge_pane(frame: Frame, g: Guest) -> str:
    snap = frame.snap
    h = snap.host
    sizes = a.hugepage_sizes(snap)
    if not sizes:
        return f"[{MUTED}]this host has no hugepage pools[/]"
    # the guest and who holds what first, the pools per node below: at 80x24 the first lines show
    mb = g.memory_backing
    out = [f"[b]{escape(g.name)}[/]: " + (
        f"backed by {size_label(mb.page_size_kib or 2048)} hugepages" if mb and mb.hugepages
        else "not hugepage-backed (memoryBacking has no <hugepages/>)")]
    out.append("[b]held by guests[/]")
    any_ = False
    for s in sizes:
        for name, per in a.hugepage_holders(snap, s):
            any_ = True
            mark = "[b]>[/]" if name == g.name else " "
            nodes = "  ".join(f"N{n}:{c}" for n, c in sorted(per.items()))
            out.append(f"{mark} {escape(name):<24} {size_label(s):>4} x {sum(per.values()):<6} {nodes}")
    if not any_:
        out.append(f"[{MUTED}]no guest holds hugepages[/]")
    out.append("")
    out.append(f"[b]{'pool':<10}{'node':>5}{'total':>8}{'used':>8}{'free':>8}{'surplus':>9}[/]")
    for s in sizes:
        gp = h.hugepages.get(s)
        if gp is not None:   # the host's total first, then per node
            out.append(f"[b]{size_label(s):<10}{'all':>5}{gp.total:>8}{gp.used:>8}{gp.free:>8}"
                       f"{gp.surplus:>9}[/]  reserved {gp.reserved}")
        for n in h.nodes:
            p = n.hugepages.get(s)
            if p is not None:
                out.append(f"{size_label(s):<10}{n.id:>5}{p.total:>8}{p.used:>8}{p.free:>8}{p.surplus:>9}")
    return "\n".join(out)


# -- 4. KSM ------------------------------------------------------------------------------

def ksm_pane(frame: Frame, g: Guest) -> str:
    snap, prev = frame.snap, frame.prev
    k = snap.host.ksm
    if k is None:
        return f"[{MUTED}]KSM is not available on this host[/]"
    ratio = a.ksm_ratio(snap.host)
    scan = ksm_scan_rate(prev, snap)
    mac = {None: "?", 0: "0 (per node)", 1: "1 (across nodes)"}.get(k.merge_across_nodes,
                                                                   str(k.merge_across_nodes))
    out = [
        f"run {'[b $success]1 on[/]' if k.run == 1 else k.run}   saved [b]{fmt.fmt_kib(a.ksm_saved_kib(snap.host))}[/]"
        f"   sharing ratio {'-' if ratio is None else f'{ratio:.1f}'}   scan {fmt.fmt_count(scan)}/s"
        f"   full scans {k.full_scans}"]
    # the guest's own figures second: at 80x24 they show without scrolling
    if g.ksm is None:
        out.append(f"{escape(g.name)}: [{MUTED}]no per-guest KSM figures[/]")
    else:
        out.append(f"{escape(g.name)}: merging pages {g.ksm.merging_pages if g.ksm.merging_pages is not None else '-'}"
                   f"  profit {fmt.fmt_bytes(g.ksm.profit_bytes)}")
    if g.memory_backing is not None and g.memory_backing.nosharepages:
        out.append(f"[{MUTED}]memoryBacking <nosharepages/>: KSM skips this guest[/]")
    out += [
        "",
        f"pages shared {k.pages_shared}  sharing {k.pages_sharing}  unshared {k.pages_unshared}"
        f"  volatile {k.pages_volatile}",
        f"pages_to_scan {k.pages_to_scan}  sleep_millisecs {k.sleep_millisecs}"
        f"  merge_across_nodes {mac}"
        + ("" if k.general_profit is None else f"  general_profit {fmt.fmt_bytes(k.general_profit)}"),
    ]
    out += _warning_lines(tuple(w for w in frame.host_findings if w.code.startswith("ksm")))
    return "\n".join(out)


# -- 5. block I/O: blockpane.py


# -- 6. settings -------------------------------------------------------------------------

SETTING_LABEL = 15   # the pane's label column: every line is "<element>  value"


def _pins(g: Guest) -> list[str]:
    """vcpupin as `virsh vcpupin` lists it, with consecutive vCPUs of one affinity merged (0-3=8-11)."""
    runs: list[tuple[int, int, str]] = []
    for v in g.vcpus:
        if not v.pinned:
            continue
        aff = cpuset.format(v.affinity)
        if runs and runs[-1][1] == v.index - 1 and runs[-1][2] == aff:
            runs[-1] = (runs[-1][0], v.index, aff)
        else:
            runs.append((v.index, v.index, aff))
    return [f"{a}={aff}" if a == b else f"{a}-{b}={aff}" for a, b, aff in runs]


def settings_pane(g: Guest, width: int = 80) -> str:
    """The guest's tuning as its XML elements name it, one per line, every value in one style:
    `none` where the XML sets nothing (libvirt's default applies), `-` where it is not known."""
    def kib(v: int | None) -> str:
        return "unlimited" if v is None else fmt.fmt_kib(v)
    room = max(20, width - SETTING_LABEL - 2)
    out: list[str] = []

    def line(label: str, value: str, muted: bool = False) -> None:
        # long values wrap under the value column, between fields (two spaces apart) or pins
        sep = "  " if "  " in value else " "
        rows, cur = [], ""
        for w in value.split(sep):
            if cur and len(cur) + len(sep) + len(w) > room:
                rows.append(cur)
                cur = w
            else:
                cur = f"{cur}{sep}{w}" if cur else w
        rows.append(cur)
        val = ("\n" + " " * SETTING_LABEL).join(escape(r) for r in rows)
        out.append(f"[b]{label:<{SETTING_LABEL}}[/]{f'[{MUTED}]{val}[/]' if muted else val}")

    nt = g.numatune
    line("numatune", "none" if nt is None else f"mode {nt.mode}  nodeset {nt.nodeset or '-'}")
    mt = g.memtune
    line("memtune", "-" if mt is None else
         f"hard_limit {kib(mt.hard_limit_kib)}  soft_limit {kib(mt.soft_limit_kib)}  "
         f"swap_hard_limit {kib(mt.swap_hard_limit_kib)}")
    mb = g.memory_backing
    parts = [] if mb is None else [
        f"hugepages {size_label(mb.page_size_kib)}" if mb.hugepages and mb.page_size_kib else
        "hugepages" if mb.hugepages else "", "locked" if mb.locked else "",
        "nosharepages" if mb.nosharepages else ""]
    line("memoryBacking", "-" if mb is None else " ".join(p for p in parts if p) or "none")
    line("blkiotune", f"weight {g.blkio_weight}" if g.blkio_weight is not None else "weight -")
    pins = _pins(g)
    line("vcpupin", " ".join(pins) if pins else ("none" if g.vcpus else "-"))
    line("emulatorpin", "-" if g.emulator_affinity is None else cpuset.format(g.emulator_affinity))
    if g.iothreads:
        line("iothreadpin", " ".join(f"{t.id}={cpuset.format(t.affinity)}" for t in g.iothreads))
    for d in g.disks:
        line(f"disk {d.target}", f"bus {d.bus or '-'}  cache {d.cache or '-'}  io {d.io or '-'}  "
             f"{d.source or '-'}")
    line("domain", f"state {g.state}  pid {g.pid or '-'}  uuid {g.uuid}", muted=True)
    return "\n".join(out)
