#!/usr/bin/env python3
"""UI-thread cost with 1000 demo guests (a benchmark: prints figures, never fails).

0. The first screen: from building the demo host to the first table painted (the demo
   host's own build, the first collection with every guest's settings, the paint), with
   the imports timed apart — issue 17's goal is <= 1.0 s; and the peak RSS (goal 150 MiB).
1. A refresh: the time the UI thread spends taking a new snapshot (rates, header, guest
   table, visible pane) — issue 17's goal is <= 25 ms including Textual's paint.
2. Key latency while a poll runs: a pane key pressed while the collector thread works,
   until the pane shows — issue 17's goal is <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time


async def bench(guests: int, rounds: int) -> None:
    t_import = time.perf_counter()
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.frame import HISTORY
    from kvmtune.ui.app import KvmtuneApp
    from kvmtune.ui.panes import PANES
    from kvmtune.ui.table import GuestTable, row_values

    t_start = time.perf_counter()
    feed = DemoFeed(open_demo(seed=1, guests=guests))
    t_host = time.perf_counter()
    app = KvmtuneApp(feed, None, interval=3600)

    def frame_and_rows():
        # what the poll worker does off the UI thread
        app.let_go()
        f = app.framer.push(feed.next())
        return f, {g.name: row_values(g, f) for g in f.snap.guests}

    # the first screen is up when the guest table first paints rows (not when the polls
    # are done: the one right after it reads the settings it had no time for, and waiting
    # for that one counted a second more here)
    painted: list[float] = []
    render_lines = GuestTable.render_lines

    def timed_render_lines(table, crop):
        out = render_lines(table, crop)
        if table.row_count and not painted:
            painted.append(time.perf_counter())
        return out
    GuestTable.render_lines = timed_render_lines
    async with app.run_test(size=(160, 50)) as pilot:
        # (asyncio.sleep, not pilot.pause: each pause posts a message to every widget and
        # waits for them, 0.4 s of the UI thread's CPU over this wait, taken from the poll)
        while not painted:
            await asyncio.sleep(0.02)
        GuestTable.render_lines = render_lines
        t_first = painted[0]
        first_pending = app.pending
        # the polls right after the first screen read the settings it had no time for
        while app.pending or app._polling:
            await asyncio.sleep(0.02)
        t_settled = time.perf_counter()
        settle_ticks = app.ticks
        # one frame at a time, as the poll worker hands them over: holding all of them (a
        # snapshot and 1000 rows each) had put the benchmark's own memory into the peak RSS
        app._show(*await asyncio.to_thread(frame_and_rows))
        await pilot.pause()

        # painted: the screen's next compositor update after the show, timed where it ends
        # (not pilot.pause(), whose messages to every widget cost the UI thread 10-20 ms more)
        screen = app.screen
        updates: list[tuple[float, float]] = []
        compositor_refresh = screen._compositor_refresh

        def timed_refresh() -> None:
            compositor_refresh()
            updates.append((time.perf_counter(), time.thread_time()))
        screen._compositor_refresh = timed_refresh
        refresh, paint, paint_cpu = [], [], []
        for _ in range(rounds):
            f = await asyncio.to_thread(frame_and_rows)
            await asyncio.sleep(0.1)
            updates.clear()
            c0 = time.thread_time()
            t0 = time.perf_counter()
            app._show(*f)                      # all the UI thread does with a new snapshot
            t1 = time.perf_counter()
            while not updates:                 # Textual paints the changes
                await asyncio.sleep(0.001)
            t2, c2 = updates[0]
            refresh.append(t1 - t0)
            paint.append(t2 - t0)
            paint_cpu.append(c2 - c0)          # the UI thread's CPU: its real work
        screen._compositor_refresh = compositor_refresh
        await pilot.pause()
        rows = app.query_one(GuestTable).row_count
        frames_made = app.ticks   # (the bench's own frames are shown too)

        sort, sort_cpu = [], []
        for _ in range(3):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            await pilot.press("s")             # a new order of every row
            sort.append(time.perf_counter() - t0)
            sort_cpu.append(time.thread_time() - c0)

        # key latency: from the key event to the new pane's text being set
        shown: list[float] = []
        render = app._render_pane

        def timed_render() -> None:
            render()
            shown.append(time.perf_counter())
        app._render_pane = timed_render
        latency = []
        unrendered = 0   # presses whose pane never rendered: counted, not dropped from the figures
        for i in range(rounds):
            app.start_poll()                   # a real poll in its thread worker
            await asyncio.sleep(0.1)
            busy = app._polling
            shown.clear()
            t0 = time.perf_counter()
            await pilot.press(str((i % (len(PANES) - 1)) + 2))
            while app._polling:
                await pilot.pause(0.05)
            if shown:
                latency.append((shown[0] - t0, busy))
            else:
                unrendered += 1
            await pilot.press("1")
    feed.close()

    def ms(xs):
        return f"median {statistics.median(xs) * 1000:6.1f} ms   max {max(xs) * 1000:6.1f} ms"

    print(f"guests: {guests} (table rows {rows}), rounds: {rounds}")
    print(f"first screen (goal <= 1.0 s): {t_first - t_start:.2f} s = demo host built {t_host - t_start:.2f} s"
          f" + first collection and paint {t_first - t_host:.2f} s   (imports before it: {t_start - t_import:.2f} s)")
    print(f"  ... {first_pending} guests' settings were still to read on it: all read "
          f"{t_settled - t_first:.2f} s later, over {settle_ticks - 1} more polls")
    print(f"peak RSS (goal <= 150 MiB): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
          f"   (after {frames_made} frames: the sparklines' history, {HISTORY} samples, is not full yet;"
          " the README has a full one's from the TUI)")
    print(f"table refresh, UI thread:                   {ms(refresh)}")
    print(f"  ... including Textual's paint, UI-thread CPU (goal <= 25 ms): {ms(paint_cpu)}")
    print(f"  ... including Textual's paint, wall until painted: {ms(paint)}")
    print(f"re-sort (new order of every row), key to screen: {ms(sort)}   UI-thread CPU {ms(sort_cpu)}")
    during = [t for t, busy in latency if busy]
    print(f"key latency while a poll runs (goal <= 50 ms): {ms(during or [t for t, _ in latency] or [0.0])}"
          f"   ({len(during)}/{len(latency)} presses landed during a poll)")
    print(f"key presses that never rendered their pane: {unrendered}/{rounds}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--guests", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as state:
        os.environ["XDG_STATE_HOME"] = state
        asyncio.run(bench(args.guests, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
