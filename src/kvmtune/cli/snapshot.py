"""`kvmtune snapshot`: one snapshot, as a compact report or the v1 JSON contract."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .common import CliError, add_perf_arg, add_source_args, open_feed

PERF_WINDOW = 1.0   # seconds of perf counting in one snapshot (--perf)


def register(sub: Any) -> None:
    s = sub.add_parser("snapshot", help="print one snapshot of the host and its guests",
                       description="Print one snapshot: a compact report, or the v1 JSON contract "
                                   "(docs/snapshot-json.md).")
    s.add_argument("--json", action="store_true", help="print the kvmtune.snapshot/1 JSON")
    add_source_args(s, host_only=True)
    add_perf_arg(s)
    s.set_defaults(func=cmd_snapshot)


def cmd_snapshot(args: argparse.Namespace) -> int:
    from ..report import render_report
    if args.demo and args.host_only:
        raise CliError("--host-only cannot be combined with --demo")
    feed = open_feed(args)
    try:
        snap, prev = feed.next(), None
        if getattr(args, "perf", False):   # counters opened by that one: count for a second
            if not args.demo:
                time.sleep(PERF_WINDOW)
            snap, prev = feed.next(), snap
    finally:
        feed.close()
    if args.json:
        print(snap.dumps(indent=2))
    else:
        print(render_report(snap, prev), end="")
    return 0
