"""`kvmtune undo [ID]`: revert an applied action from the values logged before it."""

from __future__ import annotations

import argparse
from typing import Any

from .apply import add_common, open_executor, report, whole


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("undo", help="revert the last applied action, or action ID",
                               description="Revert an applied action from the value logged before it. "
                                           "Without ID: the most recent one not undone yet.")
    up.add_argument("id", metavar="ID", nargs="?", type=whole, help="audit log entry id (see `kvmtune log`)")
    add_common(up)
    up.set_defaults(func=cmd_undo)


def cmd_undo(args: argparse.Namespace) -> int:
    feed, ex, snap = open_executor(args)
    try:
        return report(ex.undo(snap, args.id, confirmed=args.yes))
    finally:
        feed.close()
