"""The demo's dynamics: how the simulated host's figures move, and what a sysfs write changes.

`HostModel` holds the host-wide state (KSM, THP, NUMA balancing, hugepage pools, page
cache, per-CPU time) beside the guests, and `advance(dt)` moves it on: vCPU load and
placement, memory migration under numatune, KSM merging, throttled disk traffic, per-CPU
time. `read_back()` applies what an action wrote to the settings files, as the kernel
would (refusing what it refuses, resizing pools within free memory). All randomness comes
from the one seeded generator, in a fixed order: one seed gives one history.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from .. import cpuset
from ..vocab import (
    CLK_TCK,
    KSM_DIR,
    KSM_KNOBS,
    NUMA_BALANCING,
    PAGE_KIB,
    THP_DEFRAG_MODES,
    THP_DIR,
    THP_MODES,
    hugepage_dir,
)
from . import scenario as sc
from .numastat import NodeAllocs
from .state import ALL_CPUS, FLUSH_EVERY, QEMU_OVERHEAD_KIB, SimGuest, build, service_ns

T0 = 1_735_700_000.0          # the simulated clock at start (a fixed date: determinism)
HOST_UPTIME = 41 * 86400.0    # how long the simulated host has been up at T0
KSM_MAX_SCAN = 2_000_000      # pages/s: ksmd cannot go faster whatever the settings

# A file's text if something other than the simulator wrote it since it was last written, else None.
Changed = Callable[[str], str | None]


class HostModel:
    """The simulated host: its guests and the kernel's settings and figures."""

    def __init__(self, seed: int = 1, guests: int | None = None):
        self.rng = random.Random(seed)
        # NIC traffic has its own generator: the figures that came before it keep their history
        self.net_rng = random.Random(seed * 7919 + 1)
        specs = sc.showcase() if guests is None else sc.generated(guests, self.rng)
        self.guests: list[SimGuest] = []
        dom_id, pid = 0, 2300
        for spec in specs:
            if spec.running:
                dom_id += 1
                pid += self.rng.randrange(60, 400)
            self.guests.append(build(spec, self.rng, dom_id if spec.running else None,
                                     pid if spec.running else None))
            pid += 64   # room for the guest's threads
        taps = 0
        for g in self.running():   # libvirt names taps vnet0, vnet1, ... in start order
            for n in g.nics:
                if n.spec.type != "user":
                    n.dev, taps = f"vnet{taps}", taps + 1
        # Host settings an action may change by writing sysfs (read back every step). The scale
        # demo's host gets wrong what the showcase's gets right, and the reverse (KSM off, THP
        # never, no NUMA balancing, tuned running a general profile), so each of those checks
        # shows on one of the two.
        scale = guests is not None
        self.ksm: dict[str, int] = {"run": 0 if scale else 1, "pages_to_scan": 1000, "sleep_millisecs": 20,
                                    "merge_across_nodes": 1}
        self.ksm_full_scans = 37
        self.ksm_pages_scanned = 0.0
        self.ksm_progress = 0.0
        self._ksm_counted: dict[str, int] = {"pages_shared": 0, "pages_sharing": 0}
        self.thp: dict[str, str] = {"enabled": "never" if scale else "madvise", "defrag": "madvise"}
        self.numa_balancing = 0 if scale else 1
        # tuned's profile, and whether the daemon runs (never changed by an action)
        self.tuned: tuple[str, bool] = ("balanced", True) if scale else ("virtual-host", False)
        self.pools: dict[int, dict[int, int]] = {size: dict(per) for size, per in sc.POOLS.items()}
        for size, per in self.huge_used().items():      # scale mode: pools that hold the guests
            for node, used in per.items():
                self.pools.setdefault(size, {n: 0 for n in range(sc.NODES)})
                if self.pools[size][node] < used:
                    self.pools[size][node] = used + math.ceil(used / 10)
        self.page_cache: list[float] = [self.rng.uniform(3, 9) * sc.GIB for _ in range(sc.NODES)]
        self.cpu_ticks: list[list[float]] = [self._initial_ticks() for _ in range(sc.NCPUS)]
        self.allocs = NodeAllocs()   # nodeN/numastat (no random draws: the figures above keep theirs)
        scannable = sum(g.ram_kib() for g in self.running() if g.spec.hugepage_kib is None) / PAGE_KIB
        self.ksm_progress = scannable * self.rng.random()
        self.ksm_pages_scanned = scannable * self.ksm_full_scans + self.ksm_progress

    def _initial_ticks(self) -> list[float]:
        busy = self.rng.uniform(0.1, 0.4)
        total = HOST_UPTIME * CLK_TCK
        # user nice system idle iowait irq softirq steal guest guest_nice
        return [total * busy * 0.9, 0.0, total * busy * 0.08, total * (1 - busy) * 0.995,
                total * (1 - busy) * 0.005, 0.0, total * busy * 0.02, 0.0, total * busy * 0.8, 0.0]

    def running(self) -> list[SimGuest]:
        return [g for g in self.guests if g.running]

    def huge_used(self) -> dict[int, dict[int, int]]:
        """Hugepages the running guests hold: per page size, per node."""
        used: dict[int, dict[int, int]] = {}
        for g in self.running():
            if g.spec.hugepage_kib:
                per = used.setdefault(g.spec.hugepage_kib, {})
                for node, n in g.huge.items():
                    per[node] = per.get(node, 0) + n
        return used

    # -- stepping ------------------------------------------------------------------------------
    def advance(self, dt: float) -> None:
        rng = self.rng
        cpu_load = [0.0] * sc.NCPUS
        vcpu_load = [0.0] * sc.NCPUS
        for g in self.running():
            homes = _home_nodes(g)
            for i in range(g.spec.vcpus):
                load = g.vcpu_load[i] + rng.gauss(0, 0.05) + (g.spec.load - g.vcpu_load[i]) * 0.2
                g.vcpu_load[i] = load = min(1.0, max(0.0, load))
                aff = g.vcpu_affinity(i)
                cur = g.vcpu_cpu[i]
                # The scheduler keeps a thread where it may run, near its memory, and moves
                # unpinned ones now and then.
                if cur not in aff or (len(aff) > 1 and rng.random() < 0.1):
                    near: Sequence[int] = [c for c in aff if sc.cpu_node(c) in homes] or aff
                    g.vcpu_cpu[i] = cur = near[rng.randrange(len(near))]
                g.vcpu_ns[i] += load * dt * 1e9
                cpu_load[cur] += load
                vcpu_load[cur] += load
            emu = g.live.emulator_pin or ALL_CPUS
            if g.emu_cpu not in emu:
                near = [c for c in emu if sc.cpu_node(c) in homes] or emu
                g.emu_cpu = near[0]
            emu_load = 0.03 * sum(g.vcpu_load)
            g.emu_ns += emu_load * dt * 1e9
            cpu_load[g.emu_cpu] += emu_load
            self._migrate(g)
            self._disks(g, dt)
            self._nics(g, dt)
        self._ksm(dt)
        self.allocs.advance(self.running(), dt)
        for c, ticks in enumerate(self.cpu_ticks):
            busy = min(1.0, cpu_load[c] + 0.01)
            guest = min(vcpu_load[c], busy)
            ticks[0] += busy * 0.92 * dt * CLK_TCK
            ticks[2] += busy * 0.06 * dt * CLK_TCK
            ticks[6] += busy * 0.02 * dt * CLK_TCK
            ticks[3] += (1 - busy) * 0.995 * dt * CLK_TCK
            ticks[4] += (1 - busy) * 0.005 * dt * CLK_TCK
            ticks[8] += guest * 0.9 * dt * CLK_TCK
        for n in range(sc.NODES):
            self.page_cache[n] = min(12 * sc.GIB, max(2 * sc.GIB, self.page_cache[n] + rng.gauss(0, 16 * sc.MIB)))

    def _migrate(self, g: SimGuest) -> None:
        """Move the guest's memory toward where its numatune wants it, a few GiB per step;
        then hold it under its memtune hard_limit (the rest is swapped out)."""
        nt = g.live.numatune
        total = g.ram_kib()
        if nt is not None and nt.nodeset and total > 0:
            nodes = [n for n in cpuset.parse(nt.nodeset) if n < sc.NODES]
            if nt.mode == "interleave":
                want = {n: total / len(nodes) for n in nodes}
            else:
                targets = nodes[:1] if nt.mode == "preferred" else nodes
                inside = {n: g.anon.get(n, 0.0) for n in targets}
                outside = total - sum(inside.values())
                want = {n: v + outside / len(targets) for n, v in inside.items()}
            excess = {n: v - want.get(n, 0.0) for n, v in g.anon.items() if v > want.get(n, 0.0)}
            need = {n: w - g.anon.get(n, 0.0) for n, w in want.items() if w > g.anon.get(n, 0.0)}
            moving = sum(excess.values())
            if moving > PAGE_KIB:
                step = min(moving, max(sc.GIB, total / 3))
                for n, v in excess.items():
                    g.anon[n] -= step * v / moving
                for n, v in need.items():
                    g.anon[n] = g.anon.get(n, 0.0) + step * v / sum(need.values())
            elif excess:
                g.anon = {n: w for n, w in want.items()}
        limit = g.live.memtune.hard_limit_kib
        if limit and total > limit:
            scale = limit / total
            g.anon = {n: v * scale for n, v in g.anon.items()}

    def _disks(self, g: SimGuest, dt: float) -> None:
        """Traffic the guest asks for, capped by the disk's throttles like QEMU's leaky bucket."""
        rng = self.rng
        for d in g.disks:
            d.demand = min(2.0, max(0.2, d.demand + rng.gauss(0, 0.08) + (1 - d.demand) * 0.1))
            req = d.spec.req_kib * 1024
            r, w = d.spec.read_bps * d.demand, d.spec.write_bps * d.demand
            t = g.live.iotune.get(d.spec.target, {})
            if t.get("read_bytes_sec"):
                r = min(r, t["read_bytes_sec"] * rng.uniform(0.97, 1.0))
            if t.get("write_bytes_sec"):
                w = min(w, t["write_bytes_sec"] * rng.uniform(0.97, 1.0))
            if t.get("total_bytes_sec") and r + w > t["total_bytes_sec"]:
                f = t["total_bytes_sec"] / (r + w) * rng.uniform(0.97, 1.0)
                r, w = r * f, w * f
            rq, wq = r / req, w / req
            if t.get("read_iops_sec") and rq > t["read_iops_sec"]:
                r, rq = r * t["read_iops_sec"] / rq, t["read_iops_sec"]
            if t.get("write_iops_sec") and wq > t["write_iops_sec"]:
                w, wq = w * t["write_iops_sec"] / wq, t["write_iops_sec"]
            if t.get("total_iops_sec") and rq + wq > t["total_iops_sec"]:
                f = t["total_iops_sec"] / (rq + wq)
                r, w, rq, wq = r * f, w * f, rq * f, wq * f
            d.rd_bytes += r * dt
            d.wr_bytes += w * dt
            d.rd_reqs += rq * dt
            d.wr_reqs += wq * dt
            # requests held back by a throttle wait in QEMU's queue: their time grows with the demand cut
            wait = max(1.0, (d.spec.read_bps + d.spec.write_bps) * d.demand / max(r + w, 1.0))
            d.rd_ns += rq * dt * service_ns(d.spec, 1.0) * wait
            d.wr_ns += wq * dt * service_ns(d.spec, 1.3) * wait
            d.fl_reqs += wq * dt / FLUSH_EVERY
            d.fl_ns += wq * dt / FLUSH_EVERY * service_ns(d.spec, 2.0)

    def _nics(self, g: SimGuest, dt: float) -> None:
        """Traffic on each NIC with a host device; an emulated NIC (not virtio) drops a few
        of the packets it receives when busy."""
        rng = self.net_rng
        for n in g.nics:
            if n.dev is None:
                continue
            n.demand = min(2.0, max(0.2, n.demand + rng.gauss(0, 0.1) + (1 - n.demand) * 0.1))
            rx, tx = n.spec.rx_bps * n.demand * dt, n.spec.tx_bps * n.demand * dt
            n.rx_bytes += rx
            n.tx_bytes += tx
            n.rx_packets += rx / n.spec.packet
            n.tx_packets += tx / n.spec.packet
            if n.spec.model != "virtio":
                n.rx_drop += rx / n.spec.packet * 0.002 * n.demand

    def _ksm(self, dt: float) -> None:
        """ksmd: run=1 scans and merges (up to what each guest has in common), run=0 stops,
        run=2 unmerges everything."""
        run = self.ksm["run"]
        scannable = [g for g in self.running() if g.spec.hugepage_kib is None]
        if run == 2:
            for g in scannable:
                g.ksm_merging = 0.0
                g.ksm_scanned = 0.0
            return
        if run != 1:
            return
        rate = min(KSM_MAX_SCAN, self.ksm["pages_to_scan"] * 1000 / max(1, self.ksm["sleep_millisecs"]))
        scanned = rate * dt
        total = sum(g.ram_kib() for g in scannable) / PAGE_KIB
        if total <= 0:
            return
        self.ksm_pages_scanned += scanned
        self.ksm_progress += scanned
        if self.ksm_progress >= total:
            self.ksm_full_scans += int(self.ksm_progress // total)
            self.ksm_progress %= total
        for g in scannable:
            pages = g.ram_kib() / PAGE_KIB
            mine = scanned * pages / total
            g.ksm_scanned += mine
            target = pages * g.spec.ksm_share
            if g.ksm_merging < target:
                g.ksm_merging = min(target, g.ksm_merging + mine * g.spec.ksm_share * 0.5)

    # -- what actions wrote --------------------------------------------------------------------
    def read_back(self, changed: Changed) -> None:
        """Apply what was written to the settings files (`changed` gives a file's new text)."""
        # run first, so that a run=2 has unmerged before merge_across_nodes (EBUSY while pages
        # are merged) is judged
        for key in reversed(KSM_KNOBS):
            text = changed(f"{KSM_DIR}/{key}")
            v = _int_or_none(text)
            if v is None or v < 0:
                continue
            if (key == "run" and v > 2) or (key == "merge_across_nodes" and (v > 1 or self._ksm_merged())):
                continue   # the kernel refuses: EINVAL, or EBUSY while pages are merged
            self.ksm[key] = v
            if key == "run" and v == 2:
                self._ksm(0.0)             # the kernel unmerges right away
        words: tuple[str, ...]
        for key, words in (("enabled", THP_MODES), ("defrag", THP_DEFRAG_MODES)):
            text = changed(f"{THP_DIR}/{key}")
            if text is not None and text.strip().strip("[]") in words:
                self.thp[key] = text.strip().strip("[]")
        v = _int_or_none(changed(NUMA_BALANCING))
        if v is not None and 0 <= v <= 3:
            self.numa_balancing = v
        used = self.huge_used()
        for size in self.pools:
            u = used.get(size, {})
            for node in range(sc.NODES):
                v = _int_or_none(changed(f"{hugepage_dir(size, node)}/nr_hugepages"))
                if v is not None and v >= 0:
                    self._resize_pool(size, node, v, u.get(node, 0))
            v = _int_or_none(changed(f"{hugepage_dir(size)}/nr_hugepages"))
            if v is not None and v >= 0:
                self._resize_global(size, v, u)

    def _ksm_merged(self) -> bool:
        return any(g.ksm_merging >= 1 for g in self.guests)

    def _pool_room(self, size: int, node: int) -> int:
        """How many more pages of `size` the node can allocate (keeping 1 GiB for the kernel)."""
        return max(0, int((self.node_free(node) - sc.GIB) // size))

    def _resize_pool(self, size: int, node: int, want: int, used: int) -> None:
        # Pages in use cannot be freed; growth stops when the node runs out of memory.
        cur = self.pools[size][node]
        self.pools[size][node] = max(used, min(want, cur + self._pool_room(size, node)))

    def _resize_global(self, size: int, want: int, used: dict[int, int]) -> None:
        """Like the kernel: spread a global change over the nodes, round-robin."""
        pool = self.pools[size]
        diff = want - sum(pool.values())
        while diff != 0:
            if diff > 0:
                room = {n: self._pool_room(size, n) for n in pool}
            else:
                room = {n: pool[n] - used.get(n, 0) for n in pool}
            nodes = [n for n in pool if room[n] > 0]
            if not nodes:
                break
            share = math.ceil(abs(diff) / len(nodes))
            for n in nodes:
                k = min(share, room[n], abs(diff))
                pool[n] += k if diff > 0 else -k
                diff += -k if diff > 0 else k
                if diff == 0:
                    break

    # -- memory accounting ---------------------------------------------------------------------
    def _node_used(self, node: int) -> float:
        base = (2.5 if node == 0 else 1.2) * sc.GIB
        pools = sum(size * per.get(node, 0) for size, per in self.pools.items())
        guests = sum(g.anon.get(node, 0.0) for g in self.running())
        return base + self.page_cache[node] + pools + guests - self._ksm_saved(node)

    def node_free(self, node: int) -> float:
        """KiB free on `node` (KSM's savings as of the last `count_ksm()`)."""
        return max(256 * sc.MIB, sc.NODE_MEM_KIB - self._node_used(node))

    def count_ksm(self) -> dict[str, int]:
        """ksmd's page counters now (and "rmap", its rmap items); `node_free` goes by this count."""
        scannable = [g for g in self.running() if g.spec.hugepage_kib is None]
        merging = sum(int(g.ksm_merging) for g in scannable)
        shared = int(merging * 0.4)
        unshared = sum(unshared_pages(g) for g in scannable)
        rmap = merging + unshared
        self._ksm_counted = {"pages_shared": shared, "pages_sharing": merging - shared,
                             "pages_unshared": unshared, "pages_volatile": unshared // 100, "rmap": rmap}
        return self._ksm_counted

    def _ksm_saved(self, node: int) -> float:
        """KiB that KSM frees on `node`: the sharing pages, where the merging guests live."""
        t = self._ksm_counted
        merging = t["pages_shared"] + t["pages_sharing"]
        if not merging:
            return 0.0
        mine = sum(g.ksm_merging * g.anon.get(node, 0.0) / (g.ram_kib() or 1)
                   for g in self.running() if g.spec.hugepage_kib is None)
        return t["pages_sharing"] * PAGE_KIB * mine / merging


def _home_nodes(g: SimGuest) -> list[int]:
    """Nodes holding at least a quarter of the guest's memory: where the scheduler keeps it."""
    size = g.spec.hugepage_kib or 0
    mem = {n: v + g.huge.get(n, 0) * size for n, v in g.anon.items()}
    for n, pages in g.huge.items():
        mem.setdefault(n, pages * size)
    total = sum(mem.values()) or 1
    return [n for n, v in mem.items() if v / total >= 0.25] or list(mem)


def unshared_pages(g: SimGuest) -> int:
    """The guest's pages ksmd has scanned but not merged (its share of pages_unshared)."""
    pages = g.ram_kib() / PAGE_KIB
    if pages <= 0:
        return 0
    return int((pages - g.ksm_merging) * min(1.0, g.ksm_scanned / pages) * 0.8)


def swapped_kib(g: SimGuest) -> float:
    """What the guest has touched but its hard_limit keeps out of RAM."""
    if g.spec.hugepage_kib:
        return 0.0
    want = g.spec.memory_kib * g.spec.touched + QEMU_OVERHEAD_KIB
    return max(0.0, want - g.ram_kib())


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None
