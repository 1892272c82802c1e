"""A guest's devices in the Snapshot: its disks (throttles and block counters) and its network
interfaces (NIC model, vhost, queues and the counters of the host device behind each).

Counters are cumulative, as libvirt and the kernel give them; rates.py makes them per second.
A counter that is not known is None, never 0. Re-exported by model.py (`model.Disk`, `model.NetIf`).
JSON (the v1 contract's "disks" and "nics" of a guest) is each dataclass's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .jsonfields import known, plain


@dataclass(frozen=True)
class Disk:
    target: str
    source: str | None
    iotune: Mapping[str, int] = field(default_factory=dict)
    rd_bytes: int | None = None
    wr_bytes: int | None = None
    rd_reqs: int | None = None
    wr_reqs: int | None = None
    cache: str | None = None
    io: str | None = None
    bus: str | None = None
    # the bulk stats' block group (virsh domblkstat's rd_total_times, wr_total_times, flush_*)
    rd_times_ns: int | None = None    # total time spent on reads
    wr_times_ns: int | None = None
    fl_reqs: int | None = None        # flushes
    fl_times_ns: int | None = None
    errors: int | None = None         # "errs": only some drivers (Xen) count them; QEMU gives none

    def limit(self, key: str) -> int:
        return int(self.iotune.get(key, 0) or 0)


# the counters of an interface, in virsh domifstat's names and order (the guest's view: rx = what
# the guest received)
NET_COUNTERS = ("rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop")


@dataclass(frozen=True)
class NetIf:
    """One network interface of a guest: what its XML says and, where it has a host device,
    that device's counters turned to the guest's view (as `virsh domifstat` reports them)."""
    mac: str | None = None
    type: str | None = None         # network, bridge, direct, ethernet, user, ...
    source: str | None = None       # the network, bridge or device it attaches to
    target: str | None = None       # the host-side device (vnet0); None: it has none
    model: str | None = None        # virtio, e1000, ...; None: the hypervisor's default
    vhost: bool | None = None       # vhost-net moves its packets in the kernel; None: not known
    queues: int | None = None       # <driver queues>; None: one
    rx_bytes: int | None = None
    rx_packets: int | None = None
    rx_errs: int | None = None
    rx_drop: int | None = None
    tx_bytes: int | None = None
    tx_packets: int | None = None
    tx_errs: int | None = None
    tx_drop: int | None = None
    note: str | None = None         # why there are no counters (or how vhost was judged)


def disks_out(disks: tuple[Disk, ...]) -> list[dict[str, Any]]:
    return [{**plain(k), "iotune": dict(k.iotune)} for k in disks]


def disks_in(items: Any) -> tuple[Disk, ...]:
    return tuple(Disk(**{**known(Disk, k), "iotune": dict(k.get("iotune") or {})}) for k in (items or ()))


def nics_out(nics: tuple[NetIf, ...]) -> list[dict[str, Any]]:
    return [plain(n) for n in nics]


def nics_in(items: Any) -> tuple[NetIf, ...]:
    return tuple(NetIf(**known(NetIf, n)) for n in (items or ()))


@dataclass(frozen=True)
class VhostThread:
    """A vhost-net worker moving a guest's NIC queues: part of its placement (the guide's 5.3).
    From Linux 6.4 a thread of QEMU named vhost-PID; before, a kernel thread of that name."""
    tid: int
    pcpu: int | None                    # the CPU it last ran on
    affinity: tuple[int, ...] = ()      # its Cpus_allowed_list (empty: not read)
    cpu_time_ns: int | None = None
    kernel: bool = False                # a kernel thread (Linux before 6.4), not one of QEMU's


def vhost_out(threads: tuple[VhostThread, ...]) -> list[dict[str, Any]]:
    return [{**plain(t), "affinity": list(t.affinity)} for t in threads]


def vhost_in(items: Any) -> tuple[VhostThread, ...]:
    return tuple(VhostThread(**{**known(VhostThread, t), "affinity": tuple(t.get("affinity") or ())})
                 for t in (items or ()))
