"""Sizes as users and libvirt write them: the one place that turns "512M" or unit='GiB' into
KiB (memory) or bytes (disk throttles), with virsh's units."""

from __future__ import annotations

import re

from .vocab import MEMTUNE_UNLIMITED_KIB

# Bytes per unit, with virsh's and libvirt XML's spellings (virScaleInteger: k = KiB; kb = 1000
# bytes; case does not matter). A plain number is the caller's default unit.
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
BYTES_PER_UNIT = {"b": 1, "byte": 1, "bytes": 1,
                  **{p: 1024 ** n for p, n in _POWERS.items()},
                  **{p + "ib": 1024 ** n for p, n in _POWERS.items()},
                  **{p + "b": 1000 ** n for p, n in _POWERS.items()}}
KIB_PER_UNIT = {"": 1, **{u: b / 1024 for u, b in BYTES_PER_UNIT.items()}}
# ASCII digits only: \d and int() also take "１０" (full-width) and other scripts' digits,
# which virsh refuses; kvmtune refuses them in every field alike.
_SIZE = re.compile(r"([0-9]+)\s*([a-z]*)")


def to_kib(value: int | float, unit: str) -> int:
    """A value in libvirt XML's `unit` (KiB when unknown, as libvirt defaults) as KiB."""
    return int(value * KIB_PER_UNIT.get(unit.strip().lower(), 1))


def _negative(t: str) -> bool:
    return t.startswith("-") and t[1:2].isascii() and t[1:2].isdigit()


def _scaled(text: str, default: int, example: str) -> int:
    """virsh's scaled integer: ASCII digits, an optional unit; `default` bytes per plain unit."""
    t = text.strip().lower()
    if _negative(t):
        raise ValueError(f"{text.strip()!r}: a size cannot be negative")
    m = _SIZE.fullmatch(t)
    per = None if m is None else BYTES_PER_UNIT.get(m.group(2)) if m.group(2) else default
    if m is None or per is None:
        raise ValueError(f"{text.strip()!r} is not a size ({example})")
    return int(m.group(1)) * per


def parse_kib(text: str) -> int | None:
    """A size typed by a user, as virsh takes it: KiB by default, K/M/G/T suffixes;
    "unlimited"/"-1" -> None. ValueError otherwise (libvirt's unlimited or more included)."""
    t = text.strip().lower()
    if t in ("unlimited", "-1"):
        return None
    b = _scaled(text, 1024, "e.g. 2048, 512M, 4G, unlimited")
    v = -(-b // 1024)   # round up: "1b" is 1 KiB, not 0
    if v >= MEMTUNE_UNLIMITED_KIB:
        raise ValueError(f"{text.strip()!r} is too large (say unlimited for no limit)")
    return v


def parse_bytes(text: str) -> int:
    """A size in bytes as virsh's scaled integers take it ("10M" = 10485760, "10MB" = 10^7):
    disk throttles in bytes/s."""
    return _scaled(text, 1, "bytes, or with a suffix: 10M, 512K, 1G")


def parse_whole(text: str) -> int:
    """A plain whole number >= 0 typed by a user (node ids, counts, weights)."""
    t = text.strip()
    if _negative(t):
        raise ValueError(f"{t!r} cannot be negative (a whole number of 0 or more)")
    if not (t.isascii() and t.isdigit()):
        raise ValueError(f"{t!r} is not a whole number")
    return int(t)
