"""The demo host's per-node allocation counters (nodeN/numastat), as the kernel counts them.

Each step every running guest allocates pages (more the busier its vCPUs) on the nodes its
memory is on. An allocation is a hit where its policy wanted that node (its numatune nodeset,
else the node its vCPUs run on), else a miss there and a foreign on the node it wanted;
local or other by where the vCPUs run. The host itself allocates locally on every node.
"""

from __future__ import annotations

from .. import cpuset
from . import scenario as sc
from .state import SimGuest

HOST_PAGES_S = 900.0       # the host's own allocations per node per second (page cache, slab)
GUEST_PAGES_S = 150.0      # a guest's with idle vCPUs
PER_BUSY_VCPU = 2500.0     # and per busy vCPU
START_SECONDS = 41 * 86400.0   # counted since the host booted (dynamics.HOST_UPTIME)


class NodeAllocs:
    def __init__(self) -> None:
        start = HOST_PAGES_S * START_SECONDS
        self.counts: list[dict[str, float]] = [
            {"numa_hit": start * (1.3 + 0.1 * n), "numa_miss": start * 0.002 * n, "numa_foreign": start * 0.001,
             "interleave_hit": 28_000.0 + 400 * n, "local_node": start * (1.29 + 0.1 * n),
             "other_node": start * (0.01 + 0.002 * n)} for n in range(sc.NODES)]

    def advance(self, guests: list[SimGuest], dt: float) -> None:
        for c in self.counts:
            c["numa_hit"] += HOST_PAGES_S * dt
            c["local_node"] += HOST_PAGES_S * dt
        for g in guests:
            ram = sum(g.anon.values())
            if ram <= 0:
                continue
            here = sorted({sc.cpu_node(c) for c in g.vcpu_cpu})
            nt = g.live.numatune
            wanted = ({n for n in cpuset.parse(nt.nodeset) if n < sc.NODES} if nt is not None and nt.nodeset
                      else set()) or set(here)
            pages = (GUEST_PAGES_S + PER_BUSY_VCPU * sum(g.vcpu_load)) * dt
            for node, kib in g.anon.items():
                p = pages * kib / ram
                c = self.counts[node]
                if node in wanted:
                    c["numa_hit"] += p
                else:
                    c["numa_miss"] += p
                    self.counts[min(wanted)]["numa_foreign"] += p
                c["local_node" if node in here else "other_node"] += p

    def text(self, node: int) -> str:
        return "".join(f"{k} {int(v)}\n" for k, v in self.counts[node].items())
