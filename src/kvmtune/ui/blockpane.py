"""The 5th detail pane: a guest's disks — every disk's throttle limits first, then each disk's
traffic (bytes/s, IOPS), latency (the block group's total time over the requests, for reads,
writes and flushes), flushes and errors. A pure function of a frame, as the other panes (panes.py).
"""

from __future__ import annotations

from .. import analysis as a
from .. import fmt
from ..frame import HISTORY, Frame
from ..model import Guest
from ..vocab import IOTUNE_BASE
from .markup import escape

MUTED = "$text-muted"
STALE_NOTE = ("[$warning b]stale[/]: libvirt did not answer for the guest this tick (its QEMU stopped or "
              "busy, or a job holds it): its state and disk counters are the last read, no rates")


def block_pane(frame: Frame, g: Guest, width: int = 80) -> str:
    rate, history = frame.rates.get(g.name), frame.history.get(g.name, {})
    if not g.disks:
        return f"[{MUTED}]{escape(g.name)} has no disks[/]"
    # the sparklines take the width there is: a wide pane shows up to the whole history kept
    sw = max(8, min(HISTORY, width - 58))
    # every disk's throttles first (one line each), then each disk's traffic and latency
    out = [f"blkio weight {g.blkio_weight if g.blkio_weight is not None else '-'}"] + ([STALE_NOTE] if g.stale else [])
    tw = max(len(d.target) for d in g.disks)
    for d in g.disks:
        r = rate.disks.get(d.target) if rate else None
        hit = a.at_limit(d.iotune, r)
        limits = [f"{k.replace('_sec', '/s')}={_limit(k, d.limit(k))}" for k in IOTUNE_BASE if d.limit(k)]
        out.append(f"[b]{escape(d.target):<{tw}}[/] limits " + (" ".join(limits) if limits else f"[{MUTED}]none[/]")
                   + (f"  [reverse b $error] at limit: {hit} [/]" if hit else ""))
    for d in g.disks:
        r = rate.disks.get(d.target) if rate else None
        hist = history.get(d.target, ())
        top = d.limit("total_bytes_sec") or None
        out.append("")
        out.append(f"[b]{escape(d.target)}[/] {escape(d.source or '-')}")
        out.append(f"  read  {fmt.fmt_rate(r.rd_bytes_s if r else None):>9} "
                   f"{fmt.fmt_count(r.rd_iops if r else None):>6} IOPS {_ms(r.rd_ms if r else None)}"
                   f"  [$primary]{fmt.sparkline([x[0] for x in hist], sw, top)}[/]")
        out.append(f"  write {fmt.fmt_rate(r.wr_bytes_s if r else None):>9} "
                   f"{fmt.fmt_count(r.wr_iops if r else None):>6} IOPS {_ms(r.wr_ms if r else None)}"
                   f"  [$accent]{fmt.sparkline([x[1] for x in hist], sw, top)}[/]")
        errors = "-" if d.errors is None else str(d.errors)
        out.append(f"  flush {fmt.fmt_count(r.fl_iops if r else None) + '/s':>9} {'':>11} "
                   f"{_ms(r.fl_ms if r else None)}  errors {errors}")
    out.append(f"[{MUTED}]latency: the time the requests took over the interval / their number; "
               "errors: where the driver counts them (QEMU does not: virsh domblkerror)[/]")
    return "\n".join(out)


def _ms(v: float | None) -> str:
    """A latency in ms, 8 wide ("-" without requests in the interval)."""
    if v is None:
        return f"{'-':>8}"
    return f"{v:>5.1f} ms" if v < 100 else f"{v:>5.0f} ms"


def _limit(key: str, v: int) -> str:
    return fmt.fmt_rate(v) if "bytes" in key else str(v)
