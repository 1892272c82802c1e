"""The metric families of the network and block figures (issue 15), appended to families.FAMILIES:
disks' flushes and the time spent on each kind of request (latency = rate(time) / rate(requests)),
and each interface's counters in the guest's view (virsh domifstat's), labelled by host device."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ..frame import Frame

Labels = tuple[tuple[str, str], ...]     # (as families.py's)
Sample = tuple[Labels, float]
Samples = Callable[[Frame], Iterable[Sample]]
F = TypeVar("F")


def _nic(attr: str) -> Samples:
    """An interface counter by host device; an interface without one (user networking) has none."""
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for n in g.nics:
                v = getattr(n, attr)
                if v is not None and n.target:
                    yield (("guest", g.name), ("interface", n.target)), v
    return samples


def _seconds(samples: Samples) -> Samples:
    def scaled(f: Frame) -> Iterator[Sample]:
        for labels, v in samples(f):
            yield labels, v / 1e9
    return scaled


def device_families(family: Callable[..., F], disk: Callable[[str], Samples]) -> Iterator[tuple[F, Samples]]:
    """`family`: families.Family; `disk`: its per-disk sampler (passed in: this module is imported by it)."""
    yield family("kvmtune_guest_disk_flushes", "counter", "flush requests of the disk"), disk("fl_reqs")
    for kind, attr in (("read", "rd_times_ns"), ("write", "wr_times_ns"), ("flush", "fl_times_ns")):
        yield (family(f"kvmtune_guest_disk_{kind}_time_seconds", "counter",
                      f"time the disk spent on {kind} requests", "seconds"), _seconds(disk(attr)))
    for way, side, verb in (("receive", "rx", "received"), ("transmit", "tx", "sent")):
        for what, key in (("bytes", "bytes"), ("packets", "packets"), ("errors", "errs"), ("drops", "drop")):
            yield (family(f"kvmtune_guest_net_{way}_{what}", "counter",
                          f"{what} the guest {verb} on the interface (its view, as virsh domifstat)",
                          "bytes" if what == "bytes" else ""), _nic(f"{side}_{key}"))
