"""What every command shares: the one-line error, the parser class, the host options,
argument types (made from inputs.py, the same functions the TUI forms use), and opening
the feed or source the options name."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from .. import inputs
from ..feed import Feed, LiveFeed
from ..source import DEFAULT_URI, Source

T = TypeVar("T")

MAX_DEMO_GUESTS = 5000


class CliError(Exception):
    """A user-facing error: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def argtype(parse: Callable[[str], T], name: str | None = None) -> Callable[[str], T]:
    """An argparse type from an inputs.py function: its ValueError becomes argparse's one line."""
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = name or parse.__name__
    return convert


def int_at_least(lowest: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= lowest, with a one-line message otherwise."""
    return argtype(inputs.at_least(lowest), "number")


def _demo_guests(text: str) -> int:
    n = int_at_least(1)(text)
    if n > MAX_DEMO_GUESTS:
        raise argparse.ArgumentTypeError(f"{text!r}: the demo host holds at most {MAX_DEMO_GUESTS} guests")
    return n


seconds = argtype(inputs.seconds, "seconds")


def add_source_args(p: argparse.ArgumentParser, host_only: bool = False, sub: bool = True) -> None:
    """The options that say which host to look at; shared by every subcommand.

    On subcommands their defaults are suppressed so that `kvmtune --demo snapshot` and
    `kvmtune snapshot --demo` mean the same (argparse would reset the top-level value).
    """
    def d(v: Any) -> Any:
        return argparse.SUPPRESS if sub else v
    g = p.add_argument_group("host")
    g.add_argument("-c", "--connect", metavar="URI", default=d(None),
                   help=f"libvirt URI (default {DEFAULT_URI})")
    g.add_argument("--root", metavar="DIR", default=d("/"),
                   help="read DIR/sys and DIR/proc instead of the host's (default /)")
    add_demo_args(g, sub, "use the bundled simulated demo host instead of a real one (one host across "
                          "kvmtune calls: what you change stays until `kvmtune demo-reset`)")
    if host_only:
        g.add_argument("--host-only", action="store_true", default=False,
                       help="skip libvirt: host figures only")


def add_demo_args(g: Any, sub: bool = True, demo_help: str | None = None) -> None:
    """--demo, --demo-guests and --seed: which demo host (each seed and size is its own)."""
    def d(v: Any) -> Any:
        return argparse.SUPPRESS if sub else v
    if demo_help is not None:
        g.add_argument("--demo", action="store_true", default=d(False), help=demo_help)
    g.add_argument("--demo-guests", metavar="N", type=_demo_guests, default=d(None),
                   help=f"with --demo: a demo host with N guests (scale mode, at most {MAX_DEMO_GUESTS})")
    g.add_argument("--seed", metavar="N", type=int_at_least(0), default=d(1),
                   help="with --demo: the simulation's seed (default 1)")


def add_perf_arg(p: Any, sub: bool = True) -> None:
    """--perf: count perf events per vCPU thread and per guest (needs root; off unless asked)."""
    p.add_argument("--perf", action="store_true", default=argparse.SUPPRESS if sub else False,
                   help="also count perf events (task-clock, context switches, migrations, faults; "
                        "hardware counters and KVM exits where the host has them); needs root")


def open_source(args: argparse.Namespace) -> Source:
    """The Source the options name: demo, or live (libvirt at --connect, files under --root)."""
    if getattr(args, "demo_guests", None) and not args.demo:
        raise CliError("--demo-guests needs --demo")
    if args.demo:
        if args.connect or args.root != "/":
            raise CliError("--demo cannot be combined with --connect or --root")
        from ..demo import open_demo
        from ..errors import DemoStateError
        try:   # the demo as earlier kvmtune calls left it
            return open_demo(seed=args.seed, guests=args.demo_guests, persist=True)
        except DemoStateError as e:
            raise CliError(str(e)) from None
    from ..hostfs import HostFS, HostFSError
    from ..source import open_live
    try:
        HostFS(args.root)
    except HostFSError as e:
        raise CliError(f"--root: {e}") from None
    return open_live(args.connect or DEFAULT_URI, args.root, getattr(args, "host_only", False))


def open_feed(args: argparse.Namespace) -> Feed:
    """The feed the options name: the demo host's (its clock steps per snapshot), or live."""
    if getattr(args, "perf", False) and getattr(args, "root", "/") != "/":
        raise CliError("--perf counts the live host's threads: it cannot be combined with --root")
    source = open_source(args)
    feed: LiveFeed
    if args.demo:
        from ..demo import DemoFeed, DemoSource
        assert isinstance(source, DemoSource)
        feed = DemoFeed(source)
    else:
        feed = LiveFeed(source)
    feed.collector.perf.enable(bool(getattr(args, "perf", False)))
    return feed
