"""Frames as OpenMetrics text: for backfilling Prometheus from a recording (`kvmtune dump
--format openmetrics`, then `promtool tsdb create-blocks-from openmetrics`).

The families come from families.py, the one mapping of a frame to metrics (the live
exporter, promclient.py, reads the same). `render(frame)` is one exposition;
`write_series(frames, out)` writes many frames with timestamps. OpenMetrics wants the
samples of a family together, so a family's lines are gathered across frames in a
temporary file each (memory stays bounded on a day of recording) and written family by
family at the end.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from typing import IO

from ..frame import Frame
from .families import FAMILIES, Family, Labels, families

__all__ = ["FAMILIES", "Family", "escape", "families", "render", "sample_line", "write_series"]


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
