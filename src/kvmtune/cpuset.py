"""CPU and node lists: the one parser/formatter for kernel cpulists and libvirt syntax.

Kernel: "0-3,8-11", "0,2-3", "" (a node without CPUs), stride forms "0-7:2" are rare
but exist in newer kernels. libvirt adds exclusions: "1-4,^2". Whitespace around items
is tolerated ("0-3, 8" in hand-written XML).
"""

from __future__ import annotations

from collections.abc import Iterable


class CpusetError(ValueError):
    """A cpulist that cannot be parsed; the message says which part and why."""


# Guard against "0-4294967295" eating the machine: no host has more CPUs than this.
MAX_ID = 1 << 16


def _num(text: str, whole: str) -> int:
    t = text.strip()
    if not (t.isascii() and t.isdigit()):   # str.isdigit() also accepts "²", which int() refuses
        raise CpusetError(f"bad CPU list {whole!r}: {text.strip()!r} is not a number")
    n = int(t)
    if n >= MAX_ID:
        raise CpusetError(f"bad CPU list {whole!r}: {n} is out of range")
    return n


def _item(item: str, whole: str) -> range:
    stride = 1
    if ":" in item:
        item, s = item.split(":", 1)
        stride = _num(s, whole)
        if stride == 0:
            raise CpusetError(f"bad CPU list {whole!r}: stride 0")
    if "-" in item:
        lo_s, hi_s = item.split("-", 1)
        lo, hi = _num(lo_s, whole), _num(hi_s, whole)
        if hi < lo:
            raise CpusetError(f"bad CPU list {whole!r}: range {lo}-{hi} runs backwards")
        return range(lo, hi + 1, stride)
    return range(_num(item, whole), _num(item, whole) + 1)


def parse(text: str) -> tuple[int, ...]:
    """Parse a cpulist into a sorted tuple of unique ids. "" -> ()."""
    if not isinstance(text, str):
        raise CpusetError(f"bad CPU list {text!r}: not text")
    include: set[int] = set()
    exclude: set[int] = set()
    stripped = text.strip()
    if not stripped:
        return ()
    for raw in stripped.split(","):
        item = raw.strip()
        if not item:
            raise CpusetError(f"bad CPU list {text!r}: empty item")
        if item.startswith("^"):
            exclude.update(_item(item[1:], text))
        else:
            include.update(_item(item, text))
    return tuple(sorted(include - exclude))


def format(ids: Iterable[int]) -> str:
    """Format ids as the shortest kernel-style list: [0,1,2,3,8] -> "0-3,8"."""
    out: list[str] = []
    s = sorted(set(ids))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        out.append(str(s[i]) if i == j else f"{s[i]}-{s[j]}")
        i = j + 1
    return ",".join(out)


def from_bools(mask: Iterable[bool]) -> tuple[int, ...]:
    """libvirt's cpumaps (tuples of booleans) to ids."""
    return tuple(i for i, b in enumerate(mask) if b)


def to_bools(ids: Iterable[int], length: int) -> tuple[bool, ...]:
    """ids to a libvirt cpumap of `length` entries; ids beyond it are an error."""
    want = set(ids)
    if want and max(want) >= length:
        raise CpusetError(f"CPU {max(want)} does not exist (the host has {length})")
    return tuple(i in want for i in range(length))


def default_cpus(online: tuple[int, ...], vcpu_cpuset: str | None) -> tuple[int, ...]:
    """The CPUs a guest may use when nothing pins it: its <vcpu cpuset>, else every online CPU.

    A vCPU is "pinned" when its affinity is narrower than this; "unpin" restores it.
    """
    if vcpu_cpuset:
        try:
            allowed = set(parse(vcpu_cpuset)) & set(online)
        except CpusetError:
            allowed = set()
        if allowed:
            return tuple(sorted(allowed))
    return tuple(online)
