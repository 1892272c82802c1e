"""The demo's kernel: steps the simulation and keeps a sys/ + proc/ tree consistent with it.

Each `step()` advances a simulated clock by DT seconds (never wall time, so one seed
gives one history), reads back the sysfs files an action may have written (KSM, hugepage
pools, THP, NUMA balancing), moves the figures on (vCPU load and placement, memory
migration under numatune, KSM merging, throttled disk traffic, per-CPU time) and writes
the files the collectors read — only those whose text changed.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

from .. import cpuset
from . import scenario as sc
from .hypervisor import SimHypervisor
from .state import ALL_CPUS, QEMU_OVERHEAD_KIB, SimGuest, build

DT = 2.0                      # simulated seconds per step
T0 = 1_735_700_000.0          # the simulated clock at start (a fixed date: determinism)
HOST_UPTIME = 41 * 86400.0    # how long the simulated host has been up at T0
HZ = 100                      # USER_HZ: the unit of proc/stat and task stat times
PAGE_KIB = 4
KSM_MAX_SCAN = 2_000_000      # pages/s: ksmd cannot go faster whatever the settings
WATCH_S = 0.05                # how often sysfs writes are noticed between steps

NODE = "sys/devices/system/node"
CPU = "sys/devices/system/cpu"
KSM = "sys/kernel/mm/ksm"
HUGE = "sys/kernel/mm/hugepages"
THP = "sys/kernel/mm/transparent_hugepage"
THP_WORDS = ("always", "madvise", "never")
DEFRAG_WORDS = ("always", "defer", "defer+madvise", "madvise", "never")


class Simulator:
    def __init__(self, seed: int = 1, guests: int | None = None, root: str | os.PathLike | None = None,
                 watch: bool = True):
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.clock = T0
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="kvmtune-demo-", dir=_tmp_dir()))
        self._base = str(self.root)
        self._owns_root = root is None
        self._written: dict[str, str] = {}
        self._dirs: set[str] = set()
        self._ksm_totals_cache: dict[str, int] = {"pages_shared": 0, "pages_sharing": 0}
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
        self.hv = SimHypervisor(self.guests, self.lock)
        # Host settings an action may change by writing sysfs (read back every step).
        self.ksm = {"run": 1, "pages_to_scan": 1000, "sleep_millisecs": 20, "merge_across_nodes": 1}
        self.ksm_full_scans = 37
        self.ksm_pages_scanned = 0.0
        self.ksm_progress = 0.0
        self.thp = {"enabled": "madvise", "defrag": "madvise"}
        self.numa_balancing = 1
        self.pools = {size: dict(per) for size, per in sc.POOLS.items()}
        for size, per in self._huge_used().items():      # scale mode: pools that hold the guests
            for node, used in per.items():
                self.pools.setdefault(size, {n: 0 for n in range(sc.NODES)})
                if self.pools[size][node] < used:
                    self.pools[size][node] = used + math.ceil(used / 10)
        self.page_cache = [self.rng.uniform(3, 9) * sc.GIB for _ in range(sc.NODES)]
        self.cpu_ticks = [self._initial_ticks() for _ in range(sc.NCPUS)]
        scannable = sum(g.ram_kib() for g in self._running() if g.spec.hugepage_kib is None) / PAGE_KIB
        self.ksm_progress = scannable * self.rng.random()
        self.ksm_pages_scanned = scannable * self.ksm_full_scans + self.ksm_progress
        self._write_static()
        self._write_dynamic()
        self._stop = threading.Event()
        if watch:
            threading.Thread(target=_watch, args=(weakref.ref(self), self._stop),
                             name="kvmtune-demo-watch", daemon=True).start()

    # -- public ------------------------------------------------------------------------------
    def step(self) -> None:
        with self.lock:
            if self._stop.is_set():
                return      # closed: the tree is gone
            self._read_back()
            self.clock += DT
            self._advance(DT)
            self._write_dynamic()

    def close(self) -> None:
        with self.lock:     # let a step in another thread finish first
            self._stop.set()
            if self._owns_root:
                shutil.rmtree(self.root, ignore_errors=True)

    # -- the model ---------------------------------------------------------------------------
    def _initial_ticks(self) -> list[float]:
        busy = self.rng.uniform(0.1, 0.4)
        total = HOST_UPTIME * HZ
        # user nice system idle iowait irq softirq steal guest guest_nice
        return [total * busy * 0.9, 0.0, total * busy * 0.08, total * (1 - busy) * 0.995,
                total * (1 - busy) * 0.005, 0.0, total * busy * 0.02, 0.0, total * busy * 0.8, 0.0]

    def _running(self) -> list[SimGuest]:
        return [g for g in self.guests if g.running]

    def _huge_used(self) -> dict[int, dict[int, int]]:
        used: dict[int, dict[int, int]] = {}
        for g in self._running():
            if g.spec.hugepage_kib:
                per = used.setdefault(g.spec.hugepage_kib, {})
                for node, n in g.huge.items():
                    per[node] = per.get(node, 0) + n
        return used

    def _advance(self, dt: float) -> None:
        rng = self.rng
        cpu_load = [0.0] * sc.NCPUS
        vcpu_load = [0.0] * sc.NCPUS
        for g in self._running():
            homes = _home_nodes(g)
            for i in range(g.spec.vcpus):
                load = g.vcpu_load[i] + rng.gauss(0, 0.05) + (g.spec.load - g.vcpu_load[i]) * 0.2
                g.vcpu_load[i] = load = min(1.0, max(0.0, load))
                aff = g.vcpu_affinity(i)
                cur = g.vcpu_cpu[i]
                # The scheduler keeps a thread where it may run, near its memory, and moves
                # unpinned ones now and then.
                if cur not in aff or (len(aff) > 1 and rng.random() < 0.1):
                    near = [c for c in aff if sc.cpu_node(c) in homes] or aff
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
        self._ksm(dt)
        for c, ticks in enumerate(self.cpu_ticks):
            busy = min(1.0, cpu_load[c] + 0.01)
            guest = min(vcpu_load[c], busy)
            ticks[0] += busy * 0.92 * dt * HZ
            ticks[2] += busy * 0.06 * dt * HZ
            ticks[6] += busy * 0.02 * dt * HZ
            ticks[3] += (1 - busy) * 0.995 * dt * HZ
            ticks[4] += (1 - busy) * 0.005 * dt * HZ
            ticks[8] += guest * 0.9 * dt * HZ
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

    def _ksm(self, dt: float) -> None:
        """ksmd: run=1 scans and merges (up to what each guest has in common), run=0 stops,
        run=2 unmerges everything."""
        run = self.ksm["run"]
        scannable = [g for g in self._running() if g.spec.hugepage_kib is None]
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

    # -- reading back what actions wrote -------------------------------------------------------
    def _changed(self, rel: str) -> str | None:
        """The file's text if something other than the simulator wrote it since; else None."""
        try:
            text = (self.root / rel).read_text()
        except OSError:
            self._written.pop(rel, None)   # deleted: write it again
            return None
        if text == self._written.get(rel) or not text:
            return None                    # unchanged, or a writer is between truncate and write
        self._written.pop(rel, None)       # rewrite it in the kernel's form (or undo a bad value)
        return text

    def _read_back(self) -> bool:
        """Apply what was written to the settings files; True when anything was."""
        before = len(self._written)
        for key in ("run", "pages_to_scan", "sleep_millisecs", "merge_across_nodes"):
            text = self._changed(f"{KSM}/{key}")
            v = _int_or_none(text)
            if v is None or v < 0:
                continue
            if key == "run" and v > 2 or key == "merge_across_nodes" and (v > 1 or self._ksm_merged()):
                continue   # the kernel refuses: EINVAL, or EBUSY while pages are merged
            self.ksm[key] = v
            if key == "run" and v == 2:
                self._ksm(0.0)             # the kernel unmerges right away
        for key, words in (("enabled", THP_WORDS), ("defrag", DEFRAG_WORDS)):
            text = self._changed(f"{THP}/{key}")
            if text is not None and text.strip().strip("[]") in words:
                self.thp[key] = text.strip().strip("[]")
        v = _int_or_none(self._changed("proc/sys/kernel/numa_balancing"))
        if v is not None and 0 <= v <= 3:
            self.numa_balancing = v
        used = self._huge_used()
        for size, per in self.pools.items():
            u = used.get(size, {})
            for node in range(sc.NODES):
                v = _int_or_none(self._changed(f"{NODE}/node{node}/hugepages/hugepages-{size}kB/nr_hugepages"))
                if v is not None and v >= 0:
                    self._resize_pool(size, node, v, u.get(node, 0))
            v = _int_or_none(self._changed(f"{HUGE}/hugepages-{size}kB/nr_hugepages"))
            if v is not None and v >= 0:
                self._resize_global(size, v, u)
        return len(self._written) != before

    def poll(self) -> None:
        """Answer sysfs writes between steps, as the kernel does at once (the watcher calls it)."""
        with self.lock:
            if not self._stop.is_set() and self._read_back():
                self._write_settings()

    def _ksm_merged(self) -> bool:
        return any(g.ksm_merging >= 1 for g in self.guests)

    def _pool_room(self, size: int, node: int) -> int:
        """How many more pages of `size` the node can allocate (keeping 1 GiB for the kernel)."""
        return max(0, int((self._node_free(node) - sc.GIB) // size))

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

    # -- memory accounting -------------------------------------------------------------------------
    def _node_used(self, node: int) -> float:
        base = (2.5 if node == 0 else 1.2) * sc.GIB
        pools = sum(size * per.get(node, 0) for size, per in self.pools.items())
        guests = sum(g.anon.get(node, 0.0) for g in self._running())
        return base + self.page_cache[node] + pools + guests - self._ksm_saved(node)

    def _node_free(self, node: int) -> float:
        return max(256 * sc.MIB, sc.NODE_MEM_KIB - self._node_used(node))

    def _ksm_totals(self) -> dict[str, int]:
        scannable = [g for g in self._running() if g.spec.hugepage_kib is None]
        merging = sum(int(g.ksm_merging) for g in scannable)
        shared = int(merging * 0.4)
        unshared = sum(_unshared(g) for g in scannable)
        rmap = merging + unshared
        return {"pages_shared": shared, "pages_sharing": merging - shared, "pages_unshared": unshared,
                "pages_volatile": unshared // 100, "rmap": rmap}

    def _ksm_saved(self, node: int) -> float:
        """KiB that KSM frees on `node`: the sharing pages, where the merging guests live."""
        t = self._ksm_totals_cache
        merging = t["pages_shared"] + t["pages_sharing"]
        if not merging:
            return 0.0
        mine = sum(g.ksm_merging * g.anon.get(node, 0.0) / (g.ram_kib() or 1)
                   for g in self._running() if g.spec.hugepage_kib is None)
        return t["pages_sharing"] * PAGE_KIB * mine / merging

    # -- the tree ------------------------------------------------------------------------------
    def _put(self, rel: str, text: str) -> None:
        """Write one file if its text changed; atomically, so a reader never sees half of it."""
        if self._written.get(rel) == text:
            return
        parent, _, name = rel.rpartition("/")
        d = f"{self._base}/{parent}"
        if parent not in self._dirs:
            os.makedirs(d, exist_ok=True)
            self._dirs.add(parent)
        tmp = f"{d}/.{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.replace(tmp, f"{d}/{name}")
        self._written[rel] = text

    def _write_static(self) -> None:
        put = self._put
        put("proc/sys/kernel/hostname", sc.HOSTNAME + "\n")
        put("etc/tuned/active_profile", "virtual-host\n")
        put("etc/tuned/profile_mode", "manual\n")
        nodes = cpuset.format(range(sc.NODES)) + "\n"
        for f in ("online", "possible", "has_cpu", "has_memory", "has_normal_memory"):
            put(f"{NODE}/{f}", nodes)
        for n in range(sc.NODES):
            put(f"{NODE}/node{n}/cpulist", cpuset.format(sc.node_cpus(n)) + "\n")
            put(f"{NODE}/node{n}/distance", " ".join(str(sc.distance(n, m)) for m in range(sc.NODES)) + "\n")
        cpus = cpuset.format(range(sc.NCPUS)) + "\n"
        for f in ("online", "possible", "present"):
            put(f"{CPU}/{f}", cpus)
        for c in range(sc.NCPUS):
            t = f"{CPU}/cpu{c}/topology"
            sib = (c % sc.CORES, c % sc.CORES + sc.CORES)
            put(f"{t}/physical_package_id", f"{sc.cpu_socket(c)}\n")
            put(f"{t}/die_id", "0\n")
            put(f"{t}/core_id", f"{sc.cpu_core(c)}\n")
            put(f"{t}/thread_siblings_list", cpuset.format(sib) + "\n")
            put(f"{t}/core_siblings_list",
                cpuset.format(x for x in range(sc.NCPUS) if sc.cpu_socket(x) == sc.cpu_socket(c)) + "\n")
        put(f"{KSM}/max_page_sharing", "256\n")
        put(f"{KSM}/stable_node_chains_prune_millisecs", "2000\n")
        put(f"{KSM}/use_zero_pages", "0\n")
        for g in self._running():
            self._write_guest_static(g)

    def _write_guest_static(self, g: SimGuest) -> None:
        put, p = self._put, f"proc/{g.pid}"
        put(f"run/libvirt/qemu/{g.name}.pid", f"{g.pid}")
        put(f"{p}/comm", "qemu-system-x86\n")
        put(f"{p}/cmdline", "\0".join(["/usr/bin/qemu-system-x86_64", "-name",
                                        f"guest={g.name.replace(',', ',,')},debug-threads=on",
                                        "-S", "-machine", "pc-q35-7.2,usb=off", "-m", str(g.spec.memory_kib // 1024),
                                        "-smp", f"{g.spec.vcpus},sockets=1,cores={g.spec.vcpus},threads=1",
                                        "-uuid", g.uuid]) + "\0")
        scope = f"/machine/qemu-{g.dom_id}-{g.name}.libvirt-qemu"
        put(f"{p}/cgroup", "".join(f"{i}:{c}:{scope}{sub}\n" for i, c, sub in (
            (12, "perf_event", ""), (11, "freezer", ""), (10, "devices", ""), (9, "blkio", ""),
            (8, "hugetlb", ""), (7, "pids", ""), (6, "memory", ""), (5, "net_cls,net_prio", ""),
            (4, "rdma", ""), (3, "cpuset", "/emulator"), (2, "cpu,cpuacct", "/emulator"),
            (1, "name=systemd", ""))) + f"0::{scope}\n")
        for comm, tid in g.tids().items():
            put(f"{p}/task/{tid}/comm", comm + "\n")

    def _write_settings(self) -> None:
        """The files an action writes, and the counters that answer a write at once."""
        put = self._put
        self._ksm_totals_cache = kt = self._ksm_totals()
        used = self._huge_used()
        for k, v in self.ksm.items():
            put(f"{KSM}/{k}", f"{v}\n")
        put(f"{KSM}/full_scans", f"{self.ksm_full_scans}\n")
        put(f"{KSM}/pages_scanned", f"{int(self.ksm_pages_scanned)}\n")
        for k in ("pages_shared", "pages_sharing", "pages_unshared", "pages_volatile"):
            put(f"{KSM}/{k}", f"{kt[k]}\n")
        put(f"{KSM}/general_profit", f"{kt['pages_sharing'] * 4096 - kt['rmap'] * 64}\n")
        put(f"{THP}/enabled", _bracket(THP_WORDS, self.thp["enabled"]))
        put(f"{THP}/defrag", _bracket(DEFRAG_WORDS, self.thp["defrag"]))
        put("proc/sys/kernel/numa_balancing", f"{self.numa_balancing}\n")
        for size, per in self.pools.items():
            u = used.get(size, {})
            for n in range(sc.NODES):
                d = f"{NODE}/node{n}/hugepages/hugepages-{size}kB"
                put(f"{d}/nr_hugepages", f"{per[n]}\n")
                put(f"{d}/free_hugepages", f"{per[n] - u.get(n, 0)}\n")
                put(f"{d}/surplus_hugepages", "0\n")
            d = f"{HUGE}/hugepages-{size}kB"
            put(f"{d}/nr_hugepages", f"{sum(per.values())}\n")
            put(f"{d}/free_hugepages", f"{sum(per.values()) - sum(u.values())}\n")
            put(f"{d}/resv_hugepages", "0\n")
            put(f"{d}/surplus_hugepages", "0\n")
            put(f"{d}/nr_overcommit_hugepages", "0\n")

    def _write_dynamic(self) -> None:
        self._write_settings()
        put = self._put
        used = self._huge_used()
        # memory
        totals: dict[str, float] = {}
        for n in range(sc.NODES):
            mem = self._node_meminfo(n, used)
            for k, v in mem.items():
                totals[k] = totals.get(k, 0) + v
            put(f"{NODE}/node{n}/meminfo", "".join(f"Node {n} {k + ':':<16}{int(v):>12}{'' if k.startswith('HugePages') else ' kB'}\n"
                                                for k, v in mem.items()))
        put("proc/meminfo", self._meminfo(totals, used))
        put("proc/stat", self._proc_stat())
        for g in self._running():
            self._write_guest(g)

    def _node_meminfo(self, n: int, used: dict[int, dict[int, int]]) -> dict[str, float]:
        free = self._node_free(n)
        anon = sum(g.anon.get(n, 0.0) for g in self._running())
        cache = self.page_cache[n]
        pool2m = self.pools.get(sc.HUGE_2M, {}).get(n, 0)
        return {
            "MemTotal": sc.NODE_MEM_KIB, "MemFree": free, "MemUsed": sc.NODE_MEM_KIB - free,
            "Active": anon * 0.8 + cache * 0.5, "Inactive": anon * 0.2 + cache * 0.5,
            "Dirty": 2048, "Writeback": 0, "FilePages": cache, "Mapped": 90 * 1024, "AnonPages": anon,
            "Shmem": 12 * 1024, "KernelStack": 20 * 1024, "PageTables": anon / 512,
            "Slab": 600 * 1024, "AnonHugePages": anon * 0.3,
            "HugePages_Total": pool2m,
            "HugePages_Free": pool2m - used.get(sc.HUGE_2M, {}).get(n, 0), "HugePages_Surp": 0,
        }

    def _meminfo(self, t: dict[str, float], used: dict[int, dict[int, int]]) -> str:
        p2 = self.pools.get(sc.HUGE_2M, {})
        u2 = used.get(sc.HUGE_2M, {})
        hugetlb = sum(size * sum(per.values()) for size, per in self.pools.items())
        swapped = sum(_swapped(g) for g in self._running())
        rows = [
            ("MemTotal", t["MemTotal"]), ("MemFree", t["MemFree"]),
            ("MemAvailable", t["MemFree"] + t["FilePages"] * 0.8), ("Buffers", 300 * 1024),
            ("Cached", t["FilePages"]), ("SwapCached", 0), ("Active", t["Active"]),
            ("Inactive", t["Inactive"]), ("SwapTotal", 8 * sc.GIB), ("SwapFree", 8 * sc.GIB - swapped),
            ("Dirty", t["Dirty"]), ("AnonPages", t["AnonPages"]), ("Mapped", t["Mapped"]),
            ("Shmem", t["Shmem"]), ("Slab", t["Slab"]), ("KernelStack", t["KernelStack"]),
            ("PageTables", t["PageTables"]), ("CommitLimit", t["MemTotal"] / 2),
            ("AnonHugePages", t["AnonHugePages"]),
            ("HugePages_Total", sum(p2.values())), ("HugePages_Free", sum(p2.values()) - sum(u2.values())),
            ("HugePages_Rsvd", 0), ("HugePages_Surp", 0), ("Hugepagesize", sc.HUGE_2M),
            ("Hugetlb", hugetlb),
        ]
        return "".join(f"{k + ':':<16}{int(v):>12}{'' if k.startswith('HugePages_') else ' kB'}\n" for k, v in rows)

    def _proc_stat(self) -> str:
        def line(name: str, ticks) -> str:
            return name + " " + " ".join(str(int(x)) for x in ticks) + "\n"
        agg = [sum(t[i] for t in self.cpu_ticks) for i in range(10)]
        out = [line("cpu ", agg)] + [line(f"cpu{c}", t) for c, t in enumerate(self.cpu_ticks)]
        run = sum(1 for g in self._running() for load in g.vcpu_load if load > 0.5)
        out += [f"intr {int(agg[0] * 40)}\n", f"ctxt {int(agg[0] * 55)}\n",
                f"btime {int(T0 - HOST_UPTIME)}\n", f"processes {int(self.clock - T0) * 3 + 1_204_331}\n",
                f"procs_running {run + 1}\n", "procs_blocked 0\n"]
        return "".join(out)

    def _write_guest(self, g: SimGuest) -> None:
        put, p = self._put, f"proc/{g.pid}"
        nthreads = len(g.tids())
        emu_ticks = g.emu_ns / 1e7
        stat = {}
        for comm, tid in g.tids().items():
            if comm.startswith("CPU "):
                i = int(comm[4:comm.index("/")])
                ticks, cpu = g.vcpu_ns[i] / 1e7, g.vcpu_cpu[i]
            elif comm.startswith("IO iothread"):
                pin = g.live.iothread_pins.get(int(comm[len("IO iothread"):]))
                ticks, cpu = emu_ticks * 0.5, pin[0] if pin else g.emu_cpu
            else:
                ticks, cpu = (emu_ticks * 0.4 if tid == g.pid else emu_ticks * 0.05), g.emu_cpu
            stat[tid] = _task_stat(tid, comm, g.pid, ticks, cpu, nthreads)
            put(f"{p}/task/{tid}/stat", stat[tid])
        put(f"{p}/stat", stat[g.pid])
        merging = int(g.ksm_merging) if g.spec.hugepage_kib is None else 0
        rmap = merging + (_unshared(g) if g.spec.hugepage_kib is None else 0)
        put(f"{p}/ksm_stat", f"ksm_rmap_items {rmap}\nksm_zero_pages 0\nksm_merging_pages {merging}\n"
                             f"ksm_process_profit {merging * 4096 - rmap * 64}\nksm_merge_any: no\n"
                             f"ksm_mergeable: {'no' if g.spec.hugepage_kib else 'yes'}\n")
        # memory: cgroup v1 numa_stat (pages), status, numa_maps
        anon_pages = {n: int(g.anon.get(n, 0.0) // PAGE_KIB) for n in range(sc.NODES)}
        key = (tuple(anon_pages.values()), tuple(g.huge.items()), g.live.emulator_pin, g.live.numatune)
        if key == g.mem_key:   # building these texts is the cost: only when memory or pins moved
            return
        g.mem_key = key
        home = max(anon_pages, key=anon_pages.get)
        file_pages = {n: (7 if n == home else 0) for n in range(sc.NODES)}

        def row(key: str, per: dict[int, int]) -> str:
            return f"{key}={sum(per.values())} " + " ".join(f"N{n}={v}" for n, v in per.items()) + "\n"
        total = {n: anon_pages[n] + file_pages[n] for n in range(sc.NODES)}
        zero = dict.fromkeys(range(sc.NODES), 0)
        rows = [("total", total), ("file", file_pages), ("anon", anon_pages), ("unevictable", zero)]
        cg = f"sys/fs/cgroup/memory/machine/qemu-{g.dom_id}-{g.name}.libvirt-qemu"
        put(f"{cg}/memory.numa_stat", "".join(row(k, v) for k, v in rows)
            + "".join(row("hierarchical_" + k, v) for k, v in rows))
        rss_anon = sum(anon_pages.values()) * PAGE_KIB
        huge_kib = sum(g.huge.values()) * (g.spec.hugepage_kib or 0)
        vm_size = g.spec.memory_kib + 1_600_000
        put(f"{p}/status", (
            f"Name:\tqemu-system-x86\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t{g.pid}\nNgid:\t0\n"
            f"Pid:\t{g.pid}\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t128\n"
            f"VmPeak:\t{vm_size + 4096:>8} kB\nVmSize:\t{vm_size:>8} kB\nVmLck:\t{0:>8} kB\n"
            f"VmPin:\t{0:>8} kB\nVmHWM:\t{rss_anon + 23000:>8} kB\nVmRSS:\t{rss_anon + 23000:>8} kB\n"
            f"RssAnon:\t{rss_anon:>8} kB\nRssFile:\t{23000:>8} kB\nRssShmem:\t{0:>8} kB\n"
            f"VmData:\t{vm_size - 400_000:>8} kB\nVmStk:\t{132:>8} kB\nVmExe:\t{5724:>8} kB\n"
            f"VmLib:\t{14608:>8} kB\nVmPTE:\t{rss_anon // 512 + 260:>8} kB\nVmSwap:\t{int(_swapped(g)):>8} kB\n"
            f"HugetlbPages:\t{huge_kib:>8} kB\nThreads:\t{nthreads}\n"
            f"Cpus_allowed_list:\t{cpuset.format(g.live.emulator_pin or ALL_CPUS)}\n"
            f"Mems_allowed_list:\t{g.live.numatune.nodeset if g.live.numatune and g.live.numatune.nodeset else cpuset.format(range(sc.NODES))}\n"))
        put(f"{p}/numa_maps", _numa_maps(g, anon_pages, home))


def _tmp_dir() -> str | None:
    """A RAM-backed directory when there is one: the tree is rewritten every step, and on a
    disk file system each replace of an existing file costs a flush (ext4 auto_da_alloc)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _watch(ref: "weakref.ref[Simulator]", stop: threading.Event) -> None:
    """Notice sysfs writes between steps. Holds the simulator weakly so it can be collected."""
    while not stop.wait(WATCH_S):
        sim = ref()
        if sim is None:
            return
        try:
            sim.poll()
        except OSError:
            return      # the tree was removed under us: the demo is closing
        del sim


def _home_nodes(g: SimGuest) -> list[int]:
    """Nodes holding at least a quarter of the guest's memory: where the scheduler keeps it."""
    size = g.spec.hugepage_kib or 0
    mem = {n: v + g.huge.get(n, 0) * size for n, v in g.anon.items()}
    for n, pages in g.huge.items():
        mem.setdefault(n, pages * size)
    total = sum(mem.values()) or 1
    return [n for n, v in mem.items() if v / total >= 0.25] or list(mem)


def _unshared(g: SimGuest) -> int:
    pages = g.ram_kib() / PAGE_KIB
    if pages <= 0:
        return 0
    return int((pages - g.ksm_merging) * min(1.0, g.ksm_scanned / pages) * 0.8)


def _swapped(g: SimGuest) -> float:
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


def _bracket(words: tuple[str, ...], chosen: str) -> str:
    return " ".join(f"[{w}]" if w == chosen else w for w in words) + "\n"


# proc(5) stat fields 3..52 after "(comm)"; 14/15 utime/stime and 39 processor are filled in.
_STAT_TAIL = ("S 1 {pid} {pid} 0 -1 138412224 733 0 0 0 {utime} {stime} 0 0 20 0 {nthreads} 0 88909 "
              "1736798208 11309 18446744073709551615 94373576781824 94373582642261 140727738567760 "
              "0 0 0 2147220087 4096 16451 1 0 0 -1 {cpu} 0 0 0 0 0 94373585754360 94373590958512 "
              "94374426570752 140727738574776 140727738576437 140727738576437 140727738576860 0\n")


def _task_stat(tid: int, comm: str, pid: int, ticks: float, cpu: int, nthreads: int) -> str:
    return f"{tid} ({comm}) " + _STAT_TAIL.format(
        pid=pid, utime=int(ticks * 0.9), stime=int(ticks * 0.1), nthreads=nthreads, cpu=cpu)


def _numa_maps(g: SimGuest, anon_pages: dict[int, int], home: int) -> str:
    """numa_maps as the kernel prints it for a QEMU process: binary, heap, guest RAM, stack."""
    heap = min(anon_pages[home], QEMU_OVERHEAD_KIB // PAGE_KIB * 2 // 3)
    stack = min(anon_pages[home] - heap, 33)
    ram = dict(anon_pages)
    ram[home] -= heap + stack
    lines = [f"55d50f44c000 default file=/usr/bin/qemu-system-x86_64 mapped=1031 mapmax=9 N{home}=1031 kernelpagesize_kB=4",
             f"55d50f853000 default file=/usr/bin/qemu-system-x86_64 mapped=1337 mapmax=9 N{home}=1337 kernelpagesize_kB=4"]
    if heap:
        lines.append(f"55d5422bf000 default heap anon={heap} dirty={heap} active=0 N{home}={heap} kernelpagesize_kB=4")
    if sum(ram.values()):
        nodes = " ".join(f"N{n}={v}" for n, v in ram.items() if v)
        lines.append(f"7f2257e00000 default anon={sum(ram.values())} dirty={sum(ram.values())} active=0 {nodes} kernelpagesize_kB=4")
    if g.huge:
        size = g.spec.hugepage_kib
        mnt = "/dev/hugepages1G" if size == sc.HUGE_1G else "/dev/hugepages"
        n = sum(g.huge.values())
        nodes = " ".join(f"N{k}={v}" for k, v in sorted(g.huge.items()) if v)
        lines.append(f"7fee40000000 default file={mnt}/libvirt/qemu/{g.dom_id}-{g.name}/qemu_back_mem.pc.ram\\040(deleted) "
                     f"huge anon={n} dirty={n} {nodes} kernelpagesize_kB={size}")
    lines.append(f"7f2263fff000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 mapped=40 mapmax=30 N{home}=40 kernelpagesize_kB=4")
    if stack:
        lines.append(f"7ffd4c5e1000 default stack anon={stack} dirty={stack} active=0 N{home}={stack} kernelpagesize_kB=4")
    return "\n".join(lines) + "\n"
