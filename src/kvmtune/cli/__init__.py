"""The `kvmtune` command: the TUI by default, plus one module per subcommand.

Bad arguments print one line and exit 2 (argparse's own behaviour, kept short); an
unexpected failure prints one line, never a traceback, and exits 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from .. import __version__
from ..errors import VirtError
from . import advise, apply, demo_reset, dump, export, log, record, replay, snapshot, undo
from .common import CliError, Parser, add_perf_arg, add_source_args, seconds
from .tui import cmd_tui

__all__ = ["CliError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="kvmtune",
               description="A top-style monitor and tuning console for KVM hosts run by libvirt. "
                           "Without a command it starts the full-screen view.")
    p.add_argument("--version", action="version", version=f"kvmtune {__version__}")
    add_source_args(p, sub=False)
    add_perf_arg(p, sub=False)
    p.add_argument("--read-only", action="store_true", help="disable every tuning action")
    p.add_argument("--dry-run", action="store_true",
                   help="actions show their virsh equivalent and validation, and change nothing")
    p.add_argument("--interval", metavar="SECONDS", type=seconds, default=2.0,
                   help="refresh interval (default 2)")
    p.add_argument("--theme", metavar="NAME", default=None, help="colour theme (t cycles them)")
    p.add_argument("--record", metavar="FILE", default=None,
                   help="start recording to FILE (R in the view starts and stops; `kvmtune replay FILE`)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in (snapshot, advise, apply, undo, log, record, replay, dump, export, demo_reset):
        command.register(sub)
    return p


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# Options whose value may be a time before an end: `--from -1h` is what users type, and
# argparse would take "-1h" for an option.
_TIME_OPTIONS = ("--from", "--to", "--at")


def _glue_times(argv: list[str]) -> list[str]:
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _TIME_OPTIONS and len(arg) > 1 and arg[0] == "-" and arg[1].isdigit():
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    # A dropped SSH session (SIGHUP) or a kill (SIGTERM) unwinds like an exit, so every
    # `finally: feed.close()` runs (the demo's temp tree is removed, libvirt closed). The
    # full-screen view replaces these while it runs (ui/terminal.py): signal handlers run
    # in the main thread, which is Textual's event loop, and a SystemExit raised at a random
    # point of it can leave Textual's input thread running, so the process never exits.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _exit_on_signal)
    parser = build_parser()
    args = parser.parse_args(_glue_times(sys.argv[1:] if argv is None else argv))
    func = getattr(args, "func", None) or cmd_tui
    try:
        return int(func(args))
    except CliError as e:
        print(f"kvmtune: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # HostFSError, AuditLogError...: their text names the path and the reason
        print(f"kvmtune: {e}", file=sys.stderr)
        return 1
    except VirtError as e:  # e.g. libvirt-python missing: its text is fit to show and says the fix
        print(f"kvmtune: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: one line for the user; KVMTUNE_DEBUG=1 shows the traceback
        if os.environ.get("KVMTUNE_DEBUG"):
            raise
        print(f"kvmtune: internal error: {type(e).__name__}: {e} (KVMTUNE_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1
