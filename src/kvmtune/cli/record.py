"""`kvmtune record FILE`: record the host headless (systemd, cron), to replay or dump later.

Samples are taken on a monotonic schedule (start + k x interval), so the interval does
not drift with the time a collection takes. Each sample is committed as it is written
(record/store.py), so a kill loses at most the one in flight. SIGINT, SIGTERM and SIGHUP
stop it cleanly: the sample being taken is finished (a second signal drops it), the file
is closed into one file, and a summary line says what was written.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .. import fmt, gcfreeze, inputs
from ..errors import RecordingError
from ..feed import Feed
from .common import CliError, add_perf_arg, add_source_args, argtype, open_feed, seconds

MIN_SIZE = 1024 ** 2    # below this a recording holds too few chains to be worth keeping
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def register(sub: Any) -> None:
    s = sub.add_parser(
        "record", help="record the host to a file, headless (for systemd or cron)",
        description="Record what kvmtune sees (every snapshot, every action on this host, every "
                    "collection error) to FILE, to replay or dump later, on another machine too. "
                    "An existing recording is appended to (a new session). Stops at --for, or "
                    "cleanly on Ctrl-C, SIGTERM or SIGHUP (exit 0; 129 after SIGHUP).")
    s.add_argument("file", metavar="FILE", help="the recording (e.g. host.kvmrec)")
    s.add_argument("--interval", metavar="SECONDS", type=seconds, default=argparse.SUPPRESS,
                   help="seconds between samples (default 2)")
    s.add_argument("--for", dest="duration", metavar="DURATION", default=None,
                   type=argtype(inputs.duration, "duration"),
                   help="stop after this long: 90s, 10m, 2h, 1d (default: until stopped)")
    s.add_argument("--max-size", metavar="SIZE", default=None,
                   type=argtype(inputs.file_size(MIN_SIZE), "size"),
                   help="keep the file under SIZE (500M, 2G; at least 1M): the oldest samples go first")
    s.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing but warnings and errors")
    add_source_args(s)
    add_perf_arg(s)
    s.set_defaults(func=cmd_record)


class _Stop(Exception):
    """Raised by the signal handler where stopping cannot leave a sample half-written."""


class _Signals:
    """Stop requests: remembered while a sample is taken (it is finished), acted on at once
    otherwise (a sleep ends), and at once anyway on a second request (the sample is dropped)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.busy = False
        self.closing = False     # the file is being closed: nothing is left to stop
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in STOP_SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        again = self.signum is not None
        self.signum = self.signum or signum
        if not self.closing and (again or not self.busy):
            raise _Stop


class _Progress:
    """One line on a terminal, rewritten in place; nothing per sample anywhere else (a journal)."""

    def __init__(self, out: TextIO, quiet: bool):
        self.out = out
        self.quiet = quiet
        self.tty = not quiet and out.isatty()
        self._shown = False

    def say(self, line: str) -> None:
        if not self.quiet:
            self.line(line, end="\n")

    def warn(self, line: str) -> None:
        self.line(f"kvmtune: {line}", end="\n")

    def line(self, text: str, end: str = "") -> None:
        try:
            if self._shown:
                self.out.write("\r\x1b[K")
                self._shown = False
            self.out.write(text + end)
            self._shown = end == ""
            self.out.flush()
        except OSError:
            pass    # the terminal is gone (a hangup): recording goes on regardless


def cmd_record(args: argparse.Namespace) -> int:
    from ..record.live import LiveRecording
    from ..record.store import Recording
    path = Path(args.file)
    interval = float(getattr(args, "interval", 2.0))
    if path.is_dir():
        raise CliError(f"{path} is a directory: name a file (e.g. {path / 'host.kvmrec'})")
    if not path.parent.is_dir():
        raise CliError(f"cannot record to {path}: the directory {path.parent} does not exist")
    size0 = path.stat().st_size if path.is_file() else 0
    feed = open_feed(args)
    try:
        source = feed.source
        try:
            rec = LiveRecording(path, source=feed.label, interval=interval, max_size=args.max_size,
                                log_path=source.log_path if source is not None else None)
        except RecordingError as e:
            raise CliError(str(e), 2) from None
        try:
            before = ""
            if size0:
                old = Recording(path)
                before = f" (appending a new session to its {len(old)} samples)"
                old.close()
            return _run(args, feed, rec, interval, before, size0)
        finally:
            rec.close()
    finally:
        feed.close()


def _run(args: argparse.Namespace, feed: Feed, rec: Any, interval: float, appending: str,
         size0: int) -> int:
    out = _Progress(sys.stderr, args.quiet)
    limit = f" for {fmt.span(args.duration)}" if args.duration else ""
    cap = f", at most {fmt.size_text(args.max_size / 1024)}" if args.max_size else ""
    out.say(f"kvmtune: recording {feed.label} to {rec.path}{appending} every {interval:g}s{limit}{cap}; "
            "stop with Ctrl-C or SIGTERM")
    first = last = None
    guest_samples, slow, took, error = 0, False, 0.0, None
    began = start = time.monotonic()
    end = began + args.duration if args.duration else math.inf
    k = 0   # the sample the schedule is at: due at start + k * interval
    with _Signals() as sig:
        try:
            while True:
                sig.busy = True
                t0 = time.monotonic()
                rec.before_collect(feed)   # an action by another process: this sample shows it
                snap = feed.next()
                try:
                    rec.add(snap)
                except RecordingError as e:
                    if not rec.samples:   # the file cannot take this host's samples (its clock is behind)
                        raise CliError(str(e), 2) from None
                    error = str(e)
                    break
                now = time.monotonic()
                sig.busy = False
                took = now - t0
                first = first if first is not None else snap.time
                last = snap.time
                guest_samples += len(snap.guests)
                if rec.samples == 1:
                    gcfreeze.after_startup()   # full collections off the host's and the first sample's objects
                if sig.signum is not None:
                    break
                k += 1
                due = start + k * interval
                if now > due:
                    if not slow:
                        slow = True
                        out.warn(f"collecting took {took:.2f}s, longer than the interval ({interval:g}s): "
                                 "each sample starts as the one before ends")
                    start, k, due = now, 0, now   # behind: start again from here (no burst to catch up)
                if out.tty:
                    left = f", {fmt.span(end - now)} left" if args.duration else ""
                    out.line(f"recording: {rec.samples} samples, {fmt.size_text(rec.size / 1024)}, "
                             f"{fmt.span(now - began)} elapsed{left}, last collection {took * 1000:.0f} ms, "
                             f"{rec.actions} actions")
                if due >= end:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
        except _Stop:
            pass
        sig.closing = True
        if error is not None:
            out.warn(error)
        rec.close()
    written = rec.size - size0
    per = (f", {written / guest_samples:.0f} bytes per guest-sample"
           if guest_samples and written > 0 and args.max_size is None else "")
    span = f", {fmt.clock(first)} to {fmt.clock(last)}" if first is not None else ""
    why = {int(signal.SIGINT): " (interrupted)", int(signal.SIGTERM): " (SIGTERM)",
           int(signal.SIGHUP): " (hangup)"}.get(sig.signum or 0, "")
    out.say(f"kvmtune: recorded {rec.samples} samples to {rec.path}{why}: {fmt.size_text(rec.size / 1024)} "
            f"on disk{per}{span} ({fmt.span((last or 0) - (first or 0))})")
    if error is not None:
        return 1
    return 128 + signal.SIGHUP if sig.signum == signal.SIGHUP else 0
