"""The hypervisor interface: the libvirt calls kvmtune needs, and nothing else.

`virt.libvirt_impl.LibvirtHypervisor` implements it on libvirt-python for any URI; the
demo host implements it on a simulated hypervisor. Collectors and actions only ever see
this interface, so they cannot tell the two apart.

Conventions:
- CPU and node sets are sorted tuples of ints (`cpuset.parse` / `cpuset.format` convert).
- Memory values are KiB; `None` in memtune means unlimited.
- `scope` for setters is "live", "config", "live+config" or "current" (virsh's --live, --config, both, --current).
- Every method raises `VirtError` (or a subclass: GuestGone, Disconnected, NotSupported)
  and nothing else.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from ..errors import Disconnected, GuestGone, NotSupported, Stalled, VirtError
from ..model import IoThread, MemTune, NumaTune
from ..vocab import SCOPES, GuestState, Scope, VcpuState
from .domxml import DiskConfig, DomainConfig, parse_domain_xml

T = TypeVar("T")


def spread(every: float, name: str) -> float:
    """A guest's own period for a refresh due every `every` s, in [every/2, every] by its name:
    a host with many guests does not re-read everybody's settings (or balloon) on one tick."""
    return every * (0.5 + (zlib.crc32(name.encode()) % 1000) / 2000)

__all__ = ["SCOPES", "BlockCounters", "Disconnected", "DiskConfig", "DomainConfig", "DomainInfo",
           "GuestGone", "GuestStats", "Hypervisor", "NetCounters", "NotSupported", "Stalled", "VirtError",
           "parse_domain_xml"]


@dataclass(frozen=True)
class DomainInfo:
    name: str
    uuid: str
    id: int | None          # None when not running
    state: GuestState       # virsh words: "running", "paused", "shut off", "crashed", ...
    memory_kib: int         # current memory
    # current vCPUs; None when the bulk call does not give them (libvirt is not asked: the
    # collector counts the vCPU threads in /proc, else reads the domain XML)
    nvcpus: int | None


@dataclass(frozen=True)
class BlockCounters:
    rd_bytes: int | None = None
    wr_bytes: int | None = None
    rd_reqs: int | None = None
    wr_reqs: int | None = None
    rd_times_ns: int | None = None     # total time spent on reads
    wr_times_ns: int | None = None
    fl_reqs: int | None = None         # flushes
    fl_times_ns: int | None = None
    errors: int | None = None          # given by some drivers only (Xen); not QEMU


class NetCounters(NamedTuple):
    """An interface's counters in the guest's view (rx: what the guest received), as domifstat."""
    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int


@dataclass(frozen=True)
class GuestStats:
    """What one bulk stats call returns per running guest. The CPU times are what libvirt gives
    where kvmtune cannot read /proc and the cgroup itself (a remote URI, the test driver's info());
    the collector prefers its own reads."""
    cpu_time_ns: int | None = None
    vcpu_time_ns: Mapping[int, int] = field(default_factory=dict)
    # where kvmtune has no /proc for the guest: libvirt's vCPU states (the vcpu group's
    # vcpu.N.state, the test driver's vcpus()) and current CPUs (vcpus() only)
    vcpu_state: Mapping[int, VcpuState] = field(default_factory=dict)
    vcpu_pcpu: Mapping[int, int] = field(default_factory=dict)
    block: Mapping[str, BlockCounters] = field(default_factory=dict)   # by target ("vda")
    balloon_current_kib: int | None = None
    balloon_max_kib: int | None = None    # balloon.maximum: the configured size (<memory>)
    rss_kib: int | None = None            # balloon.rss: QEMU's resident set (libvirt reads its /proc)
    # by host device ("vnet0"); asked for only where kvmtune cannot read that host's /proc/net/dev
    net: Mapping[str, NetCounters] = field(default_factory=dict)
    # why this guest's figures are not from this tick (libvirt did not answer in time, or a
    # job held the guest): the collector carries its last ones. None: they are fresh.
    stale: str | None = None


class Hypervisor(ABC):
    uri: str

    # -- connection ------------------------------------------------------------------
    @abstractmethod
    def ensure_connected(self) -> None:
        """(Re)open the connection if it is closed; raise Disconnected if that fails."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def host_cpu_count(self) -> int:
        """Length of the host's CPU maps (highest CPU id + 1)."""

    def changed_guests(self) -> set[str] | None:
        """Names whose settings changed (lifecycle/tunable events) since the last call.

        None means "unknown" (no event support): callers then refresh settings on their
        own schedule. The empty set means nothing changed.
        """
        return None

    # -- reads -----------------------------------------------------------------------
    def guarded(self, name: str, fn: Callable[[], T]) -> T:
        """fn(): a group of reads about one guest, or Stalled when the hypervisor does not
        answer for it within a deadline (libvirt: its QEMU stopped, a lock held by a job).
        Until such a call returns, the next for the guest raises Stalled at once."""
        return fn()

    def acting(self, name: str, fn: Callable[[], T], timeout: float) -> T:
        """fn(): an action's calls about one guest, or Stalled when the hypervisor does not
        answer within `timeout`, and at once while an earlier call about the guest still
        waits. Not the reads' deadline key: a poll meanwhile reads the guest as usual."""
        return fn()

    def stalling(self) -> bool:
        """A call that missed its deadline still waits: libvirt then made other guests' getters
        wait too (measured: vcpuPinInfo, memoryParameters, numaParameters, blockIoTune)."""
        return False

    @abstractmethod
    def list_guests(self) -> list[DomainInfo]: ...

    @abstractmethod
    def guest_stats(self) -> dict[str, GuestStats]:
        """One bulk call for every running guest (getAllDomainStats on libvirt)."""

    @abstractmethod
    def domain_xml(self, name: str, inactive: bool = False) -> str:
        """The domain's XML; `inactive`: its saved definition (virsh dumpxml --inactive)."""

    def domain_config(self, name: str, inactive: bool = False) -> DomainConfig:
        return parse_domain_xml(self.domain_xml(name, inactive))

    @abstractmethod
    def vcpu_affinity(self, name: str, scope: Scope = "current") -> list[tuple[int, ...]]:
        """Per vCPU index, the host CPUs it may run on (getters read one scope: live, config
        or current, as virsh's --live/--config; never both)."""

    @abstractmethod
    def emulator_affinity(self, name: str, scope: Scope = "current") -> tuple[int, ...]: ...

    @abstractmethod
    def iothreads(self, name: str, scope: Scope = "current") -> list[IoThread]: ...

    @abstractmethod
    def numatune(self, name: str, scope: Scope = "current") -> NumaTune:
        """The current mode and nodeset. libvirt reports defaults for a domain without
        <numatune>: only a domain whose DomainConfig.has_numatune has one."""

    @abstractmethod
    def memtune(self, name: str, scope: Scope = "current") -> MemTune: ...

    @abstractmethod
    def blkio(self, name: str, scope: Scope = "current") -> dict[str, int | str]:
        """blkiotune: {"weight": int, "device_weight": "path,weight,..."} as libvirt gives it."""

    @abstractmethod
    def block_iotune(self, name: str, disk: str, scope: Scope = "current") -> dict[str, int]:
        """All of the disk's throttle values libvirt knows (0 = no limit)."""

    # -- setters -----------------------------------------------------------------------
    @abstractmethod
    def pin_vcpu(self, name: str, vcpu: int, cpus: tuple[int, ...], scope: Scope = "live") -> None: ...

    @abstractmethod
    def pin_emulator(self, name: str, cpus: tuple[int, ...], scope: Scope = "live") -> None: ...

    @abstractmethod
    def pin_iothread(self, name: str, iothread: int, cpus: tuple[int, ...], scope: Scope = "live") -> None: ...

    @abstractmethod
    def set_numatune(self, name: str, mode: str | None, nodeset: str | None, scope: Scope = "live") -> None: ...

    @abstractmethod
    def set_memtune(self, name: str, values: Mapping[str, int | None], scope: Scope = "live") -> None:
        """values: any of hard_limit_kib / soft_limit_kib / swap_hard_limit_kib; None = unlimited."""

    @abstractmethod
    def set_blkio(self, name: str, values: Mapping[str, object], scope: Scope = "live") -> None:
        """values: "weight": int and/or "device_weight": "path,weight[,path,weight]"."""

    @abstractmethod
    def set_block_iotune(self, name: str, disk: str, values: Mapping[str, object], scope: Scope = "live") -> None: ...

