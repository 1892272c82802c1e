"""`kvmtune dump FILE --info`: what a recording holds, as text or JSON."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .. import fmt
from ..errors import RecordingError
from ..record.store import on_disk
from .log import cell


def _guest_count(rec: Any, i: int) -> int | None:
    try:
        return len(rec.snapshot(i).guests)
    except (RecordingError, IndexError):
        return None


def facts(rec: Any) -> dict[str, Any]:
    """The --info figures as plain data (the JSON form; the text form prints them)."""
    n = len(rec)
    counts = [c for c in (_guest_count(rec, 0), _guest_count(rec, n - 1)) if c is not None] if n else []
    guests = sum(counts) / len(counts) if counts else 0.0
    size = on_disk(rec.path)
    events = rec.events()
    actions = [{"time": e.time, **{k: e.data.get(k) for k in ("id", "action", "target", "result")}}
               for e in events if e.kind == "action"]
    return {
        "file": str(rec.path),
        "meta": dict(rec.meta),
        "newer": rec.newer,
        "sessions": rec.sessions,
        "samples": n,
        "first": rec.times[0] if n else None,
        "last": rec.times[-1] if n else None,
        "duration_s": rec.times[-1] - rec.times[0] if n else None,
        "size_bytes": size,
        "guests": guests,
        "bytes_per_guest_sample": round(size / (n * guests), 1) if n and guests else None,
        "actions": actions,
        "errors": sum(1 for e in events if e.kind == "error"),
    }


def info(rec: Any, as_json: bool, out: TextIO) -> None:
    f = facts(rec)
    if as_json:
        out.write(json.dumps(f, indent=2) + "\n")
        return
    meta = f["meta"]
    lines = [f"file       {f['file']}",
             f"format     {meta.get('format', '?')}, schema {meta.get('schema', '?')}, "
             f"codec {meta.get('codec', '?')}, created by {meta.get('created_by', '?')}"
             + (" (newer than this kvmtune: shown with what it knows)" if f["newer"] else "")]
    for s in f["sessions"]:
        interval = s["interval"]
        lines.append(f"session {s['id']:<3}{fmt.clock(s['started'])}  host {cell(s['host'], 40)}  "
                     f"source {cell(s['source'], 60)}  interval "
                     f"{fmt.span(interval) if isinstance(interval, (int, float)) else '?'}  kvmtune {s['version']}")
    if f["samples"]:
        lines.append(f"samples    {f['samples']}, {fmt.clock(f['first'])} to {fmt.clock(f['last'])} "
                     f"({fmt.span(f['duration_s'])})")
    else:
        lines.append("samples    0")
    per = f["bytes_per_guest_sample"]
    lines.append(f"size       {f['size_bytes']} bytes ({fmt.size_text(f['size_bytes'] / 1024)})"
                 + (f", {per:g} bytes per guest-sample ({f['guests']:g} guests)" if per is not None else ""))
    lines.append(f"actions    {len(f['actions'])}")
    for a in f["actions"]:
        lines.append(f"  {fmt.clock(a['time'])}  #{cell(a['id'], 8)}  {cell(a['action'], 16)}  "
                     f"{cell(a['target'], 32)}  {cell(a['result'], 40)}")
    lines.append(f"errors     {f['errors']} collection error{'' if f['errors'] == 1 else 's'} recorded")
    out.write("\n".join(lines) + "\n")
