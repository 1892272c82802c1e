"""`kvmtune` without a command: the full-screen view."""

from __future__ import annotations

import argparse

from .common import CliError, open_feed


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from ..ui.app import TerminalWatch, run_app
    except ImportError as e:
        raise CliError(f"the full-screen view is not available in this build ({e})", 1) from None
    # from here to the feed's close a hangup (SIGHUP, EOF on stdin, the tty gone) or SIGTERM
    # ends the view cleanly instead of unwinding from wherever it lands (ui/terminal.py)
    with TerminalWatch() as watch:
        feed = open_feed(args)
        try:
            return run_app(feed, args, watch)
        finally:
            feed.close()
