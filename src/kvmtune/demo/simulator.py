"""The demo's kernel: steps the simulation and keeps a sys/ + proc/ tree consistent with it.

Each `step()` advances a simulated clock by DT seconds (never wall time, so one seed
gives one history), reads back the sysfs files an action may have written (KSM, hugepage
pools, THP, NUMA balancing), moves the figures on (dynamics.py) and writes the files the
collectors read, only those whose text changed (tree.py). Between steps a watcher thread
answers sysfs writes at once, as the kernel does. With a `DemoState` (persist.py) the
settings outlive the process: loaded at start, saved by `save()` after each action, and
what other processes saved is taken at each step.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

from .dynamics import T0, HostModel
from .hypervisor import SimHypervisor
from .perfsim import SimPerf
from .persist import DemoState
from .state import SimGuest
from .tree import SysTree

DT = 2.0                      # simulated seconds per step
WATCH_S = 0.05                # how often sysfs writes are noticed between steps


class Simulator:
    """The simulated host: its model, its hypervisor and its tree under `root`."""

    def __init__(self, seed: int = 1, guests: int | None = None,
                 root: str | os.PathLike[str] | None = None, watch: bool = True,
                 state: DemoState | None = None):
        self.lock = threading.RLock()
        self.clock = T0
        self.model = HostModel(seed, guests)
        self.state = state
        if state is not None:
            state.load(self.model)      # before anything is written: a bad file leaves nothing behind
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="kvmtune-demo-", dir=_tmp_dir()))
        self._owns_root = root is None
        self.guests: list[SimGuest] = self.model.guests
        self.hv = SimHypervisor(self.guests, self.lock)
        self.perf = SimPerf(self.guests, self.lock)
        self.tree = SysTree(self.root, self.model)
        self.tree.write_static()
        self.tree.write_dynamic(self.clock)
        self._stop = threading.Event()
        if watch:
            threading.Thread(target=_watch, args=(weakref.ref(self), self._stop),
                             name="kvmtune-demo-watch", daemon=True).start()

    def step(self) -> None:
        with self.lock:
            if self._stop.is_set():
                return      # closed: the tree is gone
            self._read_back()
            if self.state is not None:
                self.hv.touch(self.state.refresh(self.model))
            self.clock += DT
            self.model.advance(DT)
            self.perf.advance(DT)
            self.tree.write_dynamic(self.clock)

    def poll(self) -> None:
        """Answer sysfs writes between steps, as the kernel does at once (the watcher calls it)."""
        with self.lock:
            if not self._stop.is_set() and self._read_back():
                self.tree.write_settings()

    def save(self) -> None:
        """After an action: take in its sysfs writes now (not at the watcher's next look), and
        keep the settings in the state file, if there is one. OSError when it cannot be written."""
        with self.lock:
            if self._stop.is_set():
                return
            self._read_back()
            if self.state is not None:
                self.hv.touch(self.state.save(self.model))
            self.tree.write_settings()

    def close(self) -> None:
        with self.lock:     # let a step in another thread finish first
            self._stop.set()
            if self._owns_root:
                shutil.rmtree(self.root, ignore_errors=True)

    def _read_back(self) -> bool:
        """Apply what was written to the settings files; True when anything was."""
        before = self.tree.known()
        self.model.read_back(self.tree.changed)
        return self.tree.known() != before


def _tmp_dir() -> str | None:
    """A RAM-backed directory when there is one: the tree is rewritten every step, and on a
    disk file system each replace of an existing file costs a flush (ext4 auto_da_alloc)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _watch(ref: weakref.ref[Simulator], stop: threading.Event) -> None:
    """Notice sysfs writes between steps. Holds the simulator weakly so it can be collected."""
    while not stop.wait(WATCH_S):
        sim = ref()
        if sim is None:
            return
        try:
            sim.poll()
        except OSError:
            return      # the tree was removed under us: the demo is closing
        del sim
