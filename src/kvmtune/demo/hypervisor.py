"""The demo's hypervisor: `kvmtune.virt.interface.Hypervisor` on the simulated guests.

It follows libvirt's rules where an admin would meet them (live vs config scope, a
running guest's numatune mode cannot change, throttle groups reset together, blkio
weight range), with libvirt's wording in its errors, so actions behave as on a real host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import cast

from .. import cpuset
from ..errors import Disconnected, GuestGone, VirtError
from ..model import IoThread, MemTune, NumaTune
from ..virt.interface import BlockCounters, DomainInfo, GuestStats, Hypervisor
from ..vocab import (
    IOTUNE_GROUPS,
    IOTUNE_INT_KEYS,
    MEMTUNE_KEYS,
    NUMA_MODES,
    SCOPE_BOTH,
    SCOPES,
    affects_config,
    affects_live,
)
from . import scenario as sc
from .domainxml import domain_xml
from .state import ALL_CPUS, SimGuest, Tunables


class SimHypervisor(Hypervisor):
    uri = "demo:///"

    def __init__(self, guests: list[SimGuest], lock: threading.RLock):
        self._guests = {g.name: g for g in guests}
        self._order = [g.name for g in guests]
        self.lock = lock
        self.available = True        # False simulates libvirtd being down
        self._changed: set[str] = set(self._order)   # the first call reports everything

    # -- connection ----------------------------------------------------------------------
    def _up(self) -> None:
        if not self.available:
            raise Disconnected("cannot connect to the demo hypervisor: libvirtd is not running (simulated)")

    def ensure_connected(self) -> None:
        self._up()

    def close(self) -> None:
        pass

    def host_cpu_count(self) -> int:
        self._up()
        return sc.NCPUS

    def changed_guests(self) -> set[str] | None:
        self._up()
        with self.lock:
            out, self._changed = self._changed, set()
            return out

    def touch(self, names: set[str]) -> None:
        """Report these guests' settings as changed (another process changed them)."""
        with self.lock:
            self._changed |= names

    def _guest(self, name: str) -> SimGuest:
        self._up()
        g = self._guests.get(name)
        if g is None:
            raise GuestGone(f"Domain not found: no domain with matching name '{name}'")
        return g

    # -- reads ---------------------------------------------------------------------------
    def list_guests(self) -> list[DomainInfo]:
        # like libvirt's bulk call as kvmtune makes it: no vCPU count, no CPU times (the
        # collector reads them from the simulated /proc and cgroup tree, as on a real host)
        self._up()
        with self.lock:
            return [DomainInfo(g.name, g.uuid, g.dom_id, g.state, g.spec.memory_kib, None)
                    for g in (self._guests[n] for n in self._order)]

    def guest_stats(self) -> dict[str, GuestStats]:
        self._up()
        with self.lock:
            out = {}
            for g in self._guests.values():
                if not g.running:
                    continue
                out[g.name] = GuestStats(
                    block={d.spec.target: BlockCounters(int(d.rd_bytes), int(d.wr_bytes),
                                                        int(d.rd_reqs), int(d.wr_reqs), int(d.rd_ns),
                                                        int(d.wr_ns), int(d.fl_reqs), int(d.fl_ns))
                           for d in g.disks},
                    balloon_current_kib=g.spec.memory_kib,
                    balloon_max_kib=max(g.spec.max_memory_kib or 0, g.spec.memory_kib))
            return out

    def domain_xml(self, name: str, inactive: bool = False) -> str:
        with self.lock:
            g = self._guest(name)
            return domain_xml(g, g.config if inactive else g.current)

    def _read(self, name: str, scope: str) -> Tunables:
        """The settings a getter reads: live (the guest must run), config, or current."""
        g = self._guest(name)
        if scope == "live" and not g.running:
            raise GuestGone("Requested operation is not valid: domain is not running")
        if scope not in ("live", "config", "current"):
            raise VirtError(f"invalid argument: a read takes one scope, not {scope!r}")
        return g.live if scope == "live" else g.config if scope == "config" else g.current

    def vcpu_affinity(self, name: str, scope: str = "current") -> list[tuple[int, ...]]:
        with self.lock:
            return [p or ALL_CPUS for p in self._read(name, scope).vcpu_pins]

    def emulator_affinity(self, name: str, scope: str = "current") -> tuple[int, ...]:
        with self.lock:
            return self._read(name, scope).emulator_pin or ALL_CPUS

    def iothreads(self, name: str, scope: str = "current") -> list[IoThread]:
        with self.lock:
            return [IoThread(t, p or ALL_CPUS)
                    for t, p in sorted(self._read(name, scope).iothread_pins.items())]

    def numatune(self, name: str, scope: str = "current") -> NumaTune:
        with self.lock:
            # like libvirt: defaults for a guest without <numatune> (its XML has none)
            return self._read(name, scope).numatune or NumaTune("strict", None)

    def memtune(self, name: str, scope: str = "current") -> MemTune:
        with self.lock:
            return self._read(name, scope).memtune

    def blkio(self, name: str, scope: str = "current") -> dict[str, int | str]:
        with self.lock:
            t = self._read(name, scope)
            return {"weight": t.blkio_weight, "device_weight": t.device_weight}

    def block_iotune(self, name: str, disk: str, scope: str = "current") -> dict[str, int]:
        with self.lock:
            t = self._read(name, scope)
            if disk not in t.iotune:
                raise VirtError(f"invalid argument: disk '{disk}' was not found in the domain config")
            return dict(t.iotune[disk])

    # -- setters -------------------------------------------------------------------------
    def _targets(self, g: SimGuest, scope: str) -> list[Tunables]:
        """The settings a change in `scope` lands in (virsh --live / --config / --current)."""
        if scope not in SCOPES:
            raise VirtError(f"invalid argument: scope {scope!r} is not one of {', '.join(SCOPES)}")
        if scope in ("live", SCOPE_BOTH) and not g.running:
            raise GuestGone("Requested operation is not valid: domain is not running")
        return ([g.live] if affects_live(scope, g.running) else []) + \
            ([g.config] if affects_config(scope, g.running) else [])

    def _set(self, name: str, scope: str, change: Callable[[Tunables, bool], None]) -> None:
        """Apply `change(tunables, live)` to each target; validation raises before anything moves."""
        with self.lock:
            g = self._guest(name)
            for t in self._targets(g, scope):
                change(t, t is g.live and g.running)
            self._changed.add(name)

    def pin_vcpu(self, name: str, vcpu: int, cpus: tuple[int, ...], scope: str = "live") -> None:
        cpus = _cpus(cpus)
        g = self._guest(name)
        if not 0 <= vcpu < g.spec.vcpus:
            raise VirtError(f"invalid argument: vcpu {vcpu} is out of range of live cpu count {g.spec.vcpus}")

        def change(t: Tunables, live: bool) -> None:
            t.vcpu_pins[vcpu] = None if cpus == ALL_CPUS else cpus
        self._set(name, scope, change)

    def pin_emulator(self, name: str, cpus: tuple[int, ...], scope: str = "live") -> None:
        cpus = _cpus(cpus)

        def change(t: Tunables, live: bool) -> None:
            t.emulator_pin = None if cpus == ALL_CPUS else cpus
        self._set(name, scope, change)

    def pin_iothread(self, name: str, iothread: int, cpus: tuple[int, ...], scope: str = "live") -> None:
        cpus = _cpus(cpus)

        def change(t: Tunables, live: bool) -> None:
            if iothread not in t.iothread_pins:
                raise VirtError(f"invalid argument: cannot find IOThread '{iothread}' in iothreadpin")
            t.iothread_pins[iothread] = None if cpus == ALL_CPUS else cpus
        self._set(name, scope, change)

    def set_numatune(self, name: str, mode: str | None, nodeset: str | None, scope: str = "live") -> None:
        if mode is not None and mode not in NUMA_MODES:
            raise VirtError(f"invalid argument: unsupported numatune mode: '{mode}'")
        if nodeset is not None:
            try:
                nodes = cpuset.parse(nodeset)
            except cpuset.CpusetError as e:
                raise VirtError(f"invalid argument: {e}") from None
            if not nodes:
                raise VirtError("invalid argument: nodeset is empty")
            bad = [n for n in nodes if n >= sc.NODES]
            if bad:
                raise VirtError(f"unsupported configuration: NUMA node {bad[0]} is unavailable")
            nodeset = cpuset.format(nodes)

        def change(t: Tunables, live: bool) -> None:
            old = t.numatune
            if live and mode is not None and old is not None and old.mode != mode:
                raise VirtError("Requested operation is not valid: can't change numatune mode for running domain")
            new_mode = mode or (old.mode if old else "strict")
            if live and nodeset is not None and new_mode not in ("strict", "restrictive"):
                raise VirtError("Requested operation is not valid: change of nodeset for running domain "
                                "requires strict or restrictive numa mode")
            t.numatune = NumaTune(new_mode, nodeset if nodeset is not None else (old.nodeset if old else None))
        self._set(name, scope, change)

    def set_memtune(self, name: str, values: Mapping[str, int | None], scope: str = "live") -> None:
        for k, v in values.items():
            if k not in MEMTUNE_KEYS:
                raise VirtError(f"invalid argument: unsupported memtune parameter '{k}'")
            if v is not None and (not isinstance(v, int) or v <= 0):
                raise VirtError(f"invalid argument: {k} must be a positive number of KiB, not {v!r}")

        def change(t: Tunables, live: bool) -> None:
            new = MemTune(**{k: values.get(k, getattr(t.memtune, k)) for k in MEMTUNE_KEYS})
            if new.hard_limit_kib and new.swap_hard_limit_kib and new.hard_limit_kib > new.swap_hard_limit_kib:
                raise VirtError("invalid argument: memory hard_limit tunable value must be lower "
                                "than or equal to swap_hard_limit")
            t.memtune = new
        self._set(name, scope, change)

    def set_blkio(self, name: str, values: Mapping[str, object], scope: str = "live") -> None:
        for k, v in values.items():
            if k == "weight":
                if not isinstance(v, int) or not 100 <= v <= 1000:
                    raise VirtError("invalid argument: out of blkio weight range.")
            elif k == "device_weight":
                _check_device_weight(v)
            else:
                raise VirtError(f"invalid argument: unsupported blkiotune parameter '{k}'")

        def change(t: Tunables, live: bool) -> None:
            t.blkio_weight = int(cast(int, values.get("weight", t.blkio_weight)))   # checked above
            t.device_weight = str(values.get("device_weight", t.device_weight))
        self._set(name, scope, change)

    def set_block_iotune(self, name: str, disk: str, values: Mapping[str, object], scope: str = "live") -> None:
        for k, v in values.items():
            if k not in IOTUNE_INT_KEYS:
                raise VirtError(f"invalid argument: unsupported blkdeviotune parameter '{k}'")
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise VirtError(f"invalid argument: {k} must be a whole number >= 0, not {v!r}")

        def change(t: Tunables, live: bool) -> None:
            if disk not in t.iotune:
                raise VirtError(f"invalid argument: disk '{disk}' was not found in the domain config")
            new = dict(t.iotune[disk])
            for group in IOTUNE_GROUPS:   # like libvirt: setting one of a group resets the others
                if any(k in values for k in group):
                    for k in group:
                        new[k] = int(cast(int, values.get(k, 0)))   # checked above
            _check_iotune(new)
            t.iotune[disk] = new
        self._set(name, scope, change)


def _cpus(cpus: Iterable[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(int(c) for c in cpus)))
    if not out:
        raise VirtError("invalid argument: Empty cpu list for pinning")
    if out[0] < 0 or out[-1] >= sc.NCPUS:
        raise VirtError(f"invalid argument: CPU {out[-1]} does not exist (the host has {sc.NCPUS})")
    return out


def _check_device_weight(v: object) -> None:
    parts = str(v).split(",") if v else []
    if len(parts) % 2:
        raise VirtError(f"invalid argument: unable to parse blkio device weight '{v}'")
    for w in parts[1::2]:
        if not w.isdigit() or not (int(w) == 0 or 100 <= int(w) <= 1000):
            raise VirtError(f"invalid argument: unable to parse blkio device weight '{v}'")


def _check_iotune(t: dict[str, int]) -> None:
    for unit in ("bytes", "iops"):
        if t[f"total_{unit}_sec"] and (t[f"read_{unit}_sec"] or t[f"write_{unit}_sec"]):
            raise VirtError(f"invalid argument: total and read/write of {unit}_sec cannot be set at the same time")
        for w in ("total", "read", "write"):
            base, top = t[f"{w}_{unit}_sec"], t[f"{w}_{unit}_sec_max"]
            if top and not base:
                raise VirtError(f"invalid argument: value '{w}_{unit}_sec_max' cannot be set if "
                                f"'{w}_{unit}_sec' is not set")
            if top and top < base:
                raise VirtError(f"invalid argument: {w}_{unit}_sec_max must be >= {w}_{unit}_sec")
