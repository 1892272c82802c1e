"""The `kvmtune` command: the TUI by default, plus `snapshot`, `apply`, `undo`, `log`.

Bad arguments print one line and exit 2 (argparse's own behaviour, kept short); an
unexpected failure prints one line, never a traceback, and exits 1.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading

from . import __version__
from .source import DEFAULT_URI, Source


class CliError(Exception):
    """A user-facing error: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_source_args(p: argparse.ArgumentParser, host_only: bool = False, sub: bool = True) -> None:
    """The options that say which host to look at; shared by every subcommand.

    On subcommands their defaults are suppressed so that `kvmtune --demo snapshot` and
    `kvmtune snapshot --demo` mean the same (argparse would reset the top-level value).
    """
    d = (lambda v: argparse.SUPPRESS) if sub else (lambda v: v)
    g = p.add_argument_group("host")
    g.add_argument("-c", "--connect", metavar="URI", default=d(None),
                   help=f"libvirt URI (default {DEFAULT_URI})")
    g.add_argument("--root", metavar="DIR", default=d("/"),
                   help="read DIR/sys and DIR/proc instead of the host's (default /)")
    g.add_argument("--demo", action="store_true", default=d(False),
                   help="use the bundled simulated demo host instead of a real one")
    g.add_argument("--demo-guests", metavar="N", type=_demo_guests, default=d(None),
                   help=f"with --demo: a demo host with N guests (scale mode, at most {MAX_DEMO_GUESTS})")
    g.add_argument("--seed", metavar="N", type=int, default=d(1),
                   help="with --demo: the simulation's seed (default 1)")
    if host_only:
        g.add_argument("--host-only", action="store_true", default=False,
                       help="skip libvirt: host figures only")


def int_at_least(lowest: int):
    """An argparse type: a whole number >= lowest, with a one-line message otherwise."""
    def convert(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < lowest:
            raise argparse.ArgumentTypeError(f"{text!r} must be {lowest} or more")
        return v
    return convert


MAX_DEMO_GUESTS = 5000


def _demo_guests(text: str) -> int:
    n = int_at_least(1)(text)
    if n > MAX_DEMO_GUESTS:
        raise argparse.ArgumentTypeError(f"{text!r}: the demo host holds at most {MAX_DEMO_GUESTS} guests")
    return n


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds more than 0")
    return v


def open_source(args: argparse.Namespace) -> Source:
    """The Source the options name: demo, or live (libvirt at --connect, files under --root)."""
    if getattr(args, "demo_guests", None) and not args.demo:
        raise CliError("--demo-guests needs --demo")
    if args.demo:
        if args.connect or args.root != "/":
            raise CliError("--demo cannot be combined with --connect or --root")
        from .demo import open_demo
        return open_demo(seed=args.seed, guests=args.demo_guests)
    from .hostfs import HostFS, HostFSError
    from .source import open_live
    try:
        HostFS(args.root)
    except HostFSError as e:
        raise CliError(f"--root: {e}") from None
    return open_live(args.connect or DEFAULT_URI, args.root, getattr(args, "host_only", False))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kvmtune",
                description="A top-style monitor and tuning console for KVM hosts run by libvirt. "
                            "Without a command it starts the full-screen view.")
    p.add_argument("--version", action="version", version=f"kvmtune {__version__}")
    add_source_args(p, sub=False)
    p.add_argument("--read-only", action="store_true", help="disable every tuning action")
    p.add_argument("--dry-run", action="store_true",
                   help="actions show their virsh equivalent and validation, and change nothing")
    p.add_argument("--interval", metavar="SECONDS", type=_positive_float, default=2.0,
                   help="refresh interval (default 2)")
    p.add_argument("--theme", metavar="NAME", default=None, help="colour theme (t cycles them)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("snapshot", help="print one snapshot of the host and its guests",
                       description="Print one snapshot: a compact report, or the v1 JSON contract.")
    s.add_argument("--json", action="store_true", help="print the kvmtune.snapshot/1 JSON")
    add_source_args(s, host_only=True)
    s.set_defaults(func=cmd_snapshot)

    from .actions.cli import register
    register(sub)
    return p


def cmd_snapshot(args: argparse.Namespace) -> int:
    from .collect import Collector
    from .report import render_report
    if args.demo and args.host_only:
        raise CliError("--host-only cannot be combined with --demo")
    source = open_source(args)
    try:
        snap = Collector(source).collect()
    finally:
        source.close()
    if args.json:
        print(snap.dumps(indent=2))
    else:
        print(render_report(snap), end="")
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from .ui.app import run_app
    except ImportError as e:
        raise CliError(f"the full-screen view is not available in this build ({e})", 1) from None
    source = open_source(args)
    try:
        return run_app(source, args)
    finally:
        source.close()


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # A dropped SSH session (SIGHUP) or a kill (SIGTERM) unwinds like an exit, so every
    # `finally: source.close()` runs (the demo's temp tree is removed, libvirt closed).
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _exit_on_signal)
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None) or cmd_tui
    try:
        return func(args)
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
    except Exception as e:  # a bug: one line for the user; KVMTUNE_DEBUG=1 shows the traceback
        if os.environ.get("KVMTUNE_DEBUG"):
            raise
        print(f"kvmtune: internal error: {type(e).__name__}: {e} (KVMTUNE_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
