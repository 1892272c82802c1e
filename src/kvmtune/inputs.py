"""What users type: the one place text becomes values, for CLI arguments and TUI fields alike.

Each function raises ValueError with a message fit to show as it is; the CLI turns them
into argparse types (cli/common.py `argtype`), the TUI forms call them directly, so
`kvmtune apply` and a form accept exactly the same input. Digits are ASCII only.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable

from . import cpuset, units

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def size_kib(text: str) -> int | None:
    """A memory size as virsh takes it: KiB by default, K/M/G/T suffixes; None = unlimited."""
    return units.parse_kib(text)


def page_size_kib(text: str) -> int:
    v = units.parse_kib(text)
    if v is None or v <= 0:
        raise ValueError(f"{text.strip()!r} is not a page size (e.g. 2048, 2M, 1G)")
    return v


def scaled(text: str) -> int:
    """Bytes (a disk throttle's bytes/s) as virsh's scaled integers: "10M" = 10485760,
    "10MB" = 10000000, a plain number is bytes."""
    return units.parse_bytes(text)


def iotune(key: str) -> Callable[[str], int]:
    """The parser of one blkdeviotune value, as virsh reads it: the bytes limits (and their
    _max) take sizes; IOPS, the I/O size and the burst lengths (seconds) are whole numbers."""
    return scaled if "_bytes_sec" in key and not key.endswith("_length") else whole


def whole(text: str) -> int:
    """A whole number >= 0 (ids, counts, weights)."""
    return units.parse_whole(text)


def at_least(lowest: int) -> Callable[[str], int]:
    """A whole number >= lowest."""
    def convert(text: str) -> int:
        try:
            v: int | None = units.parse_whole(text)
        except ValueError:
            v = None
        if v is None or v < lowest:
            raise ValueError(f"{text.strip()!r} must be a whole number of {lowest} or more")
        return v
    return convert


def cpulist(text: str) -> tuple[int, ...]:
    """A non-empty CPU (or node) list: "0-3,8", "1-4,^2"."""
    ids = cpuset.parse(text)
    if not ids:
        raise ValueError("the list is empty")
    return ids


def cpulist_or_unpin(text: str) -> tuple[int, ...] | None:
    """A CPU list, or "unpin" (None: every CPU the guest may use)."""
    return None if text.strip().lower() == "unpin" else cpulist(text)


def vcpu_or_all(text: str) -> int | None:
    """One vCPU index, or "all" (None)."""
    return None if text.strip().lower() == "all" else whole(text)


def vcpu_list(text: str) -> tuple[int, ...] | None:
    """vCPU indexes as a list ("0", "0-1", "0,2"), or "all"/empty (None)."""
    t = text.strip().lower()
    return None if t in ("", "all") else cpulist(t)


def on_off(text: str) -> bool:
    t = text.strip().lower()
    if t in ("on", "1", "yes", "true"):
        return True
    if t in ("off", "0", "no", "false"):
        return False
    raise ValueError(f"{text.strip()!r}: say on or off")


def device_weights(text: str) -> dict[str, int]:
    """virsh's "path,weight[,path,weight...]" -> {path: weight}."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if len(parts) % 2:
        raise ValueError(f"device weights {text!r}: expected path,weight pairs")
    out: dict[str, int] = {}
    for path, w in zip(parts[::2], parts[1::2]):
        try:
            out[path] = whole(w)
        except ValueError:
            raise ValueError(f"device weights {text!r}: {w!r} is not a number") from None
    return out


def seconds(text: str) -> float:
    """A number of seconds more than 0 ("2", "0.5")."""
    # float() also takes "１０", "1_0" and "inf": ASCII digits with one optional point only.
    if not _DECIMAL.fullmatch(text.strip()):
        raise ValueError(f"{text.strip()!r} is not a number")
    v = float(text)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{text!r} must be a number of seconds more than 0")
    return v


_MOMENT = re.compile(r"(?:([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]+)?([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")


def moment(text: str) -> tuple[dt.date | None, dt.time]:
    """A time to go to in a recording: "HH:MM[:SS]" or "YYYY-MM-DD HH:MM[:SS]" (local time);
    the date is None when not given."""
    t = text.strip()
    m = _MOMENT.fullmatch(t)
    bad = f"{t!r} is not a time: type HH:MM[:SS] or YYYY-MM-DD HH:MM[:SS]"
    if m is None:
        raise ValueError(bad)
    y, mo, d, h, mi, sec = m.groups()
    try:
        day = dt.date(int(y), int(mo), int(d)) if y else None
        return day, dt.time(int(h), int(mi), int(sec or 0))
    except ValueError:
        raise ValueError(bad) from None


def speed(text: str) -> float:
    """A replay speed: recorded seconds per second, more than 0 ("10", "10x", "0.5")."""
    t = text.strip().lower().removesuffix("x")
    if not _DECIMAL.fullmatch(t) or not (v := float(t)) > 0 or not math.isfinite(v):
        raise ValueError(f"{text.strip()!r} is not a speed (e.g. 1, 2, 10x, 60x)")
    return v
