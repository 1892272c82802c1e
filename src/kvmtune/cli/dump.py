"""`kvmtune dump`: a recording's samples as JSON lines, one JSON array, CSV or OpenMetrics.

Samples are read one at a time (only the named guests decoded with --guest) and written as
they come, so a day of a big host never sits in memory; OpenMetrics gathers each metric
family in a temporary file (export/openmetrics.py). Rates in CSV and OpenMetrics are the
frames' (frame.Framer, the TUI's). A damaged sample is named on stderr and skipped, the
dump goes on and exits 1; a file that cannot be read at all is one line and exit 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any, TextIO, TypeVar

from .. import fmt, inputs
from ..errors import RecordingError
from ..frame import Frame, Framer
from ..model import Snapshot
from .common import CliError, argtype
from .dump_info import info

_T = TypeVar("_T")

FORMATS = ("jsonl", "json", "csv", "openmetrics")

EXAMPLES = """\
times (--from, --to):
  HH:MM[:SS]              local time of day: the first such moment at or after the
                          recording's start (a recording past midnight goes on to the next day)
  YYYY-MM-DD HH:MM[:SS]   a local date and time; ISO 8601 too (2026-12-01T03:10:00), with a
                          zone if you give one (...Z, ...+02:00); without one it is local time
  1764558600              a Unix time (seconds)
  +10m, -1h               10 minutes after the recording's start, 1 hour before its end
                          (durations: 90s, 10m, 2h, 1h30m, 1d)
  Both ends are included. Times are this machine's local time zone (TZ=... to change it).

formats (--format):
  jsonl        one kvmtune.snapshot/1 JSON document per sample and line (docs/snapshot-json.md);
               the default
  json         the same documents as one JSON array
  csv          one row per guest and sample with a header; rates (cpu_pct, disk_*_bytes_s,
               disk_*_iops) are since the previous sample, as the TUI shows them; memory in
               KiB, one node<N>_kib column per host node of the recording; --fields picks
               and orders the columns
  openmetrics  OpenMetrics text with timestamps, for `promtool tsdb create-blocks-from
               openmetrics` (metrics kvmtune_*, labels guest, node, disk)

exit status: 0 done; 1 a damaged sample was skipped, or nothing was in the range;
2 bad arguments or a file that is not a readable recording.

examples:
  kvmtune dump rec.kvr --info
  kvmtune dump rec.kvr --from 03:00 --to 03:20 --guest db-01 --format csv
  kvmtune dump rec.kvr --format csv --fields datetime,guest,cpu_pct,disk_wr_bytes_s
  kvmtune dump rec.kvr --from -10m --guest web-01 | jq -c '.guests[0].state'
  kvmtune dump rec.kvr --format openmetrics > rec.om
  promtool tsdb create-blocks-from openmetrics rec.om /var/lib/prometheus/metrics2
"""


def _columns_help() -> str:
    from ..export.table import COLUMNS, NODE_PATTERN
    lines = ["", "csv columns (--fields; the default is all of them, in this order; an empty cell is unknown):"]
    for name, (what, _get) in COLUMNS.items():
        lines.append(f"  {name:<23}{what}")
        if name == "numa_kib":
            lines.append(f"  {NODE_PATTERN:<23}the guest's memory on host node N (KiB), one per node of the recording")
    return "\n".join(lines) + "\n"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "dump", help="print a recording's samples (jsonl, json, csv, openmetrics) or what it holds (--info)",
        description="Print the samples of a recording made by `kvmtune record` (or the TUI) for\n"
                    "other tools, or with --info what the file holds.",
        epilog=EXAMPLES + _columns_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="the recording")
    p.add_argument("--from", dest="start", metavar="T", type=argtype(inputs.moment, "time"),
                   help="first moment to dump (default: the recording's start); see times below")
    p.add_argument("--to", dest="stop", metavar="T", type=argtype(inputs.moment, "time"),
                   help="last moment to dump (default: the recording's end)")
    p.add_argument("--guest", metavar="NAME", action="append", default=None,
                   help="only this guest (repeat for more); the host's figures stay")
    p.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (default jsonl)")
    p.add_argument("--fields", metavar="F,F,...", default=None,
                   help="csv: these columns in this order (a wrong name lists the known ones)")
    p.add_argument("--info", action="store_true",
                   help="the metadata, sessions, time range, sample count, size and actions instead "
                        "of the samples (--format json: as JSON)")
    p.set_defaults(func=cmd_dump)


def _warn(text: str) -> None:
    print(f"kvmtune: {text}", file=sys.stderr)


def _range(rec: Any, args: argparse.Namespace) -> tuple[int, int]:
    """[lo, hi) of the samples between --from and --to, both included."""
    times = rec.times
    if not times:
        return 0, 0
    first, last = times[0], times[-1]
    try:
        lo_t = args.start.place(first, last) if args.start is not None else first
        # a time of day for --to is the first at or after --from (23:00 to 01:00 crosses midnight)
        hi_t = args.stop.place(first, last, lo_t if args.start is not None else None) \
            if args.stop is not None else last
    except (OverflowError, OSError, ValueError) as e:
        raise CliError(f"that time cannot be placed: {e}") from None
    if lo_t > hi_t and args.start is not None and args.stop is not None:
        raise CliError(f"--from ({fmt.clock(lo_t)}) is after --to ({fmt.clock(hi_t)})")
    return bisect_left(times, lo_t), bisect_right(times, hi_t)


def _check_guests(rec: Any, names: list[str], lo: int, hi: int) -> None:
    """Every named guest is in a sample of the range: the ends first, then (rarely) a scan."""
    missing = set(names)
    for i in dict.fromkeys((lo, hi - 1)):   # only the named guests decoded: the check is not a read of all
        try:
            missing -= {g.name for g in rec.snapshot(i, names, cpus=False).guests}
        except RecordingError:
            continue
    if missing:   # a guest that came and went inside the range
        for _i, s in rec.iter_snapshots(lo, hi, missing, cpus=False):
            if isinstance(s, Snapshot):
                missing -= {g.name for g in s.guests}
                if not missing:
                    break
    if missing:
        seen: set[str] = set()
        for i in dict.fromkeys((lo, hi - 1)):
            try:
                seen |= {g.name for g in rec.snapshot(i, cpus=False).guests}
            except RecordingError:
                continue
        some = sorted(seen)
        listed = ", ".join(some[:8]) + (f" … ({len(some)} guests)" if len(some) > 8 else "")
        raise CliError(f"no guest named {', '.join(repr(n) for n in sorted(missing))} in {rec.path} "
                       f"in that time range; it has: {listed or 'no guests'}")


def _node_ids(rec: Any) -> list[int]:
    """The host nodes of the recording: the first sample of each session (a fixed set for the CSV header)."""
    ids: set[int] = set()
    for start in {rec.index_at(s["started"]) for s in rec.sessions if isinstance(s["started"], (int, float))} | {0}:
        try:
            ids |= {n.id for n in rec.snapshot(start, guests=()).host.nodes}
        except (RecordingError, IndexError):
            continue
    return sorted(ids)


class _Dump:
    """Walks the samples in range, warning about damaged ones."""

    def __init__(self, rec: Any, lo: int, hi: int, guests: set[str] | None):
        self.rec, self.lo, self.hi, self.guests = rec, lo, hi, guests
        self.damaged = 0

    def snapshots(self, cpus: bool = True) -> Iterator[Snapshot]:
        return self._good(self.rec.iter_snapshots(self.lo, self.hi, self.guests, cpus))

    def documents(self) -> Iterator[dict[str, Any]]:
        """The v1 documents: as stored when the file's schema is this kvmtune's (building each
        Snapshot only to write it back costs most of a one-guest dump), else through Snapshot."""
        if self.rec.newer:
            return (s.to_json() for s in self.snapshots())
        return self._good(self.rec.iter_documents(self.lo, self.hi, self.guests))

    def _good(self, samples: Iterator[tuple[int, _T | RecordingError]]) -> Iterator[_T]:
        for i, s in samples:
            if isinstance(s, RecordingError):
                self.damaged += 1
                _warn(f"warning: {s} (recorded at {fmt.clock(self.rec.times[i])}); skipped")
            else:
                yield s

    def frames(self, cpus: bool = True) -> Iterator[Frame]:
        """Frames with the TUI's rates: the sample before the range (when there is one) is the
        first one's previous. cpus=False: without the host's per-CPU times (see Recording.snapshot)."""
        framer = Framer(history=1, findings=False)   # csv and OpenMetrics carry no findings
        if self.lo > 0:
            try:
                framer.push(self.rec.snapshot(self.lo - 1, self.guests, cpus))
            except RecordingError:
                pass
        for s in self.snapshots(cpus):
            yield framer.push(s)


def _dumps(doc: dict[str, Any]) -> str:
    # orjson's line (an eighth of json.dumps' time, which was most of a one-guest dump), as
    # the recorder writes its samples: one encoder, with json for what orjson refuses
    from ..record.codec import dump_json
    return dump_json(doc).decode()


def _write(d: _Dump, args: argparse.Namespace, out: TextIO) -> None:
    if args.format == "jsonl":
        for doc in d.documents():
            out.write(_dumps(doc) + "\n")
    elif args.format == "json":
        out.write("[")
        sep = "\n"
        for doc in d.documents():
            out.write(sep + _dumps(doc))
            sep = ",\n"
        out.write("\n]\n")
    elif args.format == "csv":
        from ..export.table import Table
        fields = None if args.fields is None else [f.strip() for f in args.fields.split(",") if f.strip()]
        try:
            table = Table(_node_ids(d.rec), fields)
        except ValueError as e:
            raise CliError(f"--fields: {e}") from None
        w = csv.writer(out, lineterminator="\n")
        w.writerow(table.names)
        for frame in d.frames(cpus=False):   # the table is per guest: no column needs them
            w.writerows(table.rows(frame))
    else:
        from ..export.openmetrics import write_series
        write_series(d.frames(), out)


def cmd_dump(args: argparse.Namespace) -> int:
    from ..record.store import Recording
    if args.fields is not None and (args.format != "csv" or args.info):
        raise CliError("--fields is for --format csv")
    try:
        rec = Recording(args.file)
    except RecordingError as e:
        raise CliError(str(e), 2) from None
    try:
        if rec.newer:
            _warn(f"{rec.path} was made by {rec.meta.get('created_by', 'a newer kvmtune')} (schema "
                  f"{rec.meta.get('schema')}): showing what this kvmtune knows of it")
        if args.info:
            info(rec, as_json=args.format == "json", out=sys.stdout)
            return 0
        lo, hi = _range(rec, args)
        guests = set(args.guest) if args.guest else None
        if guests and lo < hi:
            _check_guests(rec, args.guest, lo, hi)
        d = _Dump(rec, lo, hi, guests)
        try:
            _write(d, args, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader left (`| head`): stop quietly, and keep Python's exit flush from failing again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if not len(rec):
            _warn(f"{rec.path} holds no samples yet")
            return 1
        if lo >= hi:
            _warn(f"nothing in that time range ({rec.path} holds {fmt.clock(rec.times[0])} to "
                  f"{fmt.clock(rec.times[-1])})")
            return 1
        if d.damaged:
            _warn(f"{d.damaged} damaged sample{'s' if d.damaged > 1 else ''} skipped")
            return 1
        return 0
    except RecordingError as e:
        raise CliError(str(e), 2) from None
    finally:
        rec.close()
