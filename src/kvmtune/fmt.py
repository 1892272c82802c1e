"""Numbers as every view prints them: sizes, rates, shares, counts, bars and sparklines."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from . import cpuset


def _scaled(value: float, units: tuple[str, ...], step: float = 1024.0) -> str:
    i = 0
    while abs(value) >= step and i < len(units) - 1:
        value /= step
        i += 1
    if i == 0 or value >= 100:
        return f"{value:.0f}{units[i]}"
    return f"{value:.1f}{units[i]}"


def fmt_kib(kib: int | float | None) -> str:
    """1536 -> "1.5M" (binary units, no "i": a column stays narrow)."""
    if kib is None:
        return "-"
    return _scaled(float(kib), ("K", "M", "G", "T", "P"))


def clock(t: Any, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A logged time (seconds since the epoch) as local time; "?" for anything that is not one."""
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return "?"
    try:
        return time.strftime(pattern, time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return "?"


def size_text(kib: int | float | None) -> str:
    """For sentences (risks, errors): 1572864 -> "1.5 GiB", 2048 -> "2.0 MiB"; None -> "unlimited"."""
    if kib is None:
        return "unlimited"
    text = _scaled(float(kib), (" KiB", " MiB", " GiB", " TiB", " PiB"))
    return text.replace(".0 ", " ")   # "2 MiB", not "2.0 MiB"


def described(value: Any, key: str = "") -> str:
    """A logged before/after value in words: CPU and node lists as ranges, *_kib sizes in
    MiB/GiB, mappings as "key value" pairs; never a raw dict or list."""
    if isinstance(value, dict) and key == "pins":   # {vcpu: cpus}: "vCPUs 0-3 on 8-11"
        by_cpus: dict[str, list[int]] = {}
        for vcpu, cpus in value.items():
            by_cpus.setdefault(described(cpus), []).append(int(vcpu))
        return ", ".join(f"vCPU{'s' if len(v) > 1 else ''} {cpuset.format(v)} on {c}" for c, v in by_cpus.items())
    if isinstance(value, dict):
        parts = [(described(v, str(k)) if k == "pins" else f"{str(k).removesuffix('_kib')} {described(v, str(k))}")
                 for k, v in value.items() if v is not None or str(k).endswith("_kib")]
        return ", ".join(parts) or "nothing set"
    if isinstance(value, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        return cpuset.format(value) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(described(v) for v in value)
    if key.endswith("_kib") and (value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))):
        return size_text(value)   # None: no limit
    return "none" if value is None else str(value)


def changes(before: Any, after: Any, key: str = "", prefix: str = "") -> list[str]:
    """What differs between two logged values, in words: ["total_bytes_sec 0 -> 52428800", ...]."""
    if isinstance(before, dict) and isinstance(after, dict) and key != "pins":
        inner = f"{prefix}{key} " if key and key != "values" else prefix   # "values": a wrapper, not a name
        return [c for k in {**before, **after} for c in changes(before.get(k), after.get(k), str(k), inner)]
    if before == after:
        return []
    label = prefix + ("" if key == "pins" else key.removesuffix("_kib"))
    return [f"{label.strip() + ' ' if label.strip() else ''}{described(before, key)} -> {described(after, key)}"]


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    return _scaled(float(n), ("B", "K", "M", "G", "T"))


def fmt_rate(bytes_per_s: float | None) -> str:
    """Bytes/s as decimal MB/s-style figures ("1.2M/s"), the way throttles are set."""
    if bytes_per_s is None:
        return "-"
    return _scaled(float(bytes_per_s), ("B", "k", "M", "G"), step=1000.0) + "/s"


def fmt_rate_short(bytes_per_s: float | None) -> str:
    """Bytes/s in at most 4 characters, no "/s" ("8.9M", "99M", "348k"): a narrow column."""
    if bytes_per_s is None:
        return "-"
    units, v, i = ("B", "k", "M", "G", "T"), float(bytes_per_s), 0
    while v >= 999.5 and i < len(units) - 1:
        v /= 1000
        i += 1
    return f"{v:.1f}{units[i]}" if i and v < 9.95 else f"{v:.0f}{units[i]}"


def fmt_pct(share: float | None, of_one: bool = True) -> str:
    """0.873 -> "87%" (of_one) or 87.3 -> "87%"."""
    if share is None:
        return "-"
    return f"{share * 100 if of_one else share:.0f}%"


def age(seconds: float) -> str:
    """How old something is, short: 0.4s, 12s, 3m05s, 2h10m."""
    s = max(0.0, seconds)
    if s < 10:
        return f"{s:.1f}s"
    if s < 120:
        return f"{s:.0f}s"
    m = int(s // 60)
    return f"{m}m{int(s % 60):02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def fmt_count(n: float | None) -> str:
    if n is None:
        return "-"
    return _scaled(float(n), ("", "k", "M", "G"), step=1000.0)


def bar(fraction: float | None, width: int, full: str = "█", empty: str = "░") -> str:
    """A fixed-width text bar for 0..1 (clamped); blanks when unknown."""
    if width <= 0:
        return ""
    if fraction is None:
        return " " * width
    f = max(0.0, min(1.0, fraction))
    n = round(f * width)
    return full * n + empty * (width - n)


SPARKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[float | None], width: int, top: float | None = None) -> str:
    """The last `width` values as block characters scaled to `top` (default: their max)."""
    vals = [0.0 if v is None else float(v) for v in list(values)[-width:]]
    if not vals:
        return " " * width
    hi = top if top else max(vals)
    if hi <= 0:
        return (SPARKS[1] * len(vals)).rjust(width)
    s = "".join(SPARKS[min(8, max(1 if v > 0 else 0, round(8 * v / hi)))] for v in vals)
    return s.rjust(width)


def span(seconds: float | None) -> str:
    """A length of time: 3725 -> "1h 2m 5s", 42.5 -> "42.5s", 2 days -> "2d 0h 0m"."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    s = round(seconds)
    d, h, m, s = s // 86400, s // 3600 % 24, s // 60 % 60, s % 60
    if d:
        return f"{d}d {h}h {m}m"
    return f"{h}h {m}m {s}s" if h else f"{m}m {s}s"


def cpu_time(ns: int | None) -> str:
    """Cumulative CPU time in at most 7 characters: "12.3s", "12m03s", "3h12m", "41d03h"."""
    if ns is None or ns < 0:
        return "-"
    t = ns / 1e9
    if t < 60:
        return f"{t:.1f}s" if t < 59.95 else "1m00s"
    s = int(t)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    return f"{s // 86400}d{s // 3600 % 24:02d}h"


def uptime(seconds: float | None, short: bool = False) -> str:
    """A host's uptime as top says it: "41 days, 3:05", "3:05", "12 min" (short: "41d 3:05")."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    m = int(seconds) // 60
    d, h, m = m // 1440, m // 60 % 24, m % 60
    if d:
        return f"{d}d {h}:{m:02d}" if short else f"{d} day{'s' if d != 1 else ''}, {h}:{m:02d}"
    return f"{h}:{m:02d}" if h else f"{m} min"


def timeline(index: int, total: int, width: int) -> str:
    """Where a replay is in its file: "━━━━●──────" (`width` cells; index of total samples)."""
    if width < 1:
        return ""
    at = 0 if total <= 1 else round(index / (total - 1) * (width - 1))
    at = max(0, min(at, width - 1))
    return "━" * at + "●" + "─" * (width - 1 - at)


def shorten_middle(text: str, width: int) -> str:
    """`text` in `width` characters, cut in the middle: guests of one host often share a prefix
    (prod-db-01, prod-db-02), so the end is what tells them apart."""
    if len(text) <= width:
        return text
    if width < 4:
        return text[:max(0, width - 1)] + "…"[:width]
    head = (width - 1) * 2 // 5
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]
