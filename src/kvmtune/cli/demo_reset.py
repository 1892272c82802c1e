"""`kvmtune demo-reset`: the demo host back to how it ships."""

from __future__ import annotations

import argparse
from typing import Any

from .common import CliError, add_demo_args


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo-reset", help="restore the pristine demo host (forget what actions changed on it)",
        description="The demo host (--demo) is one host across kvmtune calls: what `apply --demo` changes "
                    "stays, for `snapshot --demo`, `undo --demo` and the full-screen view. This restores "
                    "the demo as it ships: it removes the saved settings and moves the demo's audit log "
                    "aside (to actions.log.old, replacing an older one), so nothing is offered for undo. "
                    "A demo view still open takes the reset at its next refresh. Each --seed and "
                    "--demo-guests is a demo of its own; this resets the one they name.")
    add_demo_args(p.add_argument_group("demo"))
    p.set_defaults(func=cmd_demo_reset)


def cmd_demo_reset(args: argparse.Namespace) -> int:
    from ..demo.persist import demo_dir, reset
    seed, guests = args.seed, getattr(args, "demo_guests", None)
    which = f"seed {seed}" + (f", {guests} guests" if guests is not None else "")
    try:
        done = reset(seed, guests)
    except OSError as e:
        raise CliError(f"cannot reset the demo ({which}): {e.filename or demo_dir(seed, guests)}: "
                       f"{e.strerror or e}", 1) from None
    if not done:
        print(f"the demo ({which}) is pristine already: nothing saved in {demo_dir(seed, guests)}")
        return 0
    for line in done:
        print(line)
    print(f"the demo ({which}) is pristine again")
    return 0
