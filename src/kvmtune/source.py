"""Where snapshots come from: a HostFS plus (optionally) a hypervisor.

The live host is `HostFS("/")` + libvirt; the demo host is a simulated tree + a
simulated hypervisor (its `before_tick` steps the simulation). Collectors and actions
take a Source and cannot tell which one they have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .hostfs import HostFS
from .virt.interface import Hypervisor

DEFAULT_URI = "qemu:///system"


@dataclass
class Source:
    fs: HostFS
    hv: Hypervisor | None
    label: str

    def before_tick(self) -> None:
        """Called once at the start of every collection (the demo advances its clock here)."""

    def now(self) -> float:
        """The time stamped on snapshots: wall time live, the simulation's clock in the demo."""
        return time.time()

    def close(self) -> None:
        if self.hv is not None:
            self.hv.close()


def open_live(uri: str = DEFAULT_URI, root: str = "/", host_only: bool = False) -> Source:
    """The real host (or a captured tree under `root`) and libvirt at `uri`.

    Opening never fails on libvirtd being down: the connection is made lazily and
    re-tried on every tick.
    """
    fs = HostFS(root)
    if host_only:
        return Source(fs, None, f"{root} (host only)")
    from .virt.libvirt_impl import LibvirtHypervisor
    return Source(fs, LibvirtHypervisor(uri), uri)
