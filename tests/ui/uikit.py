"""Helpers for the UI tests: build the app on the demo host, wait for snapshots."""

from __future__ import annotations

import asyncio


def demo_app(read_only: bool = False, dry_run: bool = False, interval: float = 3600.0,
             seed: int = 1, guests: int | None = None, settings_budget: bool = False, **kw):
    """The app on a fresh demo host's feed with a real Executor (interval long: tests poll by hand;
    the header's sample age on a frozen clock: 0.0s, the same in every picture). Every poll
    reads every guest's settings unless `settings_budget`: what a picture shows, or how many
    ticks it took, must not depend on how fast the machine is (the budget's own test asks)."""
    kw.setdefault("clock", lambda: 0.0)
    from kvmtune.actions import Executor
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.ui.app import KvmtuneApp
    src = open_demo(seed=seed, guests=guests)
    ex = Executor(src, read_only=read_only, dry_run=dry_run)
    feed = DemoFeed(src)
    if not settings_budget:
        feed.budget_settings = lambda seconds: None
    return KvmtuneApp(feed, ex, interval=interval, read_only=read_only, dry_run=dry_run, **kw)


async def wait_for(pilot, cond, timeout: float = 15.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def next_tick(pilot, app, poll: bool = True) -> None:
    """Start a poll (unless one is armed already) and wait until its snapshot is shown."""
    n = app.ticks
    if poll:
        app.start_poll()
    await wait_for(pilot, lambda: app.ticks > n and not app._polling, what="a snapshot")
    await pilot.pause()


async def ready(pilot, app, ticks: int = 2) -> None:
    """Wait for the first snapshot with every guest's settings (the first poll reads them
    for SETTINGS_BUDGET_S[0] only: a loaded machine may leave some to the next polls), then
    take more until there are `ticks` (rates need two)."""
    await wait_for(pilot, lambda: app.ticks >= 1 and not app._polling and not app.pending,
                   what="the first snapshot with every guest's settings")
    while app.ticks < ticks:
        await next_tick(pilot, app)
    await pilot.pause()


async def idle(pilot, app) -> None:
    """Wait until no action is running and no poll is in flight."""
    await wait_for(pilot, lambda: not app._busy and not app._polling, what="the app to be idle")
    await pilot.pause()


async def select(pilot, app, name: str) -> None:
    """Select guest `name` in the table and check the app sees it selected."""
    from kvmtune.ui.table import GuestTable
    app.query_one(GuestTable).select(name)
    await pilot.pause()
    assert app.selected_guest().name == name
