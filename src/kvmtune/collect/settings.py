"""A guest's slow-changing settings, as read from libvirt: pins, iothreads, numatune, memtune,
blkio, disk throttles and the domain XML (GuestCollector decides when: guests.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..errors import Disconnected, GuestGone, VirtError
from ..model import Error, IoThread, MemTune, NumaTune
from ..virt.domxml import parse_domain_xml, with_saved_cpu
from ..virt.interface import DomainConfig, DomainInfo, Hypervisor
from ..vocab import IOTUNE_BASE

T = TypeVar("T")


@dataclass
class Settings:
    """One guest's slow-changing settings, as last read from libvirt."""
    read_at: float
    run_id: int | None
    affinity: list[tuple[int, ...]] | None = None
    emulator: tuple[int, ...] | None = None
    iothreads: tuple[IoThread, ...] | None = None
    numatune: NumaTune | None = None
    memtune: MemTune | None = None
    blkio_weight: int | None = None
    config: DomainConfig = field(default_factory=DomainConfig)
    # per disk target: every IOTUNE_BASE value (0 = unset), built once per read, not per tick
    iotune: dict[str, dict[str, int]] = field(default_factory=dict)
    pending: bool = False   # nothing read yet (over the tick's budget, or libvirt stalled): next tick
    xml_hash: int | None = None   # of the live XML the getters were last asked beside
    full_at: float = float("-inf")   # when they were


def read_settings(hv: Hypervisor, info: DomainInfo, now: float, errors: list[Error],
                  last: Settings | None = None, full_every: float = 300.0) -> Settings:
    """A guest's settings from libvirt (its getters' errors added to `errors`). With `last`, the
    guest's settings of the same run when only their period is up: kept as they are (read_at
    moved on) if the live XML is what it was and the getters were asked within `full_every` s."""
    name = info.name
    s = Settings(read_at=now, run_id=info.id)

    def get(what: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except (GuestGone, Disconnected):
            raise
        except VirtError as e:
            errors.append(Error(f"{name}: {what}", str(e)))
            return None

    # The XML once per refresh: everything that needs it reads s.config.
    text = get("domain XML", hv.domain_xml, name)
    if text is not None:
        s.xml_hash, s.full_at = hash(text), now
        if last is not None and last.xml_hash == s.xml_hash and now - last.full_at < full_every:
            # libvirt's definition of the running guest is as it was: its getters would say
            # the same (7 calls, ~2.5 ms of libvirtd and as much of ours on the scale lab)
            return replace(last, read_at=now)
    s.config = (get("domain XML", parse_domain_xml, text) if text is not None else None) or DomainConfig()
    if info.id is not None and s.config.facts is not None:
        # a running guest's live <cpu> is the expanded one (host-model shows as custom):
        # its CPU mode and model come from the saved definition (a shut-off guest has only
        # that), which changes only with a lifecycle event ("defined"): a periodic re-read
        # keeps the last one (one XML call and parse less)
        saved = last.config if last is not None and last.config.facts is not None else \
            get("inactive domain XML", hv.domain_config, name, True)
        if saved is not None:
            s.config = with_saved_cpu(s.config, saved)
    s.affinity = get("vcpupin", hv.vcpu_affinity, name)
    s.emulator = get("emulatorpin", hv.emulator_affinity, name)
    threads = get("iothreads", hv.iothreads, name)
    s.iothreads = None if threads is None else tuple(threads)
    # libvirt reports defaults for a domain without <numatune>: only a declared one counts
    s.numatune = get("numatune", hv.numatune, name) if s.config.has_numatune else None
    s.memtune = get("memtune", hv.memtune, name)
    blkio = get("blkiotune", hv.blkio, name)
    if blkio is not None and blkio.get("weight"):  # 0 = never set
        s.blkio_weight = int(blkio["weight"])
    for d in s.config.disks:
        # throttles are a property of a running guest's disks, read from its live XML: libvirt
        # writes there each blkdeviotune it makes, and blockIoTune (what virsh blkdeviotune
        # shows) asks QEMU again, a monitor query per disk (libvirtd ~0.6 ms each) that waits on
        # a stalled QEMU. Both were equal on the lab's 55 disks, with and without limits.
        tune = dict(d.iotune) if info.id is not None else {}
        s.iotune[d.target] = {k: tune.get(k, 0) for k in IOTUNE_BASE}
    return s
