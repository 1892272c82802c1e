"""The TUI on the demo is the same host the CLI tunes (`kvmtune --demo`, opened the way the
command opens it): it shows what `apply --demo` changed before it started, what it applies
the CLI sees, and what the CLI undoes it shows at its next refresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from uikit import idle, next_tick, ready, wait_for

from kvmtune.actions import Executor
from kvmtune.cli import build_parser
from kvmtune.cli.common import open_feed
from kvmtune.feed import Feed
from kvmtune.ui.app import KvmtuneApp
from kvmtune.ui.forms import ActionForm
from kvmtune.ui.screens import ConfirmScreen

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]

SRC = str(Path(__file__).resolve().parents[2] / "src")


def kv(*args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "kvmtune.cli", *args], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": SRC}, timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def tui(argv: list[str]) -> tuple[KvmtuneApp, Feed]:
    """What `kvmtune ARGV` starts (cli/tui.py -> ui.app.run_app), short of running it."""
    args = build_parser().parse_args(argv)
    feed = open_feed(args)
    ex = Executor(feed.source, read_only=args.read_only, dry_run=args.dry_run)
    return KvmtuneApp(feed, ex, interval=3600.0, read_only=args.read_only, dry_run=args.dry_run), feed


async def test_the_tui_and_the_cli_tune_one_demo_host(state_home):
    kv("apply", "vcpupin", "web-01", "all", "8-11", "--demo", "--yes")
    app, feed = tui(["--demo"])
    try:
        await _session(app, state_home)
    finally:
        feed.close()
    assert not (state_home / "kvmtune" / "actions.log").exists()     # the real hosts' log: untouched


async def _session(app: KvmtuneApp, state_home: Path) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert [v.affinity for v in app.snap.guest("web-01").vcpus] == [(8, 9, 10, 11)] * 4
        assert app.snap.host.ksm.run == 1
        await pilot.press("k")                         # KSM off, through the form
        await wait_for(pilot, lambda: isinstance(app.screen, ActionForm), what="the KSM form")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app._busy, what="the action")
        if isinstance(app.screen, ConfirmScreen):
            await pilot.press("y")
        await idle(pilot, app)
        assert "applied: ksm host" in app.status_text
        # the CLI sees the TUI's change, and its log entry in the demo's log
        assert json.loads(kv("snapshot", "--demo", "--json"))["host"]["ksm"]["run"] == 0
        entries = [json.loads(line) for line in kv("log", "--demo", "--json").splitlines()]
        assert [(e["id"], e["action"]) for e in entries] == [(1, "vcpupin"), (2, "ksm")]
        assert app.executor.log.path == state_home / "kvmtune" / "demo" / "seed-1" / "actions.log"
        # the CLI undoes the TUI's change: the TUI shows it at its next refresh
        kv("undo", "--demo")
        await next_tick(pilot, app)
        assert app.snap.host.ksm.run == 1
        await pilot.press("q")
