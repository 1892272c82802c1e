"""The hypervisor interface: the libvirt calls kvmtune needs, and nothing else.

`virt.libvirt_impl.LibvirtHypervisor` implements it on libvirt-python for any URI; the
demo host implements it on a simulated hypervisor. Collectors and actions only ever see
this interface, so they cannot tell the two apart.

Conventions:
- CPU and node sets are sorted tuples of ints (`cpuset.parse` / `cpuset.format` convert).
- Memory values are KiB; `None` in memtune means unlimited.
- `scope` for setters is "live", "config" or "current" (virsh's --live/--config/--current).
- Every method raises `VirtError` (or a subclass) and nothing else.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Mapping

from ..model import IoThread, MemoryBacking, MemTune, NumaTune
from ..units import to_kib

SCOPES = ("live", "config", "current")


class VirtError(Exception):
    """The hypervisor refused or failed; `str()` is its message, fit to show a user."""


class GuestGone(VirtError):
    """The guest does not exist (any more), or is not running when it must be."""


class Disconnected(VirtError):
    """No connection to the hypervisor (libvirtd down or restarting)."""


@dataclass(frozen=True)
class DomainInfo:
    name: str
    uuid: str
    id: int | None          # None when not running
    state: str              # virsh words: "running", "paused", "shut off", "crashed", ...
    memory_kib: int         # current memory
    nvcpus: int             # current vCPUs


@dataclass(frozen=True)
class DiskConfig:
    target: str
    source: str | None
    bus: str | None = None
    cache: str | None = None
    io: str | None = None


@dataclass(frozen=True)
class DomainConfig:
    """The slow-changing part of a domain, parsed from its XML."""
    disks: tuple[DiskConfig, ...] = ()
    memory_backing: MemoryBacking = MemoryBacking()
    vcpu_cpuset: str | None = None   # <vcpu cpuset=...>: the CPUs the guest may use by default


@dataclass(frozen=True)
class BlockCounters:
    rd_bytes: int | None = None
    wr_bytes: int | None = None
    rd_reqs: int | None = None
    wr_reqs: int | None = None


@dataclass(frozen=True)
class GuestStats:
    """What one bulk stats call returns per running guest."""
    cpu_time_ns: int | None = None
    vcpu_time_ns: Mapping[int, int] = field(default_factory=dict)
    block: Mapping[str, BlockCounters] = field(default_factory=dict)   # by target ("vda")
    balloon_current_kib: int | None = None


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
    @abstractmethod
    def list_guests(self) -> list[DomainInfo]: ...

    @abstractmethod
    def guest_stats(self) -> dict[str, GuestStats]:
        """One bulk call for every running guest (getAllDomainStats on libvirt)."""

    @abstractmethod
    def domain_xml(self, name: str) -> str: ...

    def domain_config(self, name: str) -> DomainConfig:
        return parse_domain_xml(self.domain_xml(name))

    @abstractmethod
    def vcpu_affinity(self, name: str) -> list[tuple[int, ...]]:
        """Per vCPU index, the host CPUs it may run on."""

    @abstractmethod
    def emulator_affinity(self, name: str) -> tuple[int, ...]: ...

    @abstractmethod
    def iothreads(self, name: str) -> list[IoThread]: ...

    @abstractmethod
    def numatune(self, name: str) -> NumaTune | None: ...

    @abstractmethod
    def memtune(self, name: str) -> MemTune: ...

    @abstractmethod
    def blkio(self, name: str) -> dict[str, object]:
        """blkiotune: {"weight": int, "device_weight": "path,weight,..."} as libvirt gives it."""

    @abstractmethod
    def block_iotune(self, name: str, disk: str) -> dict[str, int]:
        """All of the disk's throttle values libvirt knows (0 = no limit)."""

    # -- setters -----------------------------------------------------------------------
    @abstractmethod
    def pin_vcpu(self, name: str, vcpu: int, cpus: tuple[int, ...], scope: str = "live") -> None: ...

    @abstractmethod
    def pin_emulator(self, name: str, cpus: tuple[int, ...], scope: str = "live") -> None: ...

    @abstractmethod
    def pin_iothread(self, name: str, iothread: int, cpus: tuple[int, ...], scope: str = "live") -> None: ...

    @abstractmethod
    def set_numatune(self, name: str, mode: str | None, nodeset: str | None, scope: str = "live") -> None: ...

    @abstractmethod
    def set_memtune(self, name: str, values: Mapping[str, int | None], scope: str = "live") -> None:
        """values: any of hard_limit_kib / soft_limit_kib / swap_hard_limit_kib; None = unlimited."""

    @abstractmethod
    def set_blkio(self, name: str, values: Mapping[str, object], scope: str = "live") -> None:
        """values: "weight": int and/or "device_weight": "path,weight[,path,weight]"."""

    @abstractmethod
    def set_block_iotune(self, name: str, disk: str, values: Mapping[str, object], scope: str = "live") -> None: ...


def parse_domain_xml(xml: str) -> DomainConfig:
    """Disks and memory backing from a domain XML (shared by every implementation)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise VirtError(f"unreadable domain XML: {e}") from None
    disks = []
    for d in root.findall("./devices/disk"):
        tgt = d.find("target")
        if tgt is None or not tgt.get("dev"):
            continue
        src = d.find("source")
        source = None
        if src is not None:
            source = src.get("file") or src.get("dev") or src.get("name") or src.get("volume")
        drv = d.find("driver")
        disks.append(DiskConfig(
            target=tgt.get("dev"), source=source, bus=tgt.get("bus"),
            cache=drv.get("cache") if drv is not None else None,
            io=drv.get("io") if drv is not None else None,
        ))
    mb = root.find("memoryBacking")
    backing = MemoryBacking()
    if mb is not None:
        hp = mb.find("hugepages")
        size = None
        if hp is not None:
            page = hp.find("page")
            if page is not None and page.get("size"):
                try:
                    size = to_kib(int(page.get("size")), page.get("unit", "KiB"))
                except ValueError:
                    size = None
        backing = MemoryBacking(
            hugepages=hp is not None, page_size_kib=size,
            locked=mb.find("locked") is not None,
            nosharepages=mb.find("nosharepages") is not None,
        )
    vcpu = root.find("vcpu")
    return DomainConfig(disks=tuple(disks), memory_backing=backing,
                        vcpu_cpuset=vcpu.get("cpuset") if vcpu is not None else None)
