"""Sizes as users and libvirt write them: the one place that turns "512M" or unit='GiB' into KiB."""

from __future__ import annotations

import math
import re

from .vocab import MEMTUNE_UNLIMITED_KIB

# KiB per unit, with virsh's and libvirt XML's spellings (k = KiB; kb = 1000 bytes).
KIB_PER_UNIT = {"": 1, "b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
                "m": 1024, "mib": 1024, "mb": 1000 ** 2 / 1024,
                "g": 1024 ** 2, "gib": 1024 ** 2, "gb": 1000 ** 3 / 1024,
                "t": 1024 ** 3, "tib": 1024 ** 3, "tb": 1000 ** 4 / 1024}


def to_kib(value: int | float, unit: str) -> int:
    """A value in libvirt XML's `unit` (KiB when unknown, as libvirt defaults) as KiB."""
    return int(value * KIB_PER_UNIT.get(unit.strip().lower(), 1))


def parse_kib(text: str) -> int | None:
    """A size typed by a user, as virsh takes it: KiB by default, K/M/G/T suffixes;
    "unlimited"/"-1" -> None. ValueError otherwise (libvirt's unlimited or more included)."""
    t = text.strip().lower()
    if t in ("unlimited", "-1"):
        return None
    m = re.fullmatch(r"(\d+)\s*([a-z]*)", t)
    if not m or m.group(2) not in KIB_PER_UNIT:
        raise ValueError(f"{text.strip()!r} is not a size (e.g. 2048, 512M, 4G, unlimited)")
    # Round up: "1b" is 1 KiB, not 0.
    v = math.ceil(int(m.group(1)) * KIB_PER_UNIT[m.group(2)])
    if v >= MEMTUNE_UNLIMITED_KIB:
        raise ValueError(f"{text.strip()!r} is too large (say unlimited for no limit)")
    return v


def parse_whole(text: str) -> int:
    """A plain whole number >= 0 typed by a user (node ids, counts, weights)."""
    t = text.strip()
    if not (t.isascii() and t.isdigit()):
        raise ValueError(f"{text.strip()!r} is not a whole number")
    return int(t)


def parse_scaled(text: str) -> int:
    """A whole number with an optional binary suffix, as virsh's scaled integers ("1M" = 1048576):
    disk throttles in bytes/s."""
    t = text.strip().lower()
    mult = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}.get(t[-1:], 1) if t else 1
    num = t[:-1] if mult != 1 else t
    if not (num.isascii() and num.isdigit()):
        raise ValueError(f"{text.strip()!r} is not a whole number (suffixes k, M, G allowed)")
    return int(num) * mult
