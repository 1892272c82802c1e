"""Parsers for the perf tool's text: `perf stat -x,` CSV and `perf kvm stat report`.

kvmtune counts with perf_event_open itself (perfevents.py); these read what the perf
tool prints, for the lab's independent check, the bench, and exit reasons recorded with
`perf kvm stat record` on a KVM host. Pure functions of text; they raise ParseError only.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from ..errors import ParseError

NOT_COUNTED = ("<not counted>", "<not supported>")


class StatRow(NamedTuple):
    time: float | None      # seconds since start (-I), else None
    thread: str | None      # "comm" of --per-thread, else None
    tid: int | None
    event: str
    value: float | None     # None: <not counted> / <not supported>
    status: str | None      # that text, when value is None
    unit: str


def _float(tok: str, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise ParseError(f"{what}: {tok[:40]!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise ParseError(f"{what}: {tok[:40]!r} is not a count")
    return v


def stat_csv(text: str, interval: bool = False, per_thread: bool = False) -> list[StatRow]:
    """`perf stat -x,` output ([time,][comm-tid,]value,unit,event,run,pct[,metric,unit]).

    Fields are taken from the right of the leading ones, so a thread name with a comma
    or a dash still parses. Comment and blank lines are skipped."""
    lead = int(interval) + int(per_thread)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split(",")
        tail = 7 if len(f) - lead >= 7 else 5
        if len(f) - lead < tail or (not per_thread and len(f) != lead + tail):
            raise ParseError(f"perf stat line {n}: {len(f)} fields: {line[:80]!r}")
        head, rest = f[:len(f) - tail], f[len(f) - tail:]
        t = _float(head[0], f"perf stat line {n}: time") if interval else None
        thread = tid = None
        if per_thread:
            name, _, num = ",".join(head[int(interval):]).rpartition("-")
            if not (num.isascii() and num.isdigit()):
                raise ParseError(f"perf stat line {n}: no thread id in {line[:80]!r}")
            thread, tid = name, int(num)
        raw, unit, event = rest[0].strip(), rest[1], rest[2]
        if not event:
            raise ParseError(f"perf stat line {n}: no event name")
        if raw in NOT_COUNTED:
            rows.append(StatRow(t, thread, tid, event, None, raw, unit))
        else:
            rows.append(StatRow(t, thread, tid, event, _float(raw, f"perf stat line {n}: {event}"), None, unit))
    return rows


class KvmExitRow(NamedTuple):
    reason: str
    samples: int
    samples_pct: float
    time_pct: float
    min_us: float | None     # (older perf prints no min/max)
    max_us: float | None
    avg_us: float


class KvmStatReport(NamedTuple):
    kind: str                # the table's first header: "VM-EXIT", "IO Port Access", "MSR Access"...
    scope: str               # "all VMs, all VCPUs", "all VMs, VCPU 4"
    rows: tuple[KvmExitRow, ...]
    total_samples: int
    total_us: float


_NUM = r"(?:\d+(?:\.\d+)?)"
_ROW = re.compile(
    rf"^\s*(?P<reason>\S(?:.*\S)?)\s+(?P<samples>\d+)\s+(?P<spct>{_NUM})%\s+(?P<tpct>{_NUM})%\s+"
    rf"(?:(?P<min>{_NUM})us\s+(?P<max>{_NUM})us\s+)?(?P<avg>{_NUM})us\s+"
    r"\(\s*\+-\s*(?:-?nan|inf|\d+(?:\.\d+)?)%\s*\)\s*$")
_HEAD = re.compile(r"^\s*(?P<kind>\S(?:.*\S)?)\s+Samples\s+Samples%\s+Time%")
_TOTAL = re.compile(r"^\s*Total Samples:\s*(?P<n>\d+),\s*Total events handled time:\s*(?P<t>\d+(?:\.\d+)?)us\.?\s*$")
_SCOPE = re.compile(r"^\s*Analyze events for (?P<scope>.+?):\s*$")


def kvm_stat_report(text: str) -> KvmStatReport:
    """`perf kvm stat report` (perf's builtin-kvm.c print_result): the header, a row per
    exit reason (or I/O port, MSR) with samples, shares and times, and the total line."""
    kind = scope = None
    rows: list[KvmExitRow] = []
    total: tuple[int, float] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if total is not None:
            raise ParseError(f"perf kvm stat line {n}: text after the total line: {line[:80]!r}")
        if m := _SCOPE.match(line):
            scope = m["scope"]
        elif m := _HEAD.match(line):
            kind = m["kind"]
        elif m := _TOTAL.match(line):
            total = (int(m["n"]), float(m["t"]))
        elif kind is not None and (m := _ROW.match(line)):
            rows.append(KvmExitRow(m["reason"], int(m["samples"]), float(m["spct"]), float(m["tpct"]),
                                   None if m["min"] is None else float(m["min"]),
                                   None if m["max"] is None else float(m["max"]), float(m["avg"])))
        elif kind is None:
            continue   # perf's own notes before the table ("# ...", warnings)
        else:
            raise ParseError(f"perf kvm stat line {n}: not a row: {line[:80]!r}")
    if kind is None or total is None:
        raise ParseError("perf kvm stat: no " + ("table header" if kind is None else "total line"))
    return KvmStatReport(kind, scope or "", tuple(rows), total[0], total[1])


def exit_counts(report: KvmStatReport) -> dict[str, int]:
    """Samples per exit reason (a GuestPerf.exits map), summed over repeated keys."""
    out: dict[str, int] = {}
    for r in report.rows:
        out[r.reason] = out.get(r.reason, 0) + r.samples
    return out
