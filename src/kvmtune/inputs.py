"""What users type: the one place text becomes values, for CLI arguments and TUI fields alike.

Each function raises ValueError with a message fit to show as it is; the CLI turns them
into argparse types (cli/common.py `argtype`), the TUI forms call them directly, so
`kvmtune apply` and a form accept exactly the same input. Digits are ASCII only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime

from . import cpuset, fmt, units

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


# -- durations and moments (recordings: `record --for`, `dump --from/--to`) ---------------

_N = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_DURATION = re.compile(rf"(?:{_N}\s*d)?\s*(?:{_N}\s*h)?\s*(?:{_N}\s*m)?\s*(?:{_N}\s*s?)?")
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]*)?))?")


def duration(text: str) -> float:
    """A length of time in seconds, more than 0: "90s", "10m", "2h", "1d", "1h30m", "1.5h";
    a plain number is seconds."""
    t = text.strip().lower()
    m = _DURATION.fullmatch(t)
    if not t or m is None or not any(m.groups()):
        raise ValueError(f"{text.strip()!r} is not a duration (e.g. 90s, 10m, 2h, 1d, 1h30m)")
    d, h, mi, s = (float(g or 0) for g in m.groups())
    v = d * 86400 + h * 3600 + mi * 60 + s
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{text.strip()!r}: a duration must be more than 0")
    return v


@dataclass(frozen=True)
class Moment:
    """A moment as typed, placed once the recording's first and last times are known.

    absolute: Unix seconds; clock: seconds after local midnight (the first such moment at
    or after the start); offset: seconds after the start, or before the end (from_end)."""
    text: str
    absolute: float | None = None
    clock: float | None = None
    offset: float | None = None
    from_end: bool = False
    precision: float = 1.0      # a time of day typed to the minute: 60

    def place(self, start: float, end: float, after: float | None = None) -> float:
        """Unix seconds; a time of day is the first at or after `after` (default `start`),
        to the precision typed: "10:00" is a recording started at 10:00:01.4. ValueError when
        the calendar cannot place it."""
        if self.absolute is not None:
            return self.absolute
        if self.offset is not None:
            return end - self.offset if self.from_end else start + self.offset
        assert self.clock is not None
        base = start if after is None else after
        try:
            day = datetime.fromtimestamp(base).date()
            for _ in range(3):   # local midnight + the clock, by calendar (a DST day is not 86400 s)
                whole_s = int(self.clock)
                t = datetime.combine(day, dtime(whole_s // 3600, whole_s // 60 % 60, whole_s % 60)).timestamp()
                t += self.clock - whole_s
                if t + self.precision > base:
                    return t
                day += timedelta(days=1)
        except (OverflowError, OSError) as e:
            raise ValueError(f"{self.text!r} cannot be placed: {e}") from None
        raise ValueError(f"{self.text!r} cannot be placed")


def moment(text: str) -> Moment:
    """A moment in a recording: "HH:MM[:SS]" (local; the first at or after the recording's
    start), "YYYY-MM-DD HH:MM[:SS]" or ISO 8601 (local unless it names a zone: "Z",
    "+02:00"), a Unix time ("1735700000"), "+DURATION" after the recording's start or
    "-DURATION" before its end ("+10m", "-1h")."""
    t = text.strip()
    if t[:1] in ("+", "-"):
        try:
            return Moment(t, offset=duration(t[1:]), from_end=t[0] == "-")
        except ValueError:
            raise ValueError(f"{t!r}: after + (from the start) or - (before the end) give a duration: "
                             "90s, 10m, 2h, 1h30m, 1d") from None
    if (m := _CLOCK.fullmatch(t)) is not None:
        h, mi, s = int(m.group(1)), int(m.group(2)), float(m.group(3) or 0)
        if h > 23 or mi > 59 or s >= 60:
            raise ValueError(f"{t!r} is not a time of day (HH:MM or HH:MM:SS)")
        return Moment(t, clock=h * 3600 + mi * 60 + s, precision=60.0 if m.group(3) is None else 1.0)
    if _DECIMAL.fullmatch(t):
        return Moment(t, absolute=float(t))
    try:
        when = datetime.fromisoformat(t) if t.isascii() else None
    except ValueError:
        when = None
    if when is None:
        raise ValueError(f"{t!r} is not a time: say HH:MM[:SS], YYYY-MM-DD HH:MM[:SS], a Unix time, "
                         "+10m (after the start) or -1h (before the end)")
    try:
        return Moment(t, absolute=when.timestamp())   # a naive time is local (datetime's own rule)
    except (OverflowError, OSError) as e:
        raise ValueError(f"{t!r} is not a time this machine can place: {e}") from None


def file_size(lowest: int) -> Callable[[str], int]:
    """A file size in bytes ("500M", "2G"; "500MB" = 500*10^6; a plain number is bytes), at
    least `lowest` bytes."""
    def convert(text: str) -> int:
        v = units.parse_bytes(text)
        if v < lowest:
            raise ValueError(f"{text.strip()!r} is too small: at least {fmt.size_text(lowest / 1024)}")
        return v
    return convert


def speed(text: str) -> float:
    """A replay speed: recorded seconds per second, more than 0 ("10", "10x", "0.5")."""
    t = text.strip().lower().removesuffix("x")
    if not _DECIMAL.fullmatch(t) or not (v := float(t)) > 0 or not math.isfinite(v):
        raise ValueError(f"{text.strip()!r} is not a speed (e.g. 1, 2, 10x, 60x)")
    return v


_LISTEN = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|([^\[\]:\s]*)):([0-9]{1,5})")


def listen_address(text: str) -> tuple[str, int]:
    """ADDR:PORT for a server to listen on ("127.0.0.1:9177", "[::1]:9177", ":9177" = every
    address, port 0 = any free one); the address is checked when the server binds it."""
    m = _LISTEN.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text.strip()!r} is not ADDR:PORT (e.g. 127.0.0.1:9177, [::1]:9177, :9177)")
    port = int(m.group(3))
    if port > 65535:
        raise ValueError(f"{text.strip()!r}: the port must be 0 to 65535")
    return (m.group(1) if m.group(1) is not None else m.group(2)), port
