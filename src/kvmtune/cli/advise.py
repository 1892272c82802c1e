"""`kvmtune advise`: the tuning guide's findings for this host, for people, scripts and cron.

The findings are the TUI's (one Framer, frame.py): live, two samples --interval apart (the
rate checks need a previous sample); on a recording, the sample at --at with the ones
before it. Muted findings (acknowledged in the TUI, advise/mutes.py) are left out unless
--all, and never change the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .. import fmt, inputs
from ..advise import SEVERITIES, Finding, rank, worst_first
from ..advise.mutes import Mutes
from ..errors import RecordingError
from ..frame import HISTORY, Frame, Framer
from .common import CliError, argtype, open_feed

EPILOG = """\
exit status:
  0  no (unmuted) finding at or above --min-severity
  1  at least one
  2  bad arguments, an unknown guest, a recording that cannot be read, or no connection
     to the hypervisor (one line says why)

examples:
  kvmtune advise --demo
  kvmtune advise --min-severity critical || mail -s "kvmtune: critical findings" root
  kvmtune advise --guest db-01 --json | jq '.findings[].code'
  kvmtune advise --from rec.kvmrec --at 03:10
"""

SCHEMA = "kvmtune.advise/1"


def register(sub: Any) -> None:
    from .common import add_source_args
    p = sub.add_parser("advise", help="the tuning guide's findings for this host and its guests",
                       description="Check the host and its guests against the tuning guide: each finding "
                                   "with its severity, the guide's section, the evidence in numbers and "
                                   "the fix (the equivalent virsh command, or the `virsh edit` snippet "
                                   "and virt-xml line).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help=f"print a {SCHEMA} JSON document")
    p.add_argument("--guest", metavar="NAME", action="append", default=None,
                   help="only this guest's findings (repeat for more)")
    p.add_argument("--min-severity", choices=SEVERITIES, default="info",
                   help="show (and count for the exit status) findings at least this severe (default info)")
    p.add_argument("--all", action="store_true", help="also list muted (acknowledged) findings")
    p.add_argument("--interval", metavar="SECONDS", type=argtype(inputs.seconds, "seconds"), default=1.0,
                   help="live: seconds between the two samples the rate checks need (default 1)")
    p.add_argument("--from", dest="recording", metavar="FILE", default=None,
                   help="judge a recording (kvmtune record) instead of the host")
    p.add_argument("--at", metavar="TIME", type=argtype(inputs.moment, "time"), default=None,
                   help="with --from: the sample at HH:MM[:SS], 'YYYY-MM-DD HH:MM[:SS]', +10m after the "
                        "start or -1h before the end (default: the last sample)")
    add_source_args(p)
    p.set_defaults(func=cmd_advise)


def _progress(text: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{text}\033[K", end="", file=sys.stderr, flush=True)


def _live(args: argparse.Namespace) -> Frame:
    feed = open_feed(args)
    try:
        framer = Framer(findings=False)   # the first sample only gives the second its rates
        first = feed.next()
        if first.disconnected:
            why = next((e.message for e in first.errors if e.source == "libvirt"), "no connection to libvirt")
            raise CliError(why)
        framer.push(first)
        if not args.demo:   # the demo's clock steps per sample: no need to wait for it
            _progress(f"kvmtune: a second sample in {args.interval:g} s for the rates…")
            time.sleep(args.interval)
            _progress("")
        framer.findings = True
        return framer.push(feed.next())
    finally:
        feed.close()


def _recorded(args: argparse.Namespace) -> Frame:
    from ..record.store import Recording
    try:
        rec = Recording(args.recording)
    except RecordingError as e:
        raise CliError(str(e)) from None
    try:
        times = rec.times
        if not times:
            raise CliError(f"{rec.path} holds no samples yet")
        index = len(times) - 1
        if args.at is not None:
            try:
                when = args.at.place(times[0], times[-1])
            except (ValueError, OverflowError, OSError) as e:
                raise CliError(f"--at: {e}") from None
            index = rec.index_at(when)
            if when < times[0] or when > times[-1] + (rec.interval or 0):
                edge = "before the recording starts" if when < times[0] else "after the recording ends"
                print(f"kvmtune: --at {args.at.text!r} is {edge} ({fmt.clock(times[0])} to "
                      f"{fmt.clock(times[-1])}): using the sample at {fmt.clock(times[index])}", file=sys.stderr)
        framer = Framer(findings=False)
        for i in range(max(0, index - HISTORY), index):   # the history and rates the TUI would have
            try:
                framer.push(rec.snapshot(i))
            except RecordingError:
                framer.reset()
        framer.findings = True
        try:
            return framer.push(rec.snapshot(index))
        except RecordingError as e:
            raise CliError(str(e)) from None
    finally:
        rec.close()


def _select(frame: Frame, guests: list[str] | None) -> list[Finding]:
    if guests:
        guests = list(dict.fromkeys(guests))   # `--guest X --guest X` is X once
        known = {g.name for g in frame.snap.guests}
        missing = [n for n in guests if n not in known]
        if missing:
            have = sorted(known)
            listed = ", ".join(have[:8]) + (f" … ({len(have)} guests)" if len(have) > 8 else "")
            raise CliError(f"no guest named {', '.join(repr(n) for n in missing)} on "
                           f"{frame.snap.host.hostname}; it has: {listed or 'no guests'}")
        return [f for n in guests for f in frame.guest_findings(n)]
    return [f for fs in frame.findings.values() for f in fs] + list(frame.host_findings)


def _text(found: list[Finding], muted_shown: set[int], frame: Frame, muted: int, hidden: bool,
          threshold: str) -> str:
    from ..fixes import fix_lines
    snap = frame.snap
    counts = {s: sum(1 for f in found if f.severity == s) for s in SEVERITIES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"
    head = f"{snap.host.hostname} at {fmt.clock(snap.time)}: {len(found)} finding{'' if len(found) == 1 else 's'}" \
           f" ({summary})" + ("" if threshold == "info" else f" at or above {threshold}")
    if muted:
        head += f"; {muted} muted" + (" (--all lists them)" if hidden else " (marked muted)")
    lines = [head]
    for f in found:
        lines.append("")
        mark = "  [muted]" if id(f) in muted_shown else ""
        lines.append(f"{f.severity.upper():<8}  {f.guest or '(host)'}  {f.code}  §{f.section}{mark}")
        lines.append(f"  {f.text}")
        if f.fix is not None:
            fix = fix_lines(f.fix, snap)
            lines += [f"  fix: {fix[0]}"] + [f"       {x}" for x in fix[1:]] if fix else []
    return "\n".join(lines) + "\n"


def cmd_advise(args: argparse.Namespace) -> int:
    if args.recording is not None:
        if args.demo or args.connect or args.root != "/":
            raise CliError("--from reads a recording: it cannot be combined with --demo, --connect or --root")
        frame = _recorded(args)
    else:
        if args.at is not None:
            raise CliError("--at needs --from FILE (a recording)")
        frame = _live(args)
    mutes = Mutes(frame.snap.host.hostname)
    if mutes.warning:
        print(f"kvmtune: warning: {mutes.warning}", file=sys.stderr)
    limit = rank(args.min_severity)
    found = [f for f in worst_first(_select(frame, args.guest)) if rank(f.severity) <= limit]
    shown, muted = mutes.split(found)
    listed = worst_first(found) if args.all else shown
    muted_ids = {id(f) for f in muted}
    if args.json:
        doc = {"schema": SCHEMA, "host": frame.snap.host.hostname, "time": frame.snap.time,
               "min_severity": args.min_severity,
               "findings": [{**f.to_json(), "muted": id(f) in muted_ids} for f in listed],
               "muted": len(muted)}
        print(json.dumps(doc, indent=2))
    else:
        print(_text(listed, muted_ids, frame, len(muted), not args.all, args.min_severity), end="")
    return 1 if shown else 0
