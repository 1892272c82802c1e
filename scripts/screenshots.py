#!/usr/bin/env python3
"""`make screenshots`: SVGs of the guest table, each detail pane, the host view (its top and its
end: distances and numastat), the pin picker (and its one-CPU-each map), the sort list, the help,
a wide terminal (two panes side by side) and a zoomed pane, rendered headless from the demo host
with a fixed seed into screenshots/.

The demo's clock is simulated and the app polls only when told here, so the same seed
gives the same pictures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


async def shoot(out: Path, seed: int, size: tuple[int, int]) -> list[Path]:
    from kvmtune.actions import Executor
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.ui.app import KvmtuneApp
    from kvmtune.ui.panes import PANES

    src = open_demo(seed=seed)
    feed = DemoFeed(src)
    feed.collector.perf.enable(True)   # as with --perf: pane 7 shows the (simulated) counters
    app = KvmtuneApp(feed, Executor(src), interval=3600, clock=lambda: 0.0)   # (the header's age: 0.0s)
    written: list[Path] = []

    async def settle(pilot) -> None:
        while app._polling or app._busy:
            await pilot.pause(0.02)
        await pilot.pause()

    def save(name: str) -> None:
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
        written.append(path)

    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for _ in range(2):            # two snapshots: rates need a pair
            app.start_poll()
            await settle(pilot)
        await pilot.press("down", "down")   # build-runner: a guest with something to fix
        await settle(pilot)
        save("table")
        for i, (key, _) in enumerate(PANES):
            await pilot.press(str(i + 1))
            await settle(pilot)
            save(f"pane-{i + 1}-{key}")
        await pilot.press("1", "H")
        await pilot.pause(0.6)
        save("host-view")
        await pilot.press("end")            # its end: the node distances and numastat per second
        await pilot.pause(0.3)
        save("host-view-numastat")
        await pilot.press("escape", "p", "space", "right", "space")
        await settle(pilot)
        save("pin-picker")
        await pilot.press("escape")
        await settle(pilot)
        # one CPU each: web-01 (4 vCPUs, none pinned) onto the free CPUs of its best node, the map shown
        await pilot.press("end", "up")
        await pilot.press("p", "shift+tab", "shift+tab", "right")
        await settle(pilot)
        save("pin-one-each")
        await pilot.press("escape", "home", "down", "down")
        await settle(pilot)
        await pilot.press("greater_than_sign", "down", "down", "down")   # the Sort-by list on CPU%
        await pilot.pause()
        save("sort-picker")
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        save("help")
        await pilot.press("escape")
        await pilot.resize_terminal(200, 50)   # wide: NUMA memory beside the vCPUs
        await pilot.press("2")
        await settle(pilot)
        save("wide-200x50")
        await pilot.resize_terminal(80, 24)    # f: the pane on the full screen of a small terminal
        await pilot.press("f")
        await settle(pilot)
        save("pane-zoomed-80x24")
        await pilot.press("f")
    src.close()
    return written


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "screenshots"), help="folder for the SVGs")
    p.add_argument("--seed", type=int, default=1, help="demo seed (default 1)")
    p.add_argument("--size", default="120x36", help="terminal COLSxROWS (default 120x36)")
    args = p.parse_args()
    cols, rows = (int(x) for x in args.size.lower().split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the audit log of this run is thrown away with its temp dir
    with tempfile.TemporaryDirectory() as state:
        os.environ["XDG_STATE_HOME"] = state
        for path in asyncio.run(shoot(out, args.seed, (cols, rows))):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
