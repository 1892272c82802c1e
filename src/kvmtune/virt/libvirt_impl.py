"""The hypervisor interface on libvirt-python, for any URI (qemu:///system, test:///file.xml, ...).

- Per tick: the guest list and a few parallel stats calls (libvirt_stats) give every guest's
  state, memory and block counters within a deadline; `list_guests()` makes them and
  `guest_stats()` hands out their result. A guest that does not answer in time (its QEMU
  stopped, a job holding it) is handed out stale, with its last state, and holds up nobody.
  The calls ask for nothing the collector reads itself: CPU times (per vCPU and per guest)
  and the vCPU count come from /proc and the guest's cgroup (the vcpu and cpu-total groups
  were half of libvirtd's work per tick), so `DomainInfo.nvcpus` is None. Only for a remote
  URI (no /proc of its guests here) does it ask for those groups too; a driver with a
  partial stats API (the test driver gives only the state) is filled from `dom.info()`.
- Settings getters are called only when the collector refreshes a guest's settings, all of
  a guest's under one deadline (`guarded`, `call_timeout`): some wait for its job or monitor.
- Events: lifecycle and tunable events (and our own setters) mark a guest as changed,
  so settings are re-read as soon as someone — kvmtune or virsh — changes them.
- The connection is opened lazily and re-opened on the next call after libvirtd comes
  back; a keepalive makes a dead daemon fail calls in seconds instead of hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

try:
    import libvirt
except ImportError:  # reported by LibvirtHypervisor() with the fix
    libvirt = None

from .. import cpuset
from ..errors import Disconnected, GuestGone, NotSupported, Stalled, VirtError
from ..model import IoThread, MemTune, NumaTune
from ..vocab import MEMTUNE_LIBVIRT, MEMTUNE_UNLIMITED_KIB, NUMA_MODES, SCOPE_BOTH, STATE_BY_CODE, Scope
from .interface import DomainInfo, GuestStats, Hypervisor
from .libvirt_stats import ACTING_KEY, BUSY, StatsReader, guest_stats, stats_groups

T = TypeVar("T")

_loop_lock = threading.Lock()
_loop_started = False


def _ensure_event_loop() -> None:
    """libvirt's default event loop in a daemon thread: needed for events and keepalive.

    It must be registered before the first connection is opened, once per process.
    """
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        # libvirt prints every error to stderr by default; ours are raised and shown once.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def _scope_flags(scope: Scope) -> int:
    flags = {"live": libvirt.VIR_DOMAIN_AFFECT_LIVE, "config": libvirt.VIR_DOMAIN_AFFECT_CONFIG,
             SCOPE_BOTH: libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG,
             "current": libvirt.VIR_DOMAIN_AFFECT_CURRENT}
    if scope not in flags:
        raise VirtError(f"unknown scope {scope!r} (live, config, live+config or current)")
    return int(flags[scope])


def _read_flags(scope: Scope) -> int:
    """A getter's flags: libvirt reads one definition, live or config (or current)."""
    if scope == SCOPE_BOTH:
        raise VirtError("a read takes one scope: live, config or current, not both")
    return _scope_flags(scope)


class LibvirtHypervisor(Hypervisor):
    def __init__(self, uri: str, stats_timeout: float = 1.5, call_timeout: float = 2.0):
        if libvirt is None:
            # An expected set-up state (`make demo` installs the package alone): say the fix.
            raise VirtError("libvirt-python is not installed: run `make setup` (or `pip install "
                            "libvirt-python`, which builds against libvirt-dev and pkg-config), "
                            "or try `kvmtune --demo`")
        self.uri = uri
        self._conn: Any = None
        self._lock = threading.RLock()
        self._changed: set[str] = set()
        self._events_ok = False
        self._callbacks: list[int] = []
        self._last_stats: dict[str, GuestStats] | None = None
        self._ncpus: int | None = None
        self._groups = stats_groups(uri)
        self.stats_timeout = stats_timeout   # each round of stats calls (a stalled tick waits two)
        self.call_timeout = call_timeout     # a guest's settings reads together
        self._reader = StatsReader(self._groups, stats_timeout, self._call)
        self._infos: dict[str, DomainInfo] = {}   # the last tick's: a stalled guest keeps its last state
        self._doms: tuple[Any, dict[str, Any]] = (None, {})   # the last listing's handles, and its connection

    # -- connection ------------------------------------------------------------------

    def ensure_connected(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return
                except libvirt.libvirtError:
                    pass
                self._drop()
            _ensure_event_loop()
            try:
                conn = libvirt.open(self.uri)
            except libvirt.libvirtError as e:
                raise Disconnected(f"cannot connect to {self.uri}: {_msg(e)}") from None
            if conn is None:
                raise Disconnected(f"cannot connect to {self.uri}")
            self._conn = conn
            try:
                conn.setKeepAlive(5, 3)
            except libvirt.libvirtError:
                pass  # local drivers (test://) have no keepalive
            self._register_events()
            # Everything may have changed while we were away.
            self._events_ok_reset()

    def _events_ok_reset(self) -> None:
        self._ncpus = None
        self._reader.balloon_moved()   # its BALLOON_CHANGE events were missed too
        with self._lock:
            self._changed = {"*"}

    def _register_events(self) -> None:
        self._callbacks = []
        ok = True
        for ev, cb in ((libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event),
                       (libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE, self._on_event),
                       # a balloon that moved is read on the next tick, not at its cadence
                       (libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE,
                        lambda _c, dom, *_a: self._reader.balloon_moved(dom.name()))):
            try:
                self._callbacks.append(self._conn.domainEventRegisterAny(None, ev, cb, None))
            except libvirt.libvirtError:
                ok = ok and ev == libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE   # (that one: the cadence alone)
        self._events_ok = ok

    def _on_event(self, conn: Any, dom: Any, *args: Any) -> None:
        with self._lock:
            self._changed.add(dom.name())

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._events_ok = False
        self._doms = (None, {})   # (its handles hold the connection open)
        if conn is None:
            return
        for cb in self._callbacks:
            try:
                conn.domainEventDeregisterAny(cb)
            except libvirt.libvirtError:
                pass
        try:
            conn.close()
        except libvirt.libvirtError:
            pass

    def close(self) -> None:
        with self._lock:
            self._drop()

    def changed_guests(self) -> set[str] | None:
        with self._lock:
            if not self._events_ok:
                return None
            changed, self._changed = self._changed, set()
            return changed

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one libvirt call, mapping its errors onto the interface's."""
        try:
            return fn(*args)
        except (OverflowError, TypeError) as e:  # a value libvirt's C types cannot hold
            raise VirtError(f"value out of range: {e}") from None
        except libvirt.libvirtError as e:
            code = e.get_error_code()
            if code == libvirt.VIR_ERR_NO_DOMAIN:
                raise GuestGone(_msg(e)) from None
            alive = False
            try:
                conn = self._conn
                alive = conn is not None and conn.isAlive() == 1
            except libvirt.libvirtError:
                pass
            if not alive:
                with self._lock:
                    self._drop()
                raise Disconnected(f"lost the connection to {self.uri}: {_msg(e)}") from None
            if code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in _msg(e):
                raise GuestGone(_msg(e)) from None
            if code in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
                raise NotSupported(_msg(e)) from None
            raise VirtError(_msg(e)) from None

    def _connection(self) -> Any:
        """The open connection, taken under the lock: another thread may drop it at any time."""
        self.ensure_connected()
        with self._lock:
            conn = self._conn
        if conn is None:
            raise Disconnected(f"lost the connection to {self.uri}")
        return conn

    def _dom(self, name: str) -> Any:
        """The guest's handle: the last listing's, else a lookup. A lookup is a round trip
        to libvirtd (130 us of its CPU, 70 of ours here) and a settings read made eight;
        a handle names the guest by UUID, so it holds across the guest's restarts."""
        conn = self._connection()
        listed, doms = self._doms
        if listed is conn and (dom := doms.get(name)) is not None:
            return dom
        return self._call(conn.lookupByName, name)

    def host_cpu_count(self) -> int:
        if self._ncpus is None:
            conn = self._connection()
            try:
                self._ncpus = int(self._call(conn.getCPUMap)[0])
            except VirtError:
                self._ncpus = int(self._call(conn.getInfo)[2])
        return self._ncpus

    # -- reads -----------------------------------------------------------------------

    def list_guests(self) -> list[DomainInfo]:
        conn = self._connection()
        records, late, held = self._reader.read(conn)
        guests, stats = [], {}
        for dom, st in records:
            name = dom.name()
            state = st.get("state.state")
            mem = st.get("balloon.current")
            nvcpus = st.get("vcpu.current")   # asked for only on a remote URI
            if state is None or mem is None:
                # Drivers with a partial stats API (the test driver gives only "state"). Not
                # nvcpus: qemu:///system is not asked for it, and must not cost a call per guest.
                try:
                    info = dom.info()
                except libvirt.libvirtError:
                    continue  # gone between the two calls
                state, mem, nvcpus = info[0], info[2], info[3]
                st = {**st, "cpu.time": st.get("cpu.time", info[4]),
                      "balloon.maximum": st.get("balloon.maximum", info[1]), **_vcpus_info(dom)}
            domid = dom.ID()
            guests.append(DomainInfo(
                name=name, uuid=dom.UUIDString(), id=domid if domid >= 0 else None,
                state=STATE_BY_CODE.get(int(state), "no state"), memory_kib=int(mem),
                nvcpus=None if nvcpus is None else int(nvcpus)))
            stats[name] = guest_stats(st)
            if "vcpu.0.cpu" in st:   # (vcpus(): the test driver's current CPUs, as virsh vcpuinfo's)
                stats[name] = replace(stats[name], vcpu_pcpu={
                    i: int(st[f"vcpu.{i}.cpu"]) for i in range(int(st["vcpu.current"]))})
            if name in held:
                stats[name] = replace(stats[name], stale=BUSY)
        for name, (dom, why) in late.items():
            # as it was last seen (the handle alone, if never: its id and uuid are on it, no call)
            domid = dom.ID()
            guests.append(self._infos.get(name) or DomainInfo(
                name=name, uuid=dom.UUIDString(), id=domid if domid >= 0 else None,
                state="no state", memory_kib=0, nvcpus=None))
            stats[name] = GuestStats(stale=why)
        self._infos = {g.name: g for g in guests}
        self._doms = (conn, {**{d.name(): d for d, _st in records}, **{n: d for n, (d, _w) in late.items()}})
        self._last_stats = stats
        return guests

    def guest_stats(self) -> dict[str, GuestStats]:
        if self._last_stats is None:
            self.list_guests()
        stats, self._last_stats = self._last_stats or {}, None
        return stats

    def guarded(self, name: str, fn: Callable[[], T]) -> T:
        # some getters wait for the guest's job or its QEMU monitor (ioThreadInfo; numaParameters
        # waited too, measured on a stopped QEMU): the group gets one deadline
        return self._reader.deadlines.run(name, fn, self.call_timeout)

    def acting(self, name: str, fn: Callable[[], T], timeout: float) -> T:
        d = self._reader.deadlines
        why = " (its QEMU stopped, or busy in a job?)"
        if d.busy(name) or d.busy(ACTING_KEY + name):   # a call stuck on it: this one would wait behind it
            raise Stalled(f"libvirt has not answered an earlier call about {name} yet{why}")
        try:
            return d.run(ACTING_KEY + name, fn, timeout)
        except Stalled:
            raise Stalled(f"libvirt did not answer about {name} within {timeout:g} s{why}") from None

    def stalling(self) -> bool:
        return self._reader.deadlines.any_busy()

    def domain_xml(self, name: str, inactive: bool = False) -> str:
        return str(self._call(self._dom(name).XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0))

    def vcpu_affinity(self, name: str, scope: Scope = "current") -> list[tuple[int, ...]]:
        return [cpuset.from_bools(m) for m in self._call(self._dom(name).vcpuPinInfo, _read_flags(scope))]

    def emulator_affinity(self, name: str, scope: Scope = "current") -> tuple[int, ...]:
        return cpuset.from_bools(self._call(self._dom(name).emulatorPinInfo, _read_flags(scope)))

    def iothreads(self, name: str, scope: Scope = "current") -> list[IoThread]:
        dom = self._dom(name)
        return [IoThread(int(i), cpuset.from_bools(m)) for i, m in self._call(dom.ioThreadInfo, _read_flags(scope))]

    def numatune(self, name: str, scope: Scope = "current") -> NumaTune:
        p = self._call(self._dom(name).numaParameters, _read_flags(scope))
        mode = int(p.get("numa_mode", 0))
        if not 0 <= mode < len(NUMA_MODES):
            raise VirtError(f"unknown numatune mode {mode} from libvirt")
        return NumaTune(NUMA_MODES[mode], p.get("numa_nodeset") or None)

    def memtune(self, name: str, scope: Scope = "current") -> MemTune:
        p = self._call(self._dom(name).memoryParameters, _read_flags(scope))

        def lim(key: str) -> int | None:
            v = p.get(key)
            return None if v is None or int(v) >= MEMTUNE_UNLIMITED_KIB else int(v)
        return MemTune(lim("hard_limit"), lim("soft_limit"), lim("swap_hard_limit"))

    def blkio(self, name: str, scope: Scope = "current") -> dict[str, int | str]:
        return dict(self._call(self._dom(name).blkioParameters, _read_flags(scope)))

    def block_iotune(self, name: str, disk: str, scope: Scope = "current") -> dict[str, int]:
        return dict(self._call(self._dom(name).blockIoTune, disk, _read_flags(scope)))

    # -- setters -----------------------------------------------------------------------

    def _changed_by_us(self, name: str) -> None:
        with self._lock:
            self._changed.add(name)

    def _cpumap(self, cpus: tuple[int, ...]) -> tuple[bool, ...]:
        try:
            return cpuset.to_bools(cpus, self.host_cpu_count())
        except cpuset.CpusetError as e:
            raise VirtError(str(e)) from None

    def _typed(self, setter: Any, *args: Any, scope: Scope) -> None:
        """A typed-parameter setter. libvirt-python first reads the parameters with the same
        flags to learn their types, and a read takes live or config, never both: so
        live+config is two calls, live first (a refusal there leaves the definition as it was)."""
        for s in (("live", "config") if scope == SCOPE_BOTH else (scope,)):
            self._call(setter, *args, _scope_flags(s))

    def pin_vcpu(self, name: str, vcpu: int, cpus: tuple[int, ...], scope: Scope = "live") -> None:
        self._call(self._dom(name).pinVcpuFlags, vcpu, self._cpumap(cpus), _scope_flags(scope))
        self._changed_by_us(name)

    def pin_emulator(self, name: str, cpus: tuple[int, ...], scope: Scope = "live") -> None:
        self._call(self._dom(name).pinEmulator, self._cpumap(cpus), _scope_flags(scope))
        self._changed_by_us(name)

    def pin_iothread(self, name: str, iothread: int, cpus: tuple[int, ...], scope: Scope = "live") -> None:
        self._call(self._dom(name).pinIOThread, iothread, self._cpumap(cpus), _scope_flags(scope))
        self._changed_by_us(name)

    def set_numatune(self, name: str, mode: str | None, nodeset: str | None, scope: Scope = "live") -> None:
        params: dict[str, Any] = {}
        if mode is not None:
            if mode not in NUMA_MODES:
                raise VirtError(f"unknown numatune mode {mode!r} ({', '.join(NUMA_MODES)})")
            params["numa_mode"] = NUMA_MODES.index(mode)
        if nodeset is not None:
            params["numa_nodeset"] = nodeset
        self._typed(self._dom(name).setNumaParameters, params, scope=scope)
        self._changed_by_us(name)

    def set_memtune(self, name: str, values: Mapping[str, int | None], scope: Scope = "live") -> None:
        params = {}
        for key, v in values.items():
            if key not in MEMTUNE_LIBVIRT:
                raise VirtError(f"unknown memtune value {key!r}")
            params[MEMTUNE_LIBVIRT[key]] = MEMTUNE_UNLIMITED_KIB if v is None else int(v)
        self._typed(self._dom(name).setMemoryParameters, params, scope=scope)
        self._changed_by_us(name)

    def set_blkio(self, name: str, values: Mapping[str, object], scope: Scope = "live") -> None:
        self._typed(self._dom(name).setBlkioParameters, dict(values), scope=scope)
        self._changed_by_us(name)

    def set_block_iotune(self, name: str, disk: str, values: Mapping[str, object], scope: Scope = "live") -> None:
        self._typed(self._dom(name).setBlockIoTune, disk, dict(values), scope=scope)
        self._changed_by_us(name)


def _msg(e: Exception) -> str:
    if libvirt is not None and isinstance(e, libvirt.libvirtError):
        return (e.get_error_message() or str(e)).strip()
    return str(e)


def _vcpus_info(dom: Any) -> dict[str, int]:
    """A running guest's vcpus() (virsh vcpuinfo's call) as the vcpu stats group's keys, plus each
    vCPU's current CPU: only for a driver whose bulk stats lack the groups (the test driver),
    never a call per guest on qemu:///system. {} for a guest that is not running."""
    try:
        info, _ = dom.vcpus()
    except libvirt.libvirtError:
        return {}   # not running (or gone): no vCPU figures
    out = {"vcpu.current": len(info)}
    for number, state, cpu_time, cpu in info:
        out |= {f"vcpu.{number}.state": state, f"vcpu.{number}.time": cpu_time, f"vcpu.{number}.cpu": cpu}
    return out

