"""The header's text, as Textual markup: the host, its nodes, the sample's age, the badges,
and the host's findings, a line each, as many as fit in HEADER_LINES (its max-height in
app.tcss) under the rest; in a small terminal (compact) only the first, with their count."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size

from .. import analysis as a
from .. import cpuset, fmt
from ..advise import Finding
from ..frame import Frame
from .keys import finding_text
from .markup import escape
from .panes import MUTED, bar_width, size_label

HEADER_LINES = 10   # the header's max-height (app.tcss)


def header(frame: Frame | None, *, view_seconds: float, interval: float,
           badges: list[str], width: int = 80, compact: bool = False, replay: bool = False,
           age: float | None = None) -> str:
    """`age`: seconds since the shown sample was taken (None: not shown, as in a replay, where
    the recorded time is)."""
    if frame is None:
        return f"[b]kvmtune[/]  [{MUTED}]collecting the first snapshot…[/]  " + _badges(badges)
    h = frame.snap.host
    ksm = "off"
    if h.ksm is not None:
        ksm = ("on " if h.ksm.run == 1 else "off ") + fmt.fmt_kib(a.ksm_saved_kib(h)) + " saved"
    nb = {None: "?", 0: "off", 1: "on"}.get(h.numa_balancing, str(h.numa_balancing))
    # the host's uptime and load as top says them; in a replay, where the recording is at
    up = int(view_seconds)
    when = [f"rec +{up // 3600}:{up // 60 % 60:02d}:{up % 60:02d}"] if replay else []
    # (a small terminal: shorter, so the header keeps to its lines)
    if h.uptime_s is not None:
        when.append(f"up {fmt.uptime(h.uptime_s, short=compact)}")
    if h.loadavg is not None:
        when.append("load " + " ".join(f"{x:.1f}" if compact else f"{x:.2f}" for x in h.loadavg))
    # (plain text, markup) pieces, wrapped whole so a narrow terminal never splits one
    pieces = [(h.hostname, f"[b]{escape(h.hostname)}[/]"),
              *((t, escape(t)) for t in (
                  *when, f"KSM {ksm}",
                  f"THP {h.thp_enabled or '?'}", f"NUMA-bal {nb}", f"tuned {h.tuned_profile or '-'}")),
              *_interval_pieces(interval, age, compact),
              *((f" {b} ", _badges([b])) for b in badges)]
    head: list[str] = []
    cur: list[str] = []
    used = 0
    for plain, markup in pieces:
        if cur and used + 2 + len(plain) > width - 2:
            head.append("  ".join(cur))
            cur, used = [], 0
        cur.append(markup)
        used += len(plain) + (2 if used else 0)
    head.append("  ".join(cur))
    lines = head
    cw = min(17, max((len(cpuset.format(n.cpus)) for n in h.nodes), default=1))
    if compact:
        # small terminal: nodes side by side, hugepages only in pane 3
        # (a bar of at least 4: two nodes to a line at 80 columns, with each node's CPU %)
        cell = 3 + cw + 1 + 5 + 4 + 1 + 11
        per_line = max(1, (width - 2) // (cell + 2))
        bw = 4 + max(0, (width - 2) // per_line - cell - 2)
        cells = []
        for n in h.nodes:
            frac = n.mem_used_kib / n.mem_total_kib if n.mem_total_kib else None
            busy = _node_busy(frame, n.cpus)
            cells.append(f"[b]N{n.id:<2}[/]{cpuset.format(n.cpus) or '-':<{cw}.{cw}} {busy:>4} "
                         f"[$primary]{fmt.bar(frac, bw)}[/] "
                         f"{fmt.fmt_kib(n.mem_used_kib):>5}/{fmt.fmt_kib(n.mem_total_kib):<5}")
        for i in range(0, len(cells), per_line):
            lines.append("  ".join(cells[i:i + per_line]))
        warns = frame.host_findings
        if warns:
            lines.append(f"[$warning]! {escape(finding_text(warns[0]))}[/]"
                         + (f" [{MUTED}](+{len(warns) - 1}, H)[/]" if len(warns) > 1 else ""))
        return "\n".join(lines)
    bw = bar_width(width, 55 + cw)
    for n in h.nodes:
        frac = n.mem_used_kib / n.mem_total_kib if n.mem_total_kib else None
        huge = " ".join(
            f"{size_label(s)} {p.used}/{p.total}" for s, p in sorted(n.hugepages.items()) if p.total)
        lines.append(
            f"[b]N{n.id:<2}[/] cpu {cpuset.format(n.cpus) or '-':<{cw}.{cw}} {_node_busy(frame, n.cpus):>4} "
            f"[$primary]{fmt.bar(frac, bw)}[/] {fmt.fmt_kib(n.mem_used_kib):>5}/{fmt.fmt_kib(n.mem_total_kib):<5}"
            + (f" huge {huge}" if huge else ""))
    # the host's findings a line each, as many as the header has room for, the rest counted:
    # wrapped, the first two or three filled its lines and the others were cut off unseen
    warns = frame.host_findings
    room = max(1, HEADER_LINES - len(lines) - replay)   # (a replay's timeline is a line more)
    shown = warns[:room]
    for i, w in enumerate(shown):
        more = len(warns) - len(shown) if i == len(shown) - 1 else 0
        lines.append(_finding_line(w, width - 2, more))
    return "\n".join(lines)


def _finding_line(w: Finding, room: int, more: int) -> str:
    """A host finding in `room` cells: its text cut short (…) to keep its § and the count of
    the findings not shown (`more`; the host view, H, lists them all)."""
    tail = f" §{w.section}" + (f" (+{more}, H)" if more else "")
    text = finding_text(w)
    fit = room - 2 - cell_len(tail)
    if cell_len(text) > fit:
        text = set_cell_size(text, max(0, fit - 1)) + "…"
    return f"[$warning]! {escape(text)}[/] [{MUTED}]{escape(tail.lstrip())}[/]"


def _interval_pieces(interval: float, age: float | None, compact: bool) -> list[tuple[str, str]]:
    """"every 2s  age 0.4s" (small terminal: "age 0.4s/2s"); the age yellow past two intervals
    (a collection is late), red past five (it is stuck, or the host is)."""
    if age is None:
        return [(f"every {interval:g}s", f"every {interval:g}s")]
    text = f"age {fmt.age(age)}" + (f"/{interval:g}s" if compact else "")
    style = "$error" if age > 5 * interval else "$warning" if age > 2 * interval else ""
    markup = f"[{style}]{text}[/]" if style else text
    return [(text, markup)] if compact else [(f"every {interval:g}s", f"every {interval:g}s"), (text, markup)]


def _node_busy(frame: Frame, cpus: tuple[int, ...]) -> str:
    """A node's CPUs' mean busy % over the last interval ("-" before there are two samples)."""
    pct = [p for c in cpus if (p := frame.cpu_pct.get(c)) is not None]
    return f"{sum(pct) / len(pct):.0f}%" if pct else "-"


def _badges(badges: list[str]) -> str:
    style = {"DISCONNECTED": "b $error", "READ-ONLY": "b $warning", "DRY-RUN": "b $accent"}
    return " ".join(f"[reverse {style.get(b, 'b')}] {b} [/]" for b in badges)
