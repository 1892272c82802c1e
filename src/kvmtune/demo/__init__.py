"""The bundled demo host: a simulated 4-node KVM hypervisor for `kvmtune --demo`.

`open_demo()` returns a DemoSource whose `fs` is a sys/+proc/ tree in a temp directory
and whose `hv` implements the Hypervisor interface on simulated guests; collectors and
actions use it unchanged. `DemoFeed` is the demo's feed: each `next()` steps the
simulation by a fixed interval of simulated time and stamps the snapshot with that clock,
so one seed always gives the same snapshots.

The demo's audit log is its own (persist.demo_dir), never the real hosts'. With
`persist=True` (the CLI and the TUI) the demo is one host across processes: its settings
are kept in a state file there (persist.py); tests that build it directly get a fresh one.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..collect import Collector
from ..feed import LiveFeed
from ..hostfs import HostFS
from ..model import Snapshot
from ..source import Source
from .persist import LOG_FILE, STATE_FILE, DemoState, demo_dir
from .simulator import DT, Simulator

__all__ = ["DT", "DemoFeed", "DemoSource", "Simulator", "open_demo"]


@dataclass(eq=False)
class DemoSource(Source):
    sim: Simulator = field(default=None, repr=False)  # type: ignore[assignment]

    def changed(self) -> str | None:
        try:
            self.sim.save()
        except OSError as e:
            where = self.sim.state.path if self.sim.state is not None else "the demo"
            return f"but the demo could not keep it: cannot write {where}: {e.strerror or e}"
        return None

    def close(self) -> None:
        self.sim.close()


class DemoFeed(LiveFeed):
    """The demo host's snapshots: the simulation steps DT seconds before each one."""

    def __init__(self, source: DemoSource, collector: Collector | None = None):
        sim = source.sim
        super().__init__(source, collector if collector is not None
                         else Collector(source, clock=lambda: sim.clock))
        self.sim = sim

    def next(self) -> Snapshot:
        self.sim.step()
        return super().next()


def open_demo(seed: int = 1, guests: int | None = None, persist: bool = False) -> DemoSource:
    """The demo host: the showcase guests, or `guests` generated ones (scale mode). With
    `persist`, the settings saved by earlier processes (DemoStateError when that file
    cannot be used), saved again after each action."""
    d = demo_dir(seed, guests)
    state = DemoState(d / STATE_FILE, seed, guests) if persist else None
    sim = Simulator(seed=seed, guests=guests, state=state)
    weakref.finalize(sim, sim.close)    # the temp tree goes even if nobody calls close()
    label = "demo" if guests is None else f"demo ({guests} guests)"
    cli = ("--demo",) + (("--seed", str(seed)) if seed != 1 else ()) + \
          (("--demo-guests", str(guests)) if guests is not None else ())
    return DemoSource(HostFS(sim.root), sim.hv, label, log_path=str(d / LOG_FILE), cli_args=cli,
                      perf_backend=sim.perf, sim=sim)
