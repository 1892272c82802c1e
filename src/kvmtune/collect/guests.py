"""Guests: libvirt's view (list, bulk stats, settings) joined with the kernel's (/proc, cgroups).

Per tick it reads only what changes: the stats calls for every guest (state, memory,
block counters; a guest libvirt cannot answer for in time is handed over stale and keeps
its last block counters), and per running guest its vCPU threads (where each runs, and its CPU
time), its cgroup's CPU time, its memory cgroup's numa_stat, its statm (RSS) and its ksm_stat (and,
for a guest with KSM-merged pages, its status: see ksm_memory) — costs that do not grow
with guest memory. The vCPU count is the vCPU threads found (else the domain XML's).
Settings (pins, numatune, memtune, blkio, iotune, XML) are cached and re-read when
libvirt reports a change for the guest, when the guest restarts, and otherwise at most
every `settings_every` seconds: then the live XML alone, and the getters only when it
changed (or every `settings_full_every` s, for a change made around libvirt): settings.py.
numa_maps (a page-table walk) is read only for hugepage-backed guests and guests with
KSM-merged pages, once per run (or merge) and then every `numa_maps_every` seconds:
hugetlb backing does not move, and for KSM it only places the merged pages over the nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from ..cpuset import default_cpus
from ..errors import Disconnected, FileMissing, GuestGone, HostFSError, ParseError, Stalled, VirtError
from ..model import Disk, Error, Guest, GuestKsm, MemoryBacking, Vcpu
from ..source import Source
from ..virt.interface import BlockCounters, DomainInfo, GuestStats, Hypervisor, spread
from ..vocab import PAGE_KIB, VCPU_STATE_BY_LETTER, VcpuState
from . import ksm_memory, process
from .nics import NicReader
from .settings import Settings, read_settings
from .vhost import VhostReader


@dataclass
class ProcCache:
    """Per guest run: what is found once (pid, cgroup dir) and what is read rarely (hugepages)."""
    run_id: int | None
    pid: int | None = None
    cgroup_dir: str | None = None
    cpu_account: process.CpuAccount | None = None
    hugepages: dict[int, dict[int, int]] | None = None
    hugepages_at: float = float("-inf")
    thread_names: dict[str, int | None] = field(default_factory=dict)
    ksm_where: dict[int, int] | None = None     # ksm_memory.elsewhere() as of the last numa_maps read
    ksm_where_at: float = float("-inf")


class ProcFigures(NamedTuple):
    """What one tick reads of a running guest's process and cgroups."""
    threads: dict[int, process.VcpuThread]
    numa: dict[int, int] | None = None
    hugepages: dict[int, dict[int, int]] | None = None
    ksm: GuestKsm | None = None
    cpu_time_ns: int | None = None
    rss_kib: int | None = None


class GuestCollector:
    def __init__(self, source: Source, settings_every: float = 30.0, numa_maps_every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.settings_every = settings_every
        # A periodic re-read asks for the live XML only, and for the getters when it changed:
        # libvirt writes each pin, numatune, memtune, blkiotune and blkdeviotune it makes there.
        # A change made around it (a cgroup written by hand, a thread pinned with taskset) is
        # seen by the getters that read the cgroup or the thread, within this many seconds.
        self.settings_full_every = 300.0
        self.numa_maps_every = numa_maps_every
        self.clock = clock
        self._settings: dict[str, Settings] = {}
        self._proc: dict[str, ProcCache] = {}
        self._nics = NicReader(source.fs)
        self._vhost = VhostReader(source.fs, settings_every)
        self._last: dict[str, Guest] = {}   # the last tick's guests: a stale guest's figures carry over
        self._hold_settings = self._settings_stalled = False
        # seconds of settings reads a tick may take (None: no limit). The TUI sets one so its
        # first screen on a large host does not wait for every guest's settings (~2-20 ms each
        # from a real libvirtd): the rest are read on the next ticks, asked for at once.
        self.settings_budget: float | None = None
        self._settings_spent = 0.0

    def reset(self) -> None:
        """Forget every cached setting and process figure: the next tick reads them afresh."""
        self._settings.clear()
        self._proc.clear()
        self._last.clear()

    def forget(self, names: set[str]) -> None:
        """The next tick reads these guests' settings afresh."""
        for name in names:
            self._settings.pop(name, None)

    def collect(self, online_cpus: tuple[int, ...], errors: list[Error]) -> tuple[tuple[Guest, ...], bool]:
        """Every guest libvirt knows; (guests, disconnected)."""
        hv = self._hv()
        try:
            hv.ensure_connected()
            infos = hv.list_guests()
            stats = hv.guest_stats()
        except Disconnected as e:
            errors.append(Error("libvirt", str(e)))
            self._settings.clear()
            return (), True
        except VirtError as e:
            # connected, but the guest list could not be read this tick: as for a lost
            # connection, the consumers keep the last guests (stale) rather than show none
            errors.append(Error("libvirt", str(e)))
            return (), True
        changed = hv.changed_guests()
        names = {i.name for i in infos}
        online = frozenset(online_cpus)
        for cache in (self._settings, self._proc, self._last):
            for gone in set(cache) - names:
                del cache[gone]
        now = self.clock()
        self._nics.new_tick(names)
        # while a libvirt call for some guest still waits, settings are not refreshed (other
        # guests' getters were measured to wait too), and after one read misses its deadline
        # no more are made this tick: a guest never read shows without them until then
        self._hold_settings = hv.stalling()
        self._settings_stalled = False
        self._settings_spent = 0.0
        guests: list[Guest] = []
        for info in infos:
            st = stats.get(info.name)
            stale = st is not None and st.stale is not None
            if st is not None and st.stale is not None:
                errors.append(Error(f"{info.name}: stats", f"stale: {st.stale}"))
            try:
                settings = self._settings_for(info, changed, now, errors, stale)
                g = self._guest(info, st, settings, online, now, errors)
            except GuestGone:
                continue  # went away mid-read: it is simply not in this snapshot
            except Disconnected as e:
                errors.append(Error("libvirt", str(e)))
                return tuple(guests), True
            guests.append(g)
            self._last[info.name] = g
        return tuple(guests), False

    # -- settings (slow) -----------------------------------------------------------------

    def _hv(self) -> Hypervisor:
        hv = self.source.hv
        assert hv is not None, "a guest collector needs a hypervisor"
        return hv

    def _settings_for(self, info: DomainInfo, changed: set[str] | None, now: float,
                      errors: list[Error], stale_stats: bool = False) -> Settings:
        old = self._settings.get(info.name)
        if (stale_stats or self._hold_settings) and old is not None:
            return old   # libvirt does not answer for it (or another guest) now: getters would wait too
        period = spread(self.settings_every, info.name)
        same_run = old is not None and old.run_id == info.id
        event = changed is not None and (info.name in changed or "*" in changed)
        if old is not None and same_run and not event and now - old.read_at < period:
            return old
        if self.settings_budget is not None and self._settings_spent >= self.settings_budget:
            # this tick's share is read: a refresh waits a tick, a guest never read shows pending
            if old is not None and not old.pending:
                return old
            s = self._settings[info.name] = Settings(read_at=float("-inf"), run_id=info.id, pending=True)
            return s
        t0 = time.perf_counter()
        try:
            if self._settings_stalled:
                raise Stalled("libvirt did not answer for another guest's settings this tick")
            # only its period is up (libvirt reported no change, it runs as it ran): a re-read
            # that may keep what it knows (see settings_full_every)
            last = old if old is not None and same_run and not old.pending and changed is not None and not event \
                else None
            s = self._hv().guarded(info.name, lambda: read_settings(self._hv(), info, now, errors, last,
                                                                   self.settings_full_every))
        except Stalled as e:
            self._settings_stalled = True
            errors.append(Error(f"{info.name}: settings", f"not read: {e}"))
            if old is not None and not old.pending:
                return old   # as last read; asked again next tick
            # nothing known yet: read next tick
            s = Settings(read_at=float("-inf"), run_id=info.id, pending=True)
        finally:
            self._settings_spent += time.perf_counter() - t0
        self._settings[info.name] = s
        return s

    # -- per tick ----------------------------------------------------------------------------

    def _guest(self, info: DomainInfo, stats: GuestStats | None, s: Settings,
               online: frozenset[int], now: float, errors: list[Error]) -> Guest:
        running = info.id is not None
        pc = self._proc.get(info.name)
        if pc is None or pc.run_id != info.id:
            pc = self._proc[info.name] = ProcCache(info.id)
        pf = self._proc_figures(info, s.config.memory_backing, pc, now, errors) if running else ProcFigures({})
        threads = pf.threads
        st = stats or GuestStats()
        # a stale guest: its block counters as last read (/proc and cgroup figures are current)
        prev = self._last.get(info.name) if st.stale is not None else None
        prev_disks = {d.target: d for d in prev.disks} if prev is not None else {}
        vcpus = []
        default = online if not s.config.vcpu_cpuset else frozenset(
            default_cpus(tuple(sorted(online)), s.config.vcpu_cpuset))
        # the vCPU count: libvirt's where it gave one (test driver, remote URI), else the vCPU
        # threads of a running guest, else the XML's (a shut-off guest; no /proc here)
        nvcpus = info.nvcpus if info.nvcpus is not None else len(threads) or s.config.current_vcpus
        count = (nvcpus or 0) if running else len(s.affinity or ())
        for i in range(count):
            aff = s.affinity[i] if s.affinity and i < len(s.affinity) else ()
            th = threads.get(i)
            vcpus.append(Vcpu(
                index=i, tid=th.tid if th else None, pcpu=th.pcpu if th else st.vcpu_pcpu.get(i),
                affinity=aff, pinned=bool(aff) and not default.issubset(aff),
                cpu_time_ns=th.cpu_time_ns if th else st.vcpu_time_ns.get(i),
                state=_vcpu_state(th, threads, st, i) if running else None))
        disks = []
        for d in s.config.disks:
            b = st.block.get(d.target)
            if (b is None or b.rd_bytes is None) and (p := prev_disks.get(d.target)) is not None:
                b = BlockCounters(p.rd_bytes, p.wr_bytes, p.rd_reqs, p.wr_reqs, p.rd_times_ns, p.wr_times_ns,
                                  p.fl_reqs, p.fl_times_ns, p.errors)
            disks.append(Disk(
                target=d.target, source=d.source, iotune=s.iotune[d.target],
                rd_bytes=b.rd_bytes if b is not None else None,
                wr_bytes=b.wr_bytes if b is not None else None,
                rd_reqs=b.rd_reqs if b is not None else None,
                wr_reqs=b.wr_reqs if b is not None else None,
                cache=d.cache, io=d.io, bus=d.bus,
                **(_block_times(b) if b is not None else {}),
            ))
        nics = self._nics.read(info.name, s.config.facts, running, pc.pid, st.net, errors)
        return Guest(
            name=info.name, uuid=info.uuid, id=info.id, state=info.state, pid=pc.pid,
            memory_kib=info.memory_kib, vcpus=tuple(vcpus), emulator_affinity=s.emulator,
            numatune=s.numatune, memtune=s.memtune, numa_memory_kib=pf.numa, hugepages=pf.hugepages,
            ksm=pf.ksm, blkio_weight=s.blkio_weight, disks=tuple(disks), iothreads=s.iothreads,
            memory_backing=s.config.memory_backing,
            cpu_time_ns=pf.cpu_time_ns if pf.cpu_time_ns is not None else st.cpu_time_ns,
            nvcpus=nvcpus, vcpu_cpuset=s.config.vcpu_cpuset,
            domain=s.config.facts,   # the refresh's own object, not a copy: unchanged between refreshes
            nics=nics, vhost_threads=self._vhost.read(info.name, pc.pid, pc.thread_names, nics, now, errors)
            if running else (),
            stale=st.stale is not None, settings_pending=s.pending,
            # the configured size: libvirt's balloon.maximum, else the XML's <memory> (read with the settings)
            max_memory_kib=st.balloon_max_kib if st.balloon_max_kib is not None
            else s.config.facts.max_memory_kib if s.config.facts is not None else None,
            rss_kib=pf.rss_kib if pf.rss_kib is not None else st.rss_kib,
        )

    def _proc_figures(self, info: DomainInfo, backing: MemoryBacking, pc: ProcCache, now: float,
                      errors: list[Error]) -> ProcFigures:
        fs = self.source.fs
        name = info.name
        threads: dict[int, process.VcpuThread] = {}
        numa: dict[int, int] | None = None
        hp: dict[int, dict[int, int]] | None = None
        ksm: GuestKsm | None = None
        cpu: int | None = None

        def note(what: str, e: Exception) -> None:
            errors.append(Error(f"{name}: {what}", str(e)))

        try:
            if pc.pid is None:
                pc.pid = process.guest_pid(fs, name)
            if pc.pid is None:
                errors.append(Error(f"{name}: pid", "no QEMU process found for the guest"))
                return ProcFigures(threads)
            pid = pc.pid
        except (HostFSError, ParseError) as e:
            note("pid", e)
            return ProcFigures(threads)
        try:
            threads = process.vcpu_threads(fs, pid, pc.thread_names)
        except (HostFSError, ParseError) as e:
            note("vCPU threads", e)
            pc.pid = None  # the pid may belong to an earlier run: look it up again next tick
            return ProcFigures(threads)
        try:
            if pc.cpu_account is None:
                pc.cpu_account = process.cpu_account(fs, pid)
            cpu = process.cpu_time_ns(fs, pc.cpu_account)
        except FileMissing:
            pc.cpu_account = None   # exited since the vCPU read, or the cgroup went: find it again
        except (HostFSError, ParseError) as e:
            note("CPU time", e)
            pc.cpu_account = None
        charged: dict[int, int] | None = None
        try:
            if pc.cgroup_dir is None:
                pc.cgroup_dir = process.memory_cgroup_dir(fs, pid)
            if pc.cgroup_dir is None:
                errors.append(Error(f"{name}: memory cgroup", "no memory cgroup for the QEMU process"))
            else:
                charged = process.anon_per_node_kib(fs, pc.cgroup_dir)
        except (HostFSError, ParseError) as e:
            note("memory per node", e)
            pc.cgroup_dir = None
        rss: int | None = None
        try:
            rss = process.rss_kib(fs, pid)
        except FileMissing:
            pass   # exited since the vCPU read
        except (HostFSError, ParseError) as e:
            note("statm", e)
        try:
            ksm = process.guest_ksm(fs, pid)
        except FileMissing:
            pass   # exited since the vCPU read: nothing to say
        except (HostFSError, ParseError) as e:
            note("ksm_stat", e)
        merging_kib = (ksm.merging_pages or 0) * PAGE_KIB if ksm is not None else 0
        if not merging_kib:
            pc.ksm_where, pc.ksm_where_at = None, float("-inf")   # a later merge starts afresh
        # numa_maps (a page-table walk): rarely, and only for hugepage-backed or merging guests.
        want_huge = backing.hugepages and now - pc.hugepages_at >= self.numa_maps_every
        want_where = merging_kib > 0 and charged is not None and now - pc.ksm_where_at >= self.numa_maps_every
        if want_huge or want_where:
            try:
                maps = process.numa_maps(fs, pid)
                if want_huge:
                    pc.hugepages, pc.hugepages_at = maps.huge, now   # each read builds fresh dicts
                if want_where and charged is not None:
                    pc.ksm_where, pc.ksm_where_at = ksm_memory.elsewhere(maps.anon, charged), now
            except (HostFSError, ParseError) as e:
                note("numa_maps", e)
        hp = pc.hugepages if backing.hugepages else {}
        if charged is not None and merging_kib and ksm is not None:
            try:
                charged, shared = ksm_memory.adjust(charged, process.rss_anon_kib(fs, pid), merging_kib,
                                                    pc.ksm_where)
                ksm = replace(ksm, shared_kib=shared)
            except FileMissing:
                pass   # exited since the cgroup read: the cgroup figure stands
            except (HostFSError, ParseError) as e:
                note("status", e)   # the cgroup figure stands, short by the merged pages
        if charged is not None:
            numa = charged   # a fresh dict: add to it
            for size, per_node in (hp or {}).items():
                for node, pages in per_node.items():
                    numa[node] = numa.get(node, 0) + pages * size
        return ProcFigures(threads, numa, hp, ksm, cpu, rss)


def _vcpu_state(th: process.VcpuThread | None, threads: dict[int, process.VcpuThread],
                st: GuestStats, i: int) -> VcpuState | None:
    """A running guest's vCPU: its thread's state; no thread among the guest's others: offline
    (not plugged in); no /proc for the guest here: libvirt's, where it gave one."""
    if th is not None:
        return VCPU_STATE_BY_LETTER.get(th.state)
    return "offline" if threads else st.vcpu_state.get(i)


def _block_times(b: BlockCounters) -> dict[str, int | None]:
    """The block group's times, flushes and errors of a disk (Disk's fields of the same names)."""
    return {"rd_times_ns": b.rd_times_ns, "wr_times_ns": b.wr_times_ns, "fl_reqs": b.fl_reqs,
            "fl_times_ns": b.fl_times_ns, "errors": b.errors}
