"""`kvmtune replay FILE`: the full-screen view on a recording, with time travel.

A bad file (missing, empty, not a recording, damaged, of a sample encoding this kvmtune
cannot read) is one line and exit 2; a file of a newer schema opens, read with what this
version knows, and the status line says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import inputs
from .common import CliError, Parser, argtype

KEYS = """time travel keys:
  space      play / pause (a replay opens paused)
  [ / ]      one sample back / forward
  , / .      1 minute back / forward
  { / }      10 minutes back / forward
  g          go to a time: HH:MM[:SS] or YYYY-MM-DD HH:MM[:SS]
  ( / )      the previous / next recorded action or error
  x          speed: 1x, 2x, 10x, 60x
every other key works as live (panes 1-9, H host view, A advice, sort, / filter, t theme, ? help);
the action keys are disabled: this is a recording."""


def register(sub: Any) -> None:
    s = sub.add_parser("replay", help="replay a recording in the full-screen view (time travel)",
                       description="Open a recording (kvmtune record, or R in the view) in the same "
                                   "full-screen view, with every pane, sort and filter as live.",
                       epilog=KEYS, formatter_class=argparse.RawDescriptionHelpFormatter)
    assert isinstance(s, Parser)
    s.add_argument("file", metavar="FILE", help="the recording")
    s.add_argument("--speed", metavar="N", type=argtype(inputs.speed, "speed"), default=1.0,
                   help="recorded seconds per second when playing (default 1; x cycles 1, 2, 10, 60)")
    s.add_argument("--at", metavar="TIME", type=argtype(inputs.moment, "time"), default=None,
                   help="start at HH:MM[:SS] (the first after the recording's start), 'YYYY-MM-DD HH:MM[:SS]', "
                        "+10m after the start or -1h before the end; local time")
    s.add_argument("--theme", metavar="NAME", default=argparse.SUPPRESS,
                   help="colour theme (t cycles them)")
    s.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from ..errors import RecordingError
    from ..record.replay import ReplayFeed
    from ..record.store import Recording
    if getattr(args, "record", None):
        raise CliError("--record cannot be combined with replay: this is a recording already")
    try:
        feed = ReplayFeed(Recording(args.file), speed=args.speed)
    except RecordingError as e:
        raise CliError(str(e)) from None
    try:
        if len(feed) == 0:
            raise CliError(f"{args.file} has no samples yet")
        start = 0
        if args.at is not None:
            try:
                start = feed.index_at(feed.resolve(args.at))
            except ValueError as e:
                raise CliError(f"--at: {e}") from None
        try:   # the first sample shown must be readable; a damaged one later is said on screen
            feed.snapshot(start)
        except RecordingError as e:
            raise CliError(str(e)) from None
        try:
            from ..ui.app import TerminalWatch, run_app
        except ImportError as e:
            raise CliError(f"the full-screen view is not available in this build ({e})", 1) from None
        view = argparse.Namespace(read_only=False, dry_run=False, interval=feed.interval,
                                  theme=getattr(args, "theme", None), start_at=start or None, record=None)
        with TerminalWatch() as watch:
            return run_app(feed, view, watch)
    finally:
        feed.close()
