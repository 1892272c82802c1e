"""What actions and collectors work on: a HostFS plus (optionally) a hypervisor.

The live host is `HostFS("/")` + libvirt; the demo host is a simulated tree + a simulated
hypervisor (demo.DemoSource). Collectors and actions take a Source and cannot tell which
one they have. How snapshots follow each other in time (the demo's clock, a replay's
position) is the feed's business (feed.py), not the source's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .hostfs import HostFS
from .virt.interface import Hypervisor

DEFAULT_URI = "qemu:///system"


def state_dir() -> Path:
    """Where kvmtune keeps what it must remember: $XDG_STATE_HOME/kvmtune (else ~/.local/state/kvmtune)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "kvmtune"


@dataclass(eq=False)
class Source:
    fs: HostFS
    hv: Hypervisor | None
    label: str
    # The audit log actions on this source go to when none is named (None: the default,
    # actions.log in state_dir()); the demo keeps its own, apart from real hosts'.
    log_path: str | None = None
    # The command-line options that name this source again (for hints such as `kvmtune undo 3 --demo`).
    cli_args: tuple[str, ...] = ()
    # Where perf counters come from (collect.perf.PerfBackend); None: the kernel's perf_event_open.
    perf_backend: Any = None

    def changed(self) -> str | None:
        """Called after an action changed (or tried to change) this host. A real host keeps
        its own state; the demo saves its settings here. Returns a note when they could not be kept."""
        return None

    def close(self) -> None:
        if self.hv is not None:
            self.hv.close()


def open_live(uri: str = DEFAULT_URI, root: str = "/", host_only: bool = False) -> Source:
    """The real host (or a captured tree under `root`) and libvirt at `uri`.

    Opening never fails on libvirtd being down: the connection is made lazily and
    re-tried on every tick.
    """
    fs = HostFS(root)
    cli = (("--connect", uri) if uri != DEFAULT_URI else ()) + (("--root", root) if root != "/" else ())
    if host_only:
        return Source(fs, None, f"{root} (host only)", cli_args=cli)
    from .virt.libvirt_impl import LibvirtHypervisor
    return Source(fs, LibvirtHypervisor(uri), uri, cli_args=cli)
