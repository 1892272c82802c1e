"""The bundled demo host: a simulated 4-node KVM hypervisor for `kvmtune --demo`.

`open_demo()` returns a DemoSource whose `fs` is a sys/+proc/ tree in a temp directory
and whose `hv` implements the Hypervisor interface on simulated guests; collectors and
actions use it unchanged. `DemoFeed` is the demo's feed: each `next()` steps the
simulation by a fixed interval of simulated time and stamps the snapshot with that clock,
so one seed always gives the same snapshots.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..collect import Collector
from ..feed import LiveFeed
from ..hostfs import HostFS
from ..model import Snapshot
from ..source import Source
from .simulator import DT, Simulator

__all__ = ["DT", "DemoFeed", "DemoSource", "Simulator", "open_demo"]


@dataclass(eq=False)
class DemoSource(Source):
    sim: Simulator = field(default=None, repr=False)  # type: ignore[assignment]

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


def open_demo(seed: int = 1, guests: int | None = None) -> DemoSource:
    """The demo host: the showcase guests, or `guests` generated ones (scale mode)."""
    sim = Simulator(seed=seed, guests=guests)
    weakref.finalize(sim, sim.close)    # the temp tree goes even if nobody calls close()
    label = "demo" if guests is None else f"demo ({guests} guests)"
    return DemoSource(HostFS(sim.root), sim.hv, label, sim)
