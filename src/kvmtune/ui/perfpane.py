"""The 7th detail pane (perf counters per vCPU thread, per guest, and KVM exits) and the
P key that turns perf collection on and off.

The pane is a pure function of a frame, as the other panes (panes.py); its rates are the
frame's (rates.perf_rate). The toggle asks the feed's collector, where the feed has one
(a replay shows what was recorded and has nothing to turn on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import cpuset, fmt
from ..frame import Frame
from ..model import Guest
from ..perfmodel import HARDWARE
from ..rates import CounterRate
from .markup import escape

MUTED = "$text-muted"
OFF = ("perf counters are off: press [b]P[/] to count them (or start kvmtune with [b]--perf[/]); "
       "they need root (or CAP_PERFMON and CAP_SYS_PTRACE)")

# what the guide says each exit means, for the reasons it explains
EXIT_NOTES = {
    "halt_exits": "the vCPU halted (idle guest); see halt polling below",
    "halt_successful_poll": "halt polling woke the vCPU before it slept (halt_poll_ns): latency saved, CPU spent",
    "halt_attempted_poll": "halt polls tried",
    "halt_wakeup": "the vCPU slept and was woken",
    "io_exits": "port I/O: an emulated device (a virtio device exits far less)",
    "mmio_exits": "MMIO: device registers or virtio notifications",
    "irq_exits": "an interrupt for the host arrived while the guest ran",
    "irq_window_exits": "waiting to inject an interrupt",
    "signal_exits": "a signal for the QEMU thread",
    "hypercalls": "the guest called the hypervisor",
    "insn_emulation": "KVM emulated an instruction",
}


def _num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return fmt.fmt_count(v) if v >= 1000 else f"{v:.{digits}f}"


def _ipc(r: CounterRate | None) -> str:
    v = r.ipc if r is not None else None
    return "-" if v is None else f"{v:.2f}"


def perf_pane(frame: Frame, g: Guest, width: int = 80, enabled: bool | None = None) -> str:
    """`enabled`: whether the collector counts (None: not known, as in a replay)."""
    p = g.perf
    if p is None:
        if enabled and not g.running:
            return f"[{MUTED}]perf counters are on; {escape(g.name)} is not running: nothing to count[/]"
        if enabled:
            return f"[{MUTED}]perf counters are on: this guest is counted from the next tick[/]"
        return f"[{MUTED}]{OFF}[/]"
    if p.unavailable:
        return f"[$warning]perf counters cannot run here: {escape(p.unavailable)}[/]\n" \
               f"[{MUTED}]The rest of kvmtune runs unchanged.[/]"
    rate = frame.rates.get(g.name)
    pr = rate.perf if rate is not None else None
    hw = p.total is not None and any(getattr(p.total, n) is not None for n in HARDWARE)
    out = [f"[b]perf counters per vCPU thread[/] [{MUTED}](per second; task-clock = % of one CPU)[/]",
           f"[b]{'vCPU':<5}{'tid':>8} {'pCPU':>4}  {'allowed':<12}{'task-clock':>10}{'ctx-sw/s':>9}"
           f"{'migr/s':>8}{'faults/s':>9}{'IPC':>6}[/]"]
    for v in g.vcpus:
        c = pr.vcpus.get(v.index) if pr is not None else None
        allowed = (cpuset.format(v.affinity) or "-") + (" pin" if v.pinned else "")
        tc = c.task_clock_percent if c is not None else None
        migr = c.get("cpu_migrations") if c is not None else None
        line = (f"{v.index:<5}{v.tid or '-':>8} {'-' if v.pcpu is None else v.pcpu:>4}  {allowed[:12]:<12}"
                f"{fmt.fmt_pct(tc, False):>10}{_num(c.get('context_switches') if c else None):>9}"
                f"{_num(migr, 1):>8}{_num(c.get('page_faults') if c else None):>9}"
                f"{_ipc(c) if hw else 'n/a':>6}")
        if migr is not None and migr >= 1 and not v.pinned:
            line += f" [{MUTED}]migrates: not pinned (p pins it)[/]"
        out.append(line)
    t = pr.total if pr is not None else None
    out += ["", f"[b]guest total[/] [{MUTED}](every thread of the QEMU process)[/]",
            f"  task-clock {fmt.fmt_pct(t.task_clock_percent if t else None, False)}   "
            f"ctx-sw/s {_num(t.get('context_switches') if t else None)}   "
            f"migr/s {_num(t.get('cpu_migrations') if t else None, 1)}   "
            f"faults/s {_num(t.get('page_faults') if t else None)}   "
            f"major faults/s {_num(t.get('major_faults') if t else None, 1)}"]
    out += ["", "[b]hardware counters[/]"]
    if p.hardware:
        out.append(f"  [{MUTED}]{escape(p.hardware)}[/]")
    if hw:
        out += _hardware(g, pr)
    out += ["", "[b]KVM exits[/]"] + _exits(p.exits_note, pr.exits if pr is not None else None, width)
    return "\n".join(out)


def _hardware(g: Guest, pr: Any) -> list[str]:
    out = [f"  [b]{'vCPU':<5}{'IPC':>6}{'cache-miss/s':>13}{'LLC loads/s':>12}{'LLC miss':>9}"
           f"{'DRAM local/s':>13}{'remote/s':>10}[/]"]
    rows = [(str(v.index), pr.vcpus.get(v.index) if pr is not None else None) for v in g.vcpus]
    rows.append(("all", pr.total if pr is not None else None))
    for label, c in rows:
        loads = c.get("llc_loads") if c else None
        miss = c.get("llc_load_misses") if c else None
        share = None if not loads or miss is None else miss / loads
        out.append(f"  {label:<5}{_ipc(c):>6}{_num(c.get('cache_misses') if c else None):>13}"
                   f"{_num(loads):>12}{fmt.fmt_pct(share):>9}{_num(c.get('node_loads') if c else None):>13}"
                   f"{_num(c.get('node_load_misses') if c else None):>10}")
    out.append(f"  [{MUTED}]remote DRAM loads: memory on another node than the vCPU (numatune or a pin fixes it)[/]")
    return out


def _exits(note: str | None, exits: dict[str, float | None] | None, width: int) -> list[str]:
    if exits is None:
        return [f"  [{MUTED}]{escape(note or 'no exit figures')}[/]"]
    total = exits.get("exits")
    out = [f"  total {_num(total)}/s"]
    top = sorted(((k, v) for k, v in exits.items() if k != "exits" and v is not None),
                 key=lambda kv: -(kv[1] or 0))
    for k, v in top[:10]:
        note_text = EXIT_NOTES.get(k, "")
        out.append(f"  {k:<22}{_num(v):>8}/s  [{MUTED}]{escape(note_text)[:max(0, width - 40)]}[/]")
    return out


class PerfToggle:
    """The P key: perf collection on/off on the feed's collector (mixed into the app)."""

    feed: Any
    set_status: Callable[..., None]

    def perf_enabled(self) -> bool | None:
        collector = getattr(self.feed, "collector", None)
        return None if collector is None else bool(collector.perf.enabled)

    def action_perf(self) -> None:
        collector = getattr(self.feed, "collector", None)
        if collector is None:
            self.set_status("a replay shows the perf counters that were recorded: nothing to turn on", "warning")
            return
        on = not collector.perf.enabled
        collector.perf.enable(on)
        self.set_status("perf counters on: rates from the next two ticks" if on else "perf counters off (closed)")
