"""Per-tick cost of collection on the demo host, for N = 10, 100, 1000 guests.

Prints a table (no pass/fail): wall and CPU time of one collection (the simulator's own
step, which the demo feed takes before each collection, timed apart and left out), per guest, peak RSS, and how many
hypervisor-interface calls a tick makes (on a real host, each is a libvirt call).
Each N runs in its own process so peak RSS is its own. Goal: <= 150 us of kvmtune's own
CPU per guest per tick, growing linearly in N.

    python bench/tick_cost.py [--ticks 20] [--sizes 10,100,1000] [--profile N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise

GOAL_US = 150.0


class CountingHypervisor:
    """A thin wrapper that counts calls to the hypervisor interface, by method."""

    def __init__(self, hv):
        self._hv = hv
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name):
        attr = getattr(self._hv, name)
        if not callable(attr):
            return attr

        def counted(*args, **kw):
            self.calls[name] += 1
            return attr(*args, **kw)
        return counted


def measure(n: int, ticks: int, profile: bool = False) -> dict:
    from kvmtune.advise import evaluate
    from kvmtune.collect import Collector
    from kvmtune.demo import open_demo
    from kvmtune.frame import Framer
    from kvmtune.source import Source

    t = time.perf_counter()
    demo = open_demo(seed=1, guests=n)
    build_s = time.perf_counter() - t
    hv = CountingHypervisor(demo.hv)
    # The demo feed's tick is sim.step() then collect(): the step is timed apart and left out.
    col = Collector(Source(demo.fs, hv, demo.label), clock=lambda: demo.sim.clock)  # type: ignore[arg-type]
    try:
        demo.sim.step()
        t = time.perf_counter()
        framer = Framer(findings=False)   # rates and history as a frame has them; evaluate timed apart
        framer.push(col.collect())      # the first tick reads every guest's settings: reported apart
        first_s = time.perf_counter() - t
        hv.calls.clear()
        wall = cpu = step = advise = 0.0
        prof = cProfile.Profile() if profile else None
        for _ in range(ticks):
            s0 = time.perf_counter()
            demo.sim.step()
            w0, c0 = time.perf_counter(), time.thread_time()
            if prof:
                prof.enable()
            snap = col.collect()
            if prof:
                prof.disable()
            w1, c1 = time.perf_counter(), time.thread_time()
            # thread_time: this thread only (not the demo's sysfs watcher)
            wall += w1 - w0
            cpu += c1 - c0
            step += w0 - s0
            frame = framer.push(snap)
            a0 = time.thread_time()
            evaluate(frame.snap, frame.prev, frame.rates, frame.history)   # what Framer adds per snapshot
            advise += time.thread_time() - a0
        calls = dict(hv.calls)
    finally:
        demo.close()
    out = {"n": n, "build_s": build_s, "first_s": first_s, "wall_s": wall / ticks, "cpu_s": cpu / ticks,
           "step_s": step / ticks, "advise_s": advise / ticks, "calls": sum(calls.values()) / ticks,
           "by_call": {k: v / ticks for k, v in sorted(calls.items())},
           "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if prof:
        s = pstats.Stats(prof)
        s.sort_stats("cumulative").print_stats(25)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description="Per-tick collection cost on the demo host.")
    p.add_argument("--ticks", type=int, default=20, help="ticks measured per size (default 20)")
    p.add_argument("--sizes", default="10,100,1000", help="guest counts (default 10,100,1000)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)          # child: one size, JSON out
    p.add_argument("--profile", type=int, metavar="N", help="print a cProfile of N guests' ticks")
    a = p.parse_args()
    if a.profile:
        measure(a.profile, a.ticks, profile=True)
        return 0
    if a.one:
        print(json.dumps(measure(a.one, a.ticks)))
        return 0
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--ticks", str(a.ticks)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"demo host, {a.ticks} ticks per size; times per tick, simulator step excluded")
    head = (f"{'guests':>7} {'wall ms':>8} {'cpu ms':>7} {'cpu us/guest':>13} {'hv calls':>9} "
            f"{'calls/guest':>11} {'step ms':>8} {'1st tick ms':>11} {'build s':>8} {'peak RSS MiB':>13}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n']:>7} {r['wall_s'] * 1e3:>8.1f} {r['cpu_s'] * 1e3:>7.1f} "
              f"{r['cpu_s'] * 1e6 / r['n']:>13.0f} {r['calls']:>9.1f} {r['calls'] / r['n']:>11.2f} "
              f"{r['step_s'] * 1e3:>8.1f} {r['first_s'] * 1e3:>11.1f} {r['build_s']:>8.2f} {r['rss_mib']:>13.0f}")
    print()
    print("the advisor (advise.evaluate, once per frame; not in the figures above):")
    for r in rows:
        share = r["advise_s"] / (r["cpu_s"] + r["advise_s"]) if r["cpu_s"] + r["advise_s"] else 0.0
        print(f"  N={r['n']}: {r['advise_s'] * 1e3:.1f} ms CPU per tick, {r['advise_s'] * 1e6 / r['n']:.0f} us "
              f"per guest, {share:.0%} of collection + advice")
    print()
    print("hypervisor calls per tick, by method:")
    for r in rows:
        print(f"  N={r['n']}: " + ", ".join(f"{k} {v:g}" for k, v in r["by_call"].items()))
    if len(rows) > 1:
        # Per-guest cost as the slope between sizes: the host's own part (64 CPUs, nodes,
        # pools) is a fixed cost that would otherwise inflate the small-N figure.
        slopes = [(b["cpu_s"] - a["cpu_s"]) / (b["n"] - a["n"]) * 1e6 for a, b in pairwise(rows)]
        fixed = (rows[0]["cpu_s"] - slopes[0] * 1e-6 * rows[0]["n"]) * 1e3
        print()
        print("marginal CPU per guest: " + ", ".join(
            f"N {a['n']}->{b['n']}: {s_:.0f} us" for (a, b), s_ in zip(pairwise(rows), slopes))
            + f"; fixed host part about {fixed:.1f} ms")
        ratio = slopes[-1] / slopes[0] if slopes[0] > 0 else float("inf")
        print(f"slope ratio last/first {ratio:.2f} ({'linear' if 0.67 <= ratio <= 1.5 else 'NOT linear'})")
        worst = max(slopes)
        print(f"per-guest CPU {worst:.0f} us vs goal {GOAL_US:.0f} us: {'met' if worst <= GOAL_US else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
