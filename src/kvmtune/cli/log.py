"""`kvmtune log`: the audit log of tuning actions, oldest first."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..actions import AuditLog
from .apply import whole


def register(subparsers: Any) -> None:
    lp = subparsers.add_parser("log", help="list the audit log of tuning actions",
                               description="List the audit log, oldest first.")
    lp.add_argument("--json", action="store_true", help="print the entries as JSON lines")
    lp.add_argument("-n", "--last", type=whole, metavar="N", help="only the last N entries")
    lp.add_argument("--log", metavar="FILE", default=None, help="audit log to read")
    lp.set_defaults(func=cmd_log)


def cmd_log(args: argparse.Namespace) -> int:
    entries = AuditLog(args.log).entries()
    if args.last is not None:
        entries = entries[-args.last:] if args.last else []
    if args.json:
        for e in entries:
            print(json.dumps(e))
        return 0
    if not entries:
        print(f"no actions logged yet ({AuditLog(args.log).path})")
        return 0
    rows = [("ID", "TIME", "USER", "RESULT", "ACTION", "TARGET", "COMMAND")]
    for e in entries:
        when = e.get("time")
        t = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
             if isinstance(when, (int, float)) else "?")
        result = str(e.get("result", "?")) + (f" (undo #{e['undo_of']})" if e.get("undo_of") else "")
        cmds = e.get("commands") or []
        cmd = (cmds[0] + (f" (+{len(cmds) - 1})" if len(cmds) > 1 else "")) if cmds else ""
        rows.append((str(e.get("id", "?")), t, str(e.get("user", "?")), result, str(e.get("action", "?")),
                     str(e.get("target", "?")), cmd))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return 0
