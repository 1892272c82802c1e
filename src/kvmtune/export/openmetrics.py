"""Frames as OpenMetrics text: for backfilling Prometheus from a recording (`kvmtune dump
--format openmetrics`, then `promtool tsdb create-blocks-from openmetrics`) and for the
live exporter.

`families(frame)` is the one mapping of a frame to metric families; `render(frame)` is one
exposition (what a scrape returns); `write_series(frames, out)` writes many frames with
timestamps. OpenMetrics wants the samples of a family together, so a family's lines are
gathered across frames in a temporary file each (memory stays bounded on a day of
recording) and written family by family at the end.

Names are prefixed kvmtune_, in base units (bytes, seconds), counters end in _total;
labels: guest, node, disk (and kind where one family holds several limits).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from ..frame import Frame
from ..model import Guest

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]


@dataclass(frozen=True)
class Family:
    name: str                   # without _total for a counter (OpenMetrics' family name)
    type: str                   # "gauge" or "counter"
    help: str
    unit: str = ""              # the name's unit suffix (OpenMetrics' UNIT line)

    @property
    def sample_name(self) -> str:
        return self.name + "_total" if self.type == "counter" else self.name

    def header(self) -> str:
        lines = [f"# TYPE {self.name} {self.type}"]
        if self.unit:
            lines.append(f"# UNIT {self.name} {self.unit}")
        lines.append(f"# HELP {self.name} {_escape_help(self.help)}")
        return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape(value: str) -> str:
    """A label value as OpenMetrics writes it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def sample_line(fam: Family, labels: Labels, value: float, timestamp: float | None = None) -> str:
    text = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    out = f"{fam.sample_name}{{{text}}} {_number(value)}" if text else f"{fam.sample_name} {_number(value)}"
    return out + (f" {timestamp!r}\n" if timestamp is not None else "\n")


def _g(name: str) -> Labels:
    return (("guest", name),)


def _per_guest(get: Callable[[Guest], float | None]) -> Callable[[Frame], Iterator[Sample]]:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            v = get(g)
            if v is not None:
                yield _g(g.name), v
    return samples


def _cpu_ratio(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        r = f.rates.get(g.name)
        if r is not None and r.cpu_percent is not None:
            yield _g(g.name), r.cpu_percent / 100


def _node_memory(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        for n, kib in sorted((g.numa_memory_kib or {}).items()):
            yield (("guest", g.name), ("node", str(n))), kib * 1024


def _guest_hugepages(f: Frame) -> Iterator[Sample]:
    for g in f.snap.guests:
        per: dict[int, int] = {}
        for size, nodes in (g.hugepages or {}).items():
            for n, count in nodes.items():
                per[n] = per.get(n, 0) + size * 1024 * count
        for n, b in sorted(per.items()):
            yield (("guest", g.name), ("node", str(n))), b


def _disk(attr: str) -> Callable[[Frame], Iterator[Sample]]:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for d in g.disks:
                v = getattr(d, attr)
                if v is not None:
                    yield (("guest", g.name), ("disk", d.target)), v
    return samples


def _iotune(suffix: str) -> Callable[[Frame], Iterator[Sample]]:
    def samples(f: Frame) -> Iterator[Sample]:
        for g in f.snap.guests:
            for d in g.disks:
                for kind in ("total", "read", "write"):
                    v = d.iotune.get(f"{kind}_{suffix}")
                    if v is not None:
                        yield (("guest", g.name), ("disk", d.target), ("kind", kind)), v
    return samples


def _node(get: Callable[..., float | None]) -> Callable[[Frame], Iterator[Sample]]:
    def samples(f: Frame) -> Iterator[Sample]:
        for n in f.snap.host.nodes:
            v = get(n)
            if v is not None:
                yield (("node", str(n.id)),), v
    return samples


def _ksm(attr: str) -> Callable[[Frame], Iterator[Sample]]:
    def samples(f: Frame) -> Iterator[Sample]:
        k = f.snap.host.ksm
        v = None if k is None else getattr(k, attr)
        if v is not None:
            yield (), v
    return samples


FAMILIES: tuple[tuple[Family, Callable[[Frame], Iterable[Sample]]], ...] = (
    (Family("kvmtune_guest_running", "gauge", "1 when the guest is running or paused"),
     _per_guest(lambda g: 1 if g.running else 0)),
    (Family("kvmtune_guest_vcpus", "gauge", "vCPUs of the guest"), _per_guest(lambda g: len(g.vcpus) or g.nvcpus)),
    (Family("kvmtune_guest_cpu_seconds", "counter", "CPU time the guest used", "seconds"),
     _per_guest(lambda g: None if g.cpu_time_ns is None else g.cpu_time_ns / 1e9)),
    (Family("kvmtune_guest_cpu_usage_ratio", "gauge",
            "CPU use since the previous sample, in host CPUs (1 = one CPU busy), as kvmtune shows it", "ratio"),
     _cpu_ratio),
    (Family("kvmtune_guest_memory_bytes", "gauge", "memory of the guest", "bytes"),
     _per_guest(lambda g: g.memory_kib * 1024)),
    (Family("kvmtune_guest_node_memory_bytes", "gauge",
            "the guest's memory the host holds on a NUMA node (anonymous + hugepages)", "bytes"), _node_memory),
    (Family("kvmtune_guest_node_hugepages_bytes", "gauge", "hugepages the guest holds on a NUMA node", "bytes"),
     _guest_hugepages),
    (Family("kvmtune_guest_ksm_merging_pages", "gauge", "pages of the guest KSM merged"),
     _per_guest(lambda g: None if g.ksm is None else g.ksm.merging_pages)),
    (Family("kvmtune_guest_memtune_hard_limit_bytes", "gauge", "memtune hard limit (absent = unlimited)", "bytes"),
     _per_guest(lambda g: None if g.memtune is None or g.memtune.hard_limit_kib is None
                else g.memtune.hard_limit_kib * 1024)),
    (Family("kvmtune_guest_blkio_weight", "gauge", "blkio weight of the guest"), _per_guest(lambda g: g.blkio_weight)),
    (Family("kvmtune_guest_disk_read_bytes", "counter", "bytes read from the disk", "bytes"), _disk("rd_bytes")),
    (Family("kvmtune_guest_disk_written_bytes", "counter", "bytes written to the disk", "bytes"), _disk("wr_bytes")),
    (Family("kvmtune_guest_disk_reads", "counter", "read requests of the disk"), _disk("rd_reqs")),
    (Family("kvmtune_guest_disk_writes", "counter", "write requests of the disk"), _disk("wr_reqs")),
    (Family("kvmtune_guest_disk_limit_bytes_per_second", "gauge",
            "blkdeviotune bytes/s limit of the disk by kind (total, read, write); 0 = no limit"),
     _iotune("bytes_sec")),
    (Family("kvmtune_guest_disk_limit_iops", "gauge",
            "blkdeviotune requests/s limit of the disk by kind (total, read, write); 0 = no limit"),
     _iotune("iops_sec")),
    (Family("kvmtune_node_memory_total_bytes", "gauge", "memory of the NUMA node", "bytes"),
     _node(lambda n: n.mem_total_kib * 1024)),
    (Family("kvmtune_node_memory_free_bytes", "gauge", "free memory of the NUMA node", "bytes"),
     _node(lambda n: n.mem_free_kib * 1024)),
    (Family("kvmtune_node_hugepages_free_bytes", "gauge", "free hugepages of the NUMA node, all sizes", "bytes"),
     _node(lambda n: sum(s * 1024 * p.free for s, p in n.hugepages.items()) if n.hugepages else None)),
    (Family("kvmtune_ksm_pages_sharing", "gauge", "pages KSM shares (the saving)"), _ksm("pages_sharing")),
    (Family("kvmtune_ksm_pages_shared", "gauge", "KSM pages in use"), _ksm("pages_shared")),
    (Family("kvmtune_ksm_full_scans", "counter", "KSM full scans"), _ksm("full_scans")),
)


def families(frame: Frame) -> Iterator[tuple[Family, list[Sample]]]:
    """Every family with its samples for one frame (families with none included: a HELP stays)."""
    for fam, samples in FAMILIES:
        yield fam, list(samples(frame))


def render(frame: Frame, timestamps: bool = False) -> str:
    """One exposition of the frame, ending with # EOF."""
    ts = frame.snap.time if timestamps else None
    parts = []
    for fam, samples in families(frame):
        parts.append(fam.header())
        parts.extend(sample_line(fam, labels, v, ts) for labels, v in samples)
    parts.append("# EOF\n")
    return "".join(parts)


def write_series(frames: Iterable[Frame], out: IO[str]) -> None:
    """Every frame's samples with their timestamps (seconds), family by family, then # EOF."""
    with tempfile.TemporaryDirectory(prefix="kvmtune-om-") as tmp:
        spools = [open(f"{tmp}/{i}", "w+", encoding="utf-8")  # noqa: SIM115 (closed below)
                  for i in range(len(FAMILIES))]
        try:
            for frame in frames:
                ts = frame.snap.time
                for spool, (fam, samples) in zip(spools, FAMILIES):
                    spool.writelines(sample_line(fam, labels, v, ts) for labels, v in samples(frame))
            for spool, (fam, _s) in zip(spools, FAMILIES):
                out.write(fam.header())
                spool.seek(0)
                while chunk := spool.read(1 << 16):
                    out.write(chunk)
        finally:
            for spool in spools:
                spool.close()
    out.write("# EOF\n")
