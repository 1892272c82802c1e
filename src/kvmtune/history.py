"""The kept samples behind the sparklines: arrays of doubles, not tuples of float objects.

A disk's or NIC's history of (read, write) rates was a tuple of pairs: 104 bytes a sample
(the pair and its two floats); as arrays it is 16. For the 1000-guest demo's 150 samples of
disks, NICs and CPU: 20.7 MiB then, 7.6 now (tracemalloc), and the TUI's peak RSS with the
history full 174 -> 139 MiB. Unknown (None) is kept as NaN. Each push makes a new object:
a frame's history never changes after it is made.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

_NAN = float("nan")


def _value(x: float) -> float | None:
    return None if x != x else x


def _pushed(a: array[float], v: float | None, keep: int) -> array[float]:
    out = a[max(0, len(a) - keep + 1):]
    out.append(_NAN if v is None else v)
    return out


class Series(Sequence[float | None]):
    """One figure's samples, oldest first (the guest's CPU %)."""

    __slots__ = ("_a",)

    def __init__(self, a: array[float] | None = None):
        self._a = a if a is not None else array("d")

    def pushed(self, v: float | None, keep: int) -> Series:
        """These samples and `v`, the last `keep` of them."""
        return Series(_pushed(self._a, v, keep))

    def __len__(self) -> int:
        return len(self._a)

    @overload
    def __getitem__(self, i: int) -> float | None: ...
    @overload
    def __getitem__(self, i: slice) -> Series: ...

    def __getitem__(self, i: int | slice) -> float | Series | None:
        if isinstance(i, slice):
            return Series(self._a[i])
        return _value(self._a[i])

    def __iter__(self) -> Iterator[float | None]:
        return map(_value, self._a)


class Pairs(Sequence[tuple[float | None, float | None]]):
    """A disk's (read, write) or a NIC's (rx, tx) samples, oldest first. Two arrays, not two
    Series: the objects a Series per side adds cost 4 ms a tick at 1000 guests (measured)."""

    __slots__ = ("_a", "_b")

    def __init__(self, a: array[float] | None = None, b: array[float] | None = None):
        self._a = a if a is not None else array("d")
        self._b = b if b is not None else array("d")

    def pushed(self, x: float | None, y: float | None, keep: int) -> Pairs:
        return Pairs(_pushed(self._a, x, keep), _pushed(self._b, y, keep))

    def __len__(self) -> int:
        return len(self._a)

    @overload
    def __getitem__(self, i: int) -> tuple[float | None, float | None]: ...
    @overload
    def __getitem__(self, i: slice) -> Pairs: ...

    def __getitem__(self, i: int | slice) -> tuple[float | None, float | None] | Pairs:
        if isinstance(i, slice):
            return Pairs(self._a[i], self._b[i])
        return _value(self._a[i]), _value(self._b[i])

    def __iter__(self) -> Iterator[tuple[float | None, float | None]]:
        return zip(map(_value, self._a), map(_value, self._b))
