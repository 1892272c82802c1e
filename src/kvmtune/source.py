"""What actions and collectors work on: a HostFS plus (optionally) a hypervisor.

The live host is `HostFS("/")` + libvirt; the demo host is a simulated tree + a simulated
hypervisor (demo.DemoSource). Collectors and actions take a Source and cannot tell which
one they have. How snapshots follow each other in time (the demo's clock, a replay's
position) is the feed's business (feed.py), not the source's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hostfs import HostFS
from .virt.interface import Hypervisor

DEFAULT_URI = "qemu:///system"


@dataclass(eq=False)
class Source:
    fs: HostFS
    hv: Hypervisor | None
    label: str

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
