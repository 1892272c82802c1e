"""Facts from a domain's XML that the advisor judges (CPU model and topology, NICs,
controllers, guest NUMA cells, devices): plain data in the Snapshot (Guest.domain), parsed
once per settings refresh by virt/domxml.py, and their v1 JSON (the "domain" key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .jsonfields import known, plain


@dataclass(frozen=True)
class Nic:
    """One <interface> of the domain XML."""
    mac: str | None = None
    type: str | None = None      # network, bridge, direct, user, ...
    source: str | None = None    # the network, bridge or device it attaches to
    model: str | None = None     # <model type>: virtio, e1000, rtl8139, ...; None = the hypervisor's default
    driver: str | None = None    # <driver name>: vhost or qemu; None = libvirt's default (vhost when it can)
    queues: int | None = None    # <driver queues>: multiqueue virtio-net; None = one queue
    target: str | None = None    # <target dev>: the host-side device (tap, macvtap) of a running guest
    alias: str | None = None     # <alias name>: "net0" (QEMU's netdev is "hostnet0")


@dataclass(frozen=True)
class Controller:
    """One <controller> (virtio-scsi multiqueue lives here)."""
    type: str
    model: str | None = None
    index: int | None = None
    queues: int | None = None    # <driver queues>


@dataclass(frozen=True)
class GuestCell:
    """One guest NUMA cell (<cpu><numa><cell>)."""
    id: int
    cpus: str | None
    memory_kib: int
    nodeset: str | None = None   # <numatune><memnode cellid nodeset>: host nodes its memory is bound to


@dataclass(frozen=True)
class DomainFacts:
    """What the advisor needs from the domain XML: parsed once per settings refresh."""
    virt_type: str | None = None         # <domain type>: kvm, or qemu (TCG: no host-passthrough)
    # cpu_mode and cpu_model come from the saved (inactive) definition: libvirt rewrites a running
    # host-model guest's live <cpu> to mode='custom' with the expanded model
    cpu_mode: str | None = None          # <cpu mode>; None: no <cpu> element (QEMU's default model)
    cpu_model: str | None = None         # <cpu><model> (custom mode)
    max_vcpus: int | None = None         # <vcpu>N</vcpu>: the most it may have (Guest.nvcpus is current=)
    sockets: int | None = None           # <cpu><topology>; None when not given
    cores: int | None = None
    threads: int | None = None
    pmu: bool | None = None              # <features><pmu state>; None: not stated
    cells: tuple[GuestCell, ...] = ()    # guest NUMA topology
    nics: tuple[Nic, ...] = ()
    controllers: tuple[Controller, ...] = ()
    disk_iothreads: Mapping[str, int] = field(default_factory=dict)   # disk target -> <driver iothread>
    sounds: tuple[str, ...] = ()         # <sound model> of each sound device
    inputs: tuple[str, ...] = ()         # "type/bus" of each <input>: "tablet/usb", "mouse/ps2"
    redirdevs: int = 0                   # <redirdev> (USB redirection) count
    graphics: tuple[str, ...] = ()       # <graphics type>: vnc, spice
    memballoon: str | None = None        # <memballoon model>: virtio, none; None: no element
    vcpu_placement: str | None = None    # <vcpu placement>: static or auto
    numa_placement: str | None = None    # <numatune><memory placement>: static or auto
    iothreads: int = 0                   # <iothreads> count
    max_memory_kib: int | None = None    # <memory>: the size it may balloon up to (Guest.memory_kib is current)


def domain_out(f: DomainFacts | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {**plain(f), "cells": [plain(c) for c in f.cells], "nics": [plain(n) for n in f.nics],
            "controllers": [plain(c) for c in f.controllers], "disk_iothreads": dict(f.disk_iothreads),
            "sounds": list(f.sounds), "inputs": list(f.inputs), "graphics": list(f.graphics)}


def domain_in(d: Mapping[str, Any] | None) -> DomainFacts | None:
    if d is None:
        return None
    return DomainFacts(**{
        **known(DomainFacts, d),
        "cells": tuple(GuestCell(**known(GuestCell, c)) for c in d.get("cells") or ()),
        "nics": tuple(Nic(**known(Nic, n)) for n in d.get("nics") or ()),
        "controllers": tuple(Controller(**known(Controller, c)) for c in d.get("controllers") or ()),
        "disk_iothreads": dict(d.get("disk_iothreads") or {}),
        "sounds": tuple(d.get("sounds") or ()), "inputs": tuple(d.get("inputs") or ()),
        "graphics": tuple(d.get("graphics") or ()),
    })
