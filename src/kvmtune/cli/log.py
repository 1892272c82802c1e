"""`kvmtune log`: the audit log of tuning actions, oldest first.

The listing is for a terminal: each cell is one line (control characters shown escaped,
as `\\n`) and long ones are cut with `…`, so a hostile or odd guest name cannot split a row
or widen every line. `--json` prints every entry exactly as logged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from .. import fmt
from ..actions import AuditLog
from .apply import whole
from .common import add_demo_args

# widest cell per column before it is cut; the command, last, gets what a terminal has left
# (at least 40), or 200 characters when the listing goes to a file or a pipe
_WIDTH = {"ID": 8, "TIME": 19, "USER": 16, "RESULT": 40, "ACTION": 16, "TARGET": 32}
_MIN_COMMAND, _PIPED_COMMAND = 40, 200


def register(subparsers: Any) -> None:
    lp = subparsers.add_parser("log", help="list the audit log of tuning actions",
                               description="List the audit log, oldest first: every attempt, applied or not "
                                           "(dry runs included). Real hosts share one log; the demo host "
                                           "has its own: list it with --demo.")
    lp.add_argument("--json", action="store_true", help="print the entries as JSON lines, exactly as logged")
    lp.add_argument("-n", "--last", type=whole, metavar="N", help="only the last N entries")
    lp.add_argument("--log", metavar="FILE", default=None,
                    help="audit log to read (default $XDG_STATE_HOME/kvmtune/actions.log, "
                         "or the demo's with --demo)")
    g = lp.add_argument_group("demo")
    add_demo_args(g, demo_help="the demo host's log (kept apart from real hosts'), "
                               "not the real hosts' log")
    lp.set_defaults(func=cmd_log)


def _path(args: argparse.Namespace) -> str | None:
    if args.log is not None or not getattr(args, "demo", False):
        return str(args.log) if args.log is not None else None
    from ..demo.persist import LOG_FILE, demo_dir
    return str(demo_dir(args.seed, getattr(args, "demo_guests", None)) / LOG_FILE)


def cell(value: object, width: int) -> str:
    """One line of at most `width` characters: control characters (and backslashes) escaped, the rest cut with …"""
    text = "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii")
                   for c in str(value))
    return text if len(text) <= width else text[:width - 1] + "…"


def cmd_log(args: argparse.Namespace) -> int:
    log = AuditLog(_path(args))
    every = log.entries()
    entries = every
    if args.last is not None:
        entries = every[-args.last:] if args.last else []
    if args.json:
        for e in entries:
            print(json.dumps(e))
        return 0
    if not entries:
        print(f"0 of {len(every)} entries shown ({log.path})" if every else f"no actions logged yet ({log.path})")
        return 0
    rows = [tuple(_WIDTH) + ("COMMAND",)]
    for e in entries:
        when = e.get("time")
        t = fmt.clock(when)
        result = str(e.get("result", "?")) + (f" (undo #{e['undo_of']})" if e.get("undo_of") else "")
        cmds = e.get("commands") or []
        cmd = (str(cmds[0]) + (f" (+{len(cmds) - 1})" if len(cmds) > 1 else "")) if cmds else ""
        rows.append((str(e.get("id", "?")), t, str(e.get("user", "?")), result, str(e.get("action", "?")),
                     str(e.get("target", "?")), cmd))
    rows = [tuple(cell(c, w) for c, w in zip(r, _WIDTH.values())) + (r[-1],) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    room = (max(_MIN_COMMAND, shutil.get_terminal_size().columns - sum(widths) - 2 * len(widths))
            if sys.stdout.isatty() else _PIPED_COMMAND)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + cell(r[-1], room))
    if len(entries) < len(every):
        print(f"({len(entries)} of {len(every)} entries shown)")
    return 0
