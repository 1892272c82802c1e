"""The live host's perf backend: perf_event_open(2) counter groups (perfevents.py) and KVM's
per-VM exit counters in debugfs (sys/kernel/debug/kvm/PID-FD/). No Textual here."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import HostFSError
from ..hostfs import HostFS
from ..perfmodel import KVM_EVENTS, KVM_EXIT_REASONS, KVM_EXITS_TOTAL, KVM_HALT_POLLS

if TYPE_CHECKING:
    from .perfevents import Group

DEBUGFS = "sys/kernel/debug/kvm"
# KVM's per-VM counters read (the total, exit reasons, halt polls, other events: perfmodel)
EXIT_STATS = (KVM_EXITS_TOTAL, *KVM_EXIT_REASONS, *KVM_HALT_POLLS, *KVM_EVENTS)
VM_LOOK_EVERY = 10.0    # s between looks for a KVM guest's debugfs directory that was not there


class KernelPerf:
    """The live host: perf_event_open(2) and KVM's debugfs counters."""
    def __init__(self, fs: HostFS):
        self.fs = fs
        self._first = True
        self._dirs: dict[int, str] = {}    # QEMU pid -> its VM's debugfs directory, at the last listing
        self._vms: dict[int, list[tuple[str, int]]] = {}    # pid -> its exit stats: (name, open fd)
        self._absent: dict[int, float] = {}    # pid -> when to look for its directory again

    def open(self, tid: int, names: Sequence[str], inherit: bool = False) -> Group:
        from . import perfevents  # (ctypes: imported once perf is turned on, not at start-up)
        if self._first:
            self._first = False
            perfevents.raise_fd_limit()
        events = {ev.name: ev for ev in perfevents.SOFTWARE + perfevents.HARDWARE}
        return perfevents.Group(tid, [events[n] for n in names], inherit)

    def kvm_exits(self, pid: int) -> dict[str, int] | None:
        # the VM's directory and the stats in it are found once (a listing of debugfs per guest
        # per tick was O(guests²)), found again only when it vanishes; each stat's file is kept
        # open and re-read with one pread (KVM's debugfs stats regenerate at offset 0)
        vm = self._vms.get(pid)
        if vm is None:
            vm = self._find_vm(pid)
            if vm is None:
                return None
        out = {}
        for name, fd in vm:
            text = self.fs.pread_str(fd)
            if text is None:    # the VM went (or the pid is another's now): look again next time
                self.forget(pid)
                return None
            if text.isascii() and text.isdigit():
                out[name] = int(text)
        return out or None

    def _find_vm(self, pid: int) -> list[tuple[str, int]] | None:
        path = self._dirs.get(pid)
        if path is None:
            now = time.monotonic()
            if self._absent.get(pid, float("-inf")) > now:
                return None      # not there at the last look: debugfs is listed again later, not every tick
            # one listing finds every guest's directory
            self._dirs = {int(d.split("-", 1)[0]): f"{DEBUGFS}/{d}" for d in self.fs.listdir(DEBUGFS, [])
                          if d.split("-", 1)[0].isdigit()}
            path = self._dirs.get(pid)
            if path is None:
                self._absent[pid] = now + VM_LOOK_EVERY
                return None
            self._absent.pop(pid, None)
        have = set(self.fs.listdir(path, []))
        vm: list[tuple[str, int]] = []
        self._vms[pid] = vm
        try:
            for name in EXIT_STATS:
                if name in have:
                    vm.append((name, self.fs.open_read(f"{path}/{name}")))
        except HostFSError:
            self.forget(pid)
            raise
        return vm

    def forget(self, pid: int | None) -> None:
        for p in list(self._vms) if pid is None else [pid]:
            for _, fd in self._vms.pop(p, ()):
                os.close(fd)
            self._dirs.pop(p, None)

    def why(self, e: OSError) -> str:
        from . import perfevents
        return perfevents.why(e, self.fs)
