"""The demo's sys/ + proc/ tree: the files the collectors read, written from the host model.

`SysTree` writes each file only when its text changed, atomically (a reader never sees
half of one), and remembers what it wrote so that `changed()` can tell a file an action
wrote since from one the simulator left as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import cpuset
from ..vocab import (
    ARP_FILTER,
    CPU_DIR,
    KSM_DIR,
    NODE_DIR,
    NUMA_BALANCING,
    PAGE_KIB,
    THP_DEFRAG_MODES,
    THP_DIR,
    THP_MODES,
    TUNED_PID,
    VHOST_ZCOPYTX,
    hugepage_dir,
)
from . import scenario as sc
from .dynamics import HOST_UPTIME, T0, HostModel, swapped_kib, unshared_pages
from .state import ALL_CPUS, QEMU_OVERHEAD_KIB, SimGuest, thread_name


class SysTree:
    """The files under `root`, kept consistent with `model`."""

    def __init__(self, root: Path, model: HostModel):
        self.root = root
        self.model = model
        self._base = str(root)
        self._written: dict[str, str] = {}
        self._dirs: set[str] = set()

    # -- files ---------------------------------------------------------------------------------
    def _put(self, rel: str, text: str, atomic: bool = False) -> None:
        """Write one file if its text changed. In place: the collector reads the tree in the
        thread that steps it, after the step. `atomic` for the files the watcher reads back
        between steps (the settings), so it never sees half of one and takes it for a write:
        a temporary file and a rename cost a third more a file (12 000 files a step at 1000 guests)."""
        if self._written.get(rel) == text:
            return
        parent, _, name = rel.rpartition("/")
        d = f"{self._base}/{parent}"
        if parent not in self._dirs:
            os.makedirs(d, exist_ok=True)
            self._dirs.add(parent)
        path = f"{d}/{name}"
        tmp = f"{d}/.{name}.tmp" if atomic else path
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        if atomic:
            os.replace(tmp, path)
        self._written[rel] = text

    def _put_setting(self, rel: str, text: str) -> None:
        self._put(rel, text, atomic=True)

    def changed(self, rel: str) -> str | None:
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

    def known(self) -> int:
        """How many files hold what the simulator last wrote (fewer once `changed()` saw a write)."""
        return len(self._written)

    # -- what never changes --------------------------------------------------------------------
    def write_static(self) -> None:
        put = self._put
        put("proc/sys/kernel/hostname", sc.HOSTNAME + "\n")
        profile, running = self.model.tuned
        put("etc/tuned/active_profile", profile + "\n")
        put("etc/tuned/profile_mode", "manual\n")
        # tuned died without removing its pid file (no such process; in scale mode it runs);
        # numad is not running (no pid file); arp_filter is off; vhost_net is loaded with
        # zero-copy TX on (not its default: 5.5.1's security note)
        put(TUNED_PID, f"{sc.TUNED_STALE_PID}\n")
        if running:
            put(f"proc/{sc.TUNED_STALE_PID}/comm", "tuned\n")
        put(ARP_FILTER, "0\n")
        put(VHOST_ZCOPYTX, "1\n")
        nodes = cpuset.format(range(sc.NODES)) + "\n"
        for f in ("online", "possible", "has_cpu", "has_memory", "has_normal_memory"):
            put(f"{NODE_DIR}/{f}", nodes)
        for n in range(sc.NODES):
            put(f"{NODE_DIR}/node{n}/cpulist", cpuset.format(sc.node_cpus(n)) + "\n")
            put(f"{NODE_DIR}/node{n}/distance", " ".join(str(sc.distance(n, m)) for m in range(sc.NODES)) + "\n")
        cpus = cpuset.format(range(sc.NCPUS)) + "\n"
        for f in ("online", "possible", "present"):
            put(f"{CPU_DIR}/{f}", cpus)
        for c in range(sc.NCPUS):
            t = f"{CPU_DIR}/cpu{c}/topology"
            sib = (c % sc.CORES, c % sc.CORES + sc.CORES)
            put(f"{t}/physical_package_id", f"{sc.cpu_socket(c)}\n")
            put(f"{t}/die_id", "0\n")
            put(f"{t}/core_id", f"{sc.cpu_core(c)}\n")
            put(f"{t}/thread_siblings_list", cpuset.format(sib) + "\n")
            put(f"{t}/core_siblings_list",
                cpuset.format(x for x in range(sc.NCPUS) if sc.cpu_socket(x) == sc.cpu_socket(c)) + "\n")
        put(f"{KSM_DIR}/max_page_sharing", "256\n")
        put(f"{KSM_DIR}/stable_node_chains_prune_millisecs", "2000\n")
        put(f"{KSM_DIR}/use_zero_pages", "0\n")
        for g in self.model.running():
            self._write_guest_static(g)

    def _write_guest_static(self, g: SimGuest) -> None:
        put, p = self._put, f"proc/{g.pid}"
        put(f"run/libvirt/qemu/{g.name}.pid", f"{g.pid}")
        put(f"{p}/comm", "qemu-system-x86\n")
        put(f"{p}/cmdline", "\0".join(["/usr/bin/qemu-system-x86_64", "-name",
                                        f"guest={g.name.replace(',', ',,')},debug-threads=on",
                                        "-S", "-machine", "pc-q35-7.2,usb=off", "-m", str(g.spec.memory_kib // 1024),
                                        "-smp", _smp(g.spec),
                                        "-uuid", g.uuid, *_netdevs(g)]) + "\0")
        scope = f"/machine/qemu-{g.dom_id}-{g.name}.libvirt-qemu"
        put(f"{p}/cgroup", "".join(f"{i}:{c}:{scope}{sub}\n" for i, c, sub in (
            (12, "perf_event", ""), (11, "freezer", ""), (10, "devices", ""), (9, "blkio", ""),
            (8, "hugetlb", ""), (7, "pids", ""), (6, "memory", ""), (5, "net_cls,net_prio", ""),
            (4, "rdma", ""), (3, "cpuset", "/emulator"), (2, "cpu,cpuacct", "/emulator"),
            (1, "name=systemd", ""))) + f"0::{scope}\n")
        for key, tid in g.tids().items():
            put(f"{p}/task/{tid}/comm", thread_name(key) + "\n")
            if key.startswith("vhost-"):   # a vhost worker runs where QEMU's emulator threads may
                put(f"{p}/task/{tid}/status", f"Name:\t{thread_name(key)}\nCpus_allowed_list:\t"
                                              f"{cpuset.format(g.live.emulator_pin or ALL_CPUS)}\n")

    # -- what moves ----------------------------------------------------------------------------
    def write_settings(self) -> None:
        """The files an action writes, and the counters that answer a write at once."""
        m, put = self.model, self._put_setting
        kt = m.count_ksm()
        used = m.huge_used()
        for k, v in m.ksm.items():
            put(f"{KSM_DIR}/{k}", f"{v}\n")
        put(f"{KSM_DIR}/full_scans", f"{m.ksm_full_scans}\n")
        put(f"{KSM_DIR}/pages_scanned", f"{int(m.ksm_pages_scanned)}\n")
        for k in ("pages_shared", "pages_sharing", "pages_unshared", "pages_volatile"):
            put(f"{KSM_DIR}/{k}", f"{kt[k]}\n")
        put(f"{KSM_DIR}/general_profit", f"{kt['pages_sharing'] * 4096 - kt['rmap'] * 64}\n")
        put(f"{THP_DIR}/enabled", _bracket(THP_MODES, m.thp["enabled"]))
        put(f"{THP_DIR}/defrag", _bracket(THP_DEFRAG_MODES, m.thp["defrag"]))
        put(NUMA_BALANCING, f"{m.numa_balancing}\n")
        for size, per in m.pools.items():
            u = used.get(size, {})
            for n in range(sc.NODES):
                d = hugepage_dir(size, n)
                put(f"{d}/nr_hugepages", f"{per[n]}\n")
                put(f"{d}/free_hugepages", f"{per[n] - u.get(n, 0)}\n")
                put(f"{d}/surplus_hugepages", "0\n")
            d = hugepage_dir(size)
            put(f"{d}/nr_hugepages", f"{sum(per.values())}\n")
            put(f"{d}/free_hugepages", f"{sum(per.values()) - sum(u.values())}\n")
            put(f"{d}/resv_hugepages", "0\n")
            put(f"{d}/surplus_hugepages", "0\n")
            put(f"{d}/nr_overcommit_hugepages", "0\n")

    def write_dynamic(self, clock: float) -> None:
        """Everything that moves, as of simulated time `clock`."""
        self.write_settings()
        put = self._put
        used = self.model.huge_used()
        # memory
        totals: dict[str, float] = {}
        for n in range(sc.NODES):
            mem = self._node_meminfo(n, used)
            for k, v in mem.items():
                totals[k] = totals.get(k, 0) + v
            put(f"{NODE_DIR}/node{n}/meminfo",
                "".join(f"Node {n} {k + ':':<16}{int(v):>12}{'' if k.startswith('HugePages') else ' kB'}\n"
                        for k, v in mem.items()))
        for n in range(sc.NODES):
            put(f"{NODE_DIR}/node{n}/numastat", self.model.allocs.text(n))
        put("proc/meminfo", self._meminfo(totals, used))
        put("proc/stat", self._proc_stat(clock))
        put("proc/net/dev", self._net_dev())
        put("proc/uptime", f"{HOST_UPTIME + clock - T0:.2f} {(HOST_UPTIME + clock - T0) * 40:.2f}\n")
        # runnable threads: the vCPUs' load, averaged more slowly for the longer windows
        load = sum(sum(g.vcpu_load) * 1.05 for g in self.model.running())
        last_pid = 1_204_331 + int(clock - T0) * 3
        put("proc/loadavg", f"{load:.2f} {load * 0.93:.2f} {load * 0.88:.2f} 3/1204 {last_pid}\n")
        for g in self.model.running():
            self._write_guest(g)

    def _node_meminfo(self, n: int, used: dict[int, dict[int, int]]) -> dict[str, float]:
        m = self.model
        free = m.node_free(n)
        anon = sum(g.anon.get(n, 0.0) for g in m.running())
        cache = m.page_cache[n]
        pool2m = m.pools.get(sc.HUGE_2M, {}).get(n, 0)
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
        m = self.model
        p2 = m.pools.get(sc.HUGE_2M, {})
        u2 = used.get(sc.HUGE_2M, {})
        hugetlb = sum(size * sum(per.values()) for size, per in m.pools.items())
        swapped = sum(swapped_kib(g) for g in m.running())
        rows: list[tuple[str, float]] = [
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

    def _proc_stat(self, clock: float) -> str:
        def line(name: str, ticks: list[float]) -> str:
            return name + " " + " ".join(str(int(x)) for x in ticks) + "\n"
        cpu_ticks = self.model.cpu_ticks
        agg = [sum(t[i] for t in cpu_ticks) for i in range(10)]
        out = [line("cpu ", agg)] + [line(f"cpu{c}", t) for c, t in enumerate(cpu_ticks)]
        run = sum(1 for g in self.model.running() for load in g.vcpu_load if load > 0.5)
        out += [f"intr {int(agg[0] * 40)}\n", f"ctxt {int(agg[0] * 55)}\n",
                f"btime {int(T0 - HOST_UPTIME)}\n", f"processes {int(clock - T0) * 3 + 1_204_331}\n",
                f"procs_running {run + 1}\n", "procs_blocked 0\n"]
        return "".join(out)

    def _net_dev(self) -> str:
        """The host's /proc/net/dev: its uplink and bridge, then every guest's tap, counted from the
        host's side (a tap sends what the guest receives; macvtap would not swap, the demo has none)."""
        out = ["Inter-|   Receive                                                |  Transmit\n",
               " face |bytes    packets errs drop fifo frame compressed multicast|"
               "bytes    packets errs drop fifo colls carrier compressed\n"]

        def line(dev: str, rx: tuple[float, float, float], tx: tuple[float, float, float]) -> str:
            return (f"{dev:>6}: {int(rx[0]):>12} {int(rx[1]):>9} 0 {int(rx[2]):>4} 0 0 0 0 "
                    f"{int(tx[0]):>12} {int(tx[1]):>9} 0 {int(tx[2]):>4} 0 0 0 0\n")
        taps = [n for g in self.model.running() for n in g.nics if n.dev is not None]
        up = (sum(n.tx_bytes for n in taps), sum(n.tx_packets for n in taps), 0.0)
        down = (sum(n.rx_bytes for n in taps), sum(n.rx_packets for n in taps), 0.0)
        out += [line("lo", (8.4e8, 2.1e6, 0), (8.4e8, 2.1e6, 0)), line("eno1", up, down), line("br0", up, down)]
        out += [line(n.dev or "", (n.tx_bytes, n.tx_packets, 0.0), (n.rx_bytes, n.rx_packets, n.rx_drop))
                for n in taps]
        return "".join(out)

    def _write_guest(self, g: SimGuest) -> None:
        put, p = self._put, f"proc/{g.pid}"
        pid = g.main_pid()
        nthreads = len(g.tids())
        emu_ns = g.emu_ns
        stat: dict[int, str] = {}
        for comm, tid in g.tids().items():
            if comm.startswith("CPU "):
                i = int(comm[4:comm.index("/")])
                ns, cpu = g.vcpu_ns[i], g.vcpu_cpu[i]
                # run time (ns), wait time, timeslices: a vCPU's CPU time as kvmtune reads it (only
                # vCPU threads get one: nothing reads the others', and each file is a write per step)
                put(f"{p}/task/{tid}/schedstat", f"{int(ns)} {int(ns) // 50} {int(ns) // 4_000_000}\n")
            elif comm.startswith("IO iothread"):
                pin = g.live.iothread_pins.get(int(comm[len("IO iothread"):]))
                ns, cpu = emu_ns * 0.5, pin[0] if pin else g.emu_cpu
            elif comm.startswith("vhost-"):
                ns, cpu = emu_ns * 0.2, g.emu_cpu   # (its CPU time as the vCPUs', from schedstat)
                put(f"{p}/task/{tid}/schedstat", f"{int(ns)} {int(ns) // 50} {int(ns) // 4_000_000}\n")
            else:
                ns, cpu = (emu_ns * 0.4 if tid == pid else emu_ns * 0.05), g.emu_cpu
            # a busy vCPU's thread is on a CPU (R) when read, an idle one asleep in its halt (S)
            busy = comm.startswith("CPU ") and g.vcpu_load[int(comm[4:comm.index("/")])] > 0.5
            stat[tid] = _task_stat(tid, thread_name(comm), pid, ns / 1e7, cpu, nthreads, "R" if busy else "S")
            put(f"{p}/task/{tid}/stat", stat[tid])
        put(f"{p}/stat", stat[pid])
        # the guest's CPU time, where libvirt's cpu.time (and kvmtune) read it on a v1 host
        put(f"sys/fs/cgroup/cpu,cpuacct/machine/qemu-{g.dom_id}-{g.name}.libvirt-qemu/cpuacct.usage",
            f"{int(sum(g.vcpu_ns) + emu_ns)}\n")
        merging = int(g.ksm_merging) if g.spec.hugepage_kib is None else 0
        rmap = merging + (unshared_pages(g) if g.spec.hugepage_kib is None else 0)
        put(f"{p}/ksm_stat", f"ksm_rmap_items {rmap}\nksm_zero_pages 0\nksm_merging_pages {merging}\n"
                             f"ksm_process_profit {merging * 4096 - rmap * 64}\nksm_merge_any: no\n"
                             f"ksm_mergeable: {'no' if g.spec.hugepage_kib else 'yes'}\n")
        # memory: cgroup v1 numa_stat (pages), status, numa_maps
        anon_pages = {n: int(g.anon.get(n, 0.0) // PAGE_KIB) for n in range(sc.NODES)}
        key = (tuple(anon_pages.values()), tuple(g.huge.items()), g.live.emulator_pin, g.live.numatune)
        if key == g.mem_key:   # building these texts is the cost: only when memory or pins moved
            return
        g.mem_key = key
        home = max(anon_pages, key=anon_pages.__getitem__)
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
        nt = g.live.numatune
        mems_allowed = nt.nodeset if nt and nt.nodeset else cpuset.format(range(sc.NODES))
        put(f"{p}/status", (
            f"Name:\tqemu-system-x86\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t{g.pid}\nNgid:\t0\n"
            f"Pid:\t{g.pid}\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t128\n"
            f"VmPeak:\t{vm_size + 4096:>8} kB\nVmSize:\t{vm_size:>8} kB\nVmLck:\t{0:>8} kB\n"
            f"VmPin:\t{0:>8} kB\nVmHWM:\t{rss_anon + 23000:>8} kB\nVmRSS:\t{rss_anon + 23000:>8} kB\n"
            f"RssAnon:\t{rss_anon:>8} kB\nRssFile:\t{23000:>8} kB\nRssShmem:\t{0:>8} kB\n"
            f"VmData:\t{vm_size - 400_000:>8} kB\nVmStk:\t{132:>8} kB\nVmExe:\t{5724:>8} kB\n"
            f"VmLib:\t{14608:>8} kB\nVmPTE:\t{rss_anon // 512 + 260:>8} kB\nVmSwap:\t{int(swapped_kib(g)):>8} kB\n"
            f"HugetlbPages:\t{huge_kib:>8} kB\nThreads:\t{nthreads}\n"
            f"Cpus_allowed_list:\t{cpuset.format(g.live.emulator_pin or ALL_CPUS)}\n"
            f"Mems_allowed_list:\t{mems_allowed}\n"))
        # statm in pages: size resident shared text lib data 0 (RSS = RssAnon + RssFile, as status says)
        put(f"{p}/statm", f"{vm_size // PAGE_KIB} {(rss_anon + 23000) // PAGE_KIB} {23000 // PAGE_KIB} "
                          f"{5724 // PAGE_KIB} 0 {(vm_size - 400_000) // PAGE_KIB} 0\n")
        put(f"{p}/numa_maps", _numa_maps(g, anon_pages, home))


def _netdevs(g: SimGuest) -> list[str]:
    """QEMU's -netdev options as libvirt 9 writes them: vhost-net for a virtio NIC on a KVM
    guest unless the XML says <driver name='qemu'/>; user-mode networking has no tap."""
    out = []
    for i, n in enumerate(g.nics):
        if n.spec.type == "user":
            out += ["-netdev", json.dumps({"type": "user", "id": f"hostnet{i}"}, separators=(",", ":"))]
            continue
        vhost = n.spec.model == "virtio" and n.spec.driver != "qemu"
        opts: dict[str, object] = {"type": "tap", "fd": str(40 + 2 * i)}
        if vhost:
            opts.update(vhost=True, vhostfd=str(41 + 2 * i))
        out += ["-netdev", json.dumps({**opts, "id": f"hostnet{i}"}, separators=(",", ":"))]
    return out


def _smp(s: sc.GuestSpec) -> str:
    sockets, cores, threads = s.topology or (s.vcpus, 1, 1)   # libvirt's default: a socket per vCPU
    return f"{s.vcpus},sockets={sockets},dies=1,cores={cores},threads={threads}"


def _bracket(words: tuple[str, ...], chosen: str) -> str:
    return " ".join(f"[{w}]" if w == chosen else w for w in words) + "\n"


# proc(5) stat fields 3..52 after "(comm)"; 14/15 utime/stime and 39 processor are filled in.
_STAT_TAIL = ("{state} 1 {pid} {pid} 0 -1 138412224 733 0 0 0 {utime} {stime} 0 0 20 0 {nthreads} 0 88909 "
              "1736798208 11309 18446744073709551615 94373576781824 94373582642261 140727738567760 "
              "0 0 0 2147220087 4096 16451 1 0 0 -1 {cpu} 0 0 0 0 0 94373585754360 94373590958512 "
              "94374426570752 140727738574776 140727738576437 140727738576437 140727738576860 0\n")


def _task_stat(tid: int, comm: str, pid: int, ticks: float, cpu: int, nthreads: int, state: str = "S") -> str:
    return f"{tid} ({comm}) " + _STAT_TAIL.format(
        state=state, pid=pid, utime=int(ticks * 0.9), stime=int(ticks * 0.1), nthreads=nthreads, cpu=cpu)


def _numa_maps(g: SimGuest, anon_pages: dict[int, int], home: int) -> str:
    """numa_maps as the kernel prints it for a QEMU process: binary, heap, guest RAM, stack."""
    heap = min(anon_pages[home], QEMU_OVERHEAD_KIB // PAGE_KIB * 2 // 3)
    stack = min(anon_pages[home] - heap, 33)
    ram = dict(anon_pages)
    ram[home] -= heap + stack
    qemu = "default file=/usr/bin/qemu-system-x86_64"
    lines = [f"55d50f44c000 {qemu} mapped=1031 mapmax=9 N{home}=1031 kernelpagesize_kB=4",
             f"55d50f853000 {qemu} mapped=1337 mapmax=9 N{home}=1337 kernelpagesize_kB=4"]
    if heap:
        lines.append(f"55d5422bf000 default heap anon={heap} dirty={heap} active=0 N{home}={heap} kernelpagesize_kB=4")
    if sum(ram.values()):
        nodes = " ".join(f"N{n}={v}" for n, v in ram.items() if v)
        lines.append(f"7f2257e00000 default anon={sum(ram.values())} dirty={sum(ram.values())} active=0 {nodes} "
                     f"kernelpagesize_kB=4")
    if g.huge:
        size = g.spec.hugepage_kib
        mnt = "/dev/hugepages1G" if size == sc.HUGE_1G else "/dev/hugepages"
        n = sum(g.huge.values())
        nodes = " ".join(f"N{k}={v}" for k, v in sorted(g.huge.items()) if v)
        lines.append(f"7fee40000000 default file={mnt}/libvirt/qemu/{g.dom_id}-{g.name}/"
                     f"qemu_back_mem.pc.ram\\040(deleted) huge anon={n} dirty={n} {nodes} kernelpagesize_kB={size}")
    lines.append(f"7f2263fff000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 mapped=40 mapmax=30 N{home}=40 "
                 f"kernelpagesize_kB=4")
    if stack:
        lines.append(f"7ffd4c5e1000 default stack anon={stack} dirty={stack} active=0 N{home}={stack} "
                     f"kernelpagesize_kB=4")
    return "\n".join(lines) + "\n"
