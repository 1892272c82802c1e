"""The bundled demo host: a simulated 4-node KVM hypervisor for `kvmtune --demo`.

`open_demo()` returns a Source whose `fs` is a sys/+proc/ tree in a temp directory and
whose `hv` implements the Hypervisor interface on simulated guests; collectors and
actions use it unchanged. Each `before_tick()` steps the simulation by a fixed interval
of simulated time, and `now()` is that clock, so one seed always gives the same snapshots.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..hostfs import HostFS
from ..source import Source
from .simulator import DT, Simulator

__all__ = ["DT", "DemoSource", "Simulator", "open_demo"]


@dataclass(eq=False)
class DemoSource(Source):
    sim: Simulator = field(default=None, repr=False)

    def before_tick(self) -> None:
        self.sim.step()

    def now(self) -> float:
        return self.sim.clock

    def close(self) -> None:
        self.sim.close()


def open_demo(seed: int = 1, guests: int | None = None) -> DemoSource:
    """The demo host: the showcase guests, or `guests` generated ones (scale mode)."""
    sim = Simulator(seed=seed, guests=guests)
    weakref.finalize(sim, sim.close)    # the temp tree goes even if nobody calls close()
    label = "demo" if guests is None else f"demo ({guests} guests)"
    return DemoSource(HostFS(sim.root), sim.hv, label, sim)
