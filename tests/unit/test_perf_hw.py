"""Hardware counters on a PMU this machine has not: the grouping, probing and scaling logic
through the collector's backend seam and a real Group reading a fake counter fd."""

from __future__ import annotations

import errno
import os
import struct

from kvmtune.collect import perf as perfmod
from kvmtune.collect import perfevents
from kvmtune.collect.perf import PerfCollector
from kvmtune.hostfs import HostFS
from kvmtune.model import Guest, Vcpu
from kvmtune.perfmodel import HARDWARE

NO_PMU = "not available on this host (no PMU)"


class FakeGroup:
    def __init__(self, n: int, scheduled: bool = True):
        self.n, self.scheduled, self.k = n, scheduled, 0

    def read(self):
        self.k += 1000
        return tuple(self.k if self.scheduled else None for _ in range(self.n))

    def close(self):
        pass


class SmallPMU:
    """A PMU with 4 general counters (Intel with HT): a group of more than 4 hardware events
    is refused with EINVAL, as the kernel's group validation does; `absent` events do not exist."""
    def __init__(self, absent=(), unscheduled=(), errno_=errno.EINVAL):
        self.absent, self.unscheduled, self.errno_ = absent, unscheduled, errno_
        self.opened: list[tuple[str, ...]] = []

    def open(self, tid, names, inherit=False):
        names = tuple(names)
        if names[0] in HARDWARE:
            if len(names) > 4:
                raise OSError(errno.EINVAL, "group does not fit")
            if any(n in self.absent for n in names):
                raise OSError(self.errno_, "no such event")
        self.opened.append(names)
        return FakeGroup(len(names), scheduled=names[0] not in self.unscheduled)

    def kvm_exits(self, pid):
        return None

    def forget(self, pid):
        pass

    def why(self, e):
        return perfevents.why(e)


def annotate(backend):
    g = Guest(name="g", uuid="u", id=1, state="running", pid=os.getpid(), memory_kib=1,
              vcpus=(Vcpu(0, os.getpid(), None, (), False),))
    pc = PerfCollector(HostFS("/"), backend=backend, rescan_every=3600.0)
    pc.enable(True)
    pc.annotate([g], 1.0, [])
    return pc.annotate([g], 2.0, [])[0].perf


def test_hardware_groups_fit_a_four_counter_pmu():
    be = SmallPMU()
    p = annotate(be)
    assert p.hardware is None
    assert all(getattr(p.vcpus[0], n) for n in HARDWARE)
    assert max(len(o) for o in be.opened if o[0] in HARDWARE) <= 4
    assert tuple(n for grp in perfmod.HW_GROUPS for n in grp) == HARDWARE


def test_a_group_the_cpu_cannot_count_is_named_and_the_rest_counted():
    p = annotate(SmallPMU(absent=("node_loads",), errno_=errno.EINVAL))
    assert p.hardware == "not counted by this CPU: node_loads, node_load_misses"
    assert p.vcpus[0].cycles and p.vcpus[0].llc_loads and p.vcpus[0].node_loads is None


def test_einval_on_every_group_is_not_no_pmu():
    p = annotate(SmallPMU(absent=HARDWARE, errno_=errno.EINVAL))
    assert p.hardware != NO_PMU and "Invalid argument" in p.hardware
    assert p.vcpus[0].cycles is None and p.vcpus[0].task_clock_ns


def test_enoent_on_every_group_is_no_pmu():
    p = annotate(SmallPMU(absent=HARDWARE, errno_=errno.ENOENT))
    assert p.hardware == NO_PMU and p.vcpus[0].cycles is None


def test_a_group_never_scheduled_is_none_not_zero():
    p = annotate(SmallPMU(unscheduled=("cycles",)))
    assert p.vcpus[0].cycles is None and p.vcpus[0].instructions is None
    assert p.total.cycles is None and p.vcpus[0].llc_loads


def read_group(enabled, running, *values):
    """A real Group reading a counter fd (a pipe holding what the kernel would return)."""
    r, w = os.pipe()
    os.write(w, struct.pack(f"={3 + len(values)}Q", len(values), enabled, running, *values))
    g = perfevents.Group.__new__(perfevents.Group)
    g.fds, g.solo, g._format = [r], False, struct.Struct(f"={3 + len(values)}Q")
    try:
        return g.read()
    finally:
        g.close()
        os.close(w)


def test_group_read_scales_multiplexed_and_says_none_when_never_running():
    assert read_group(5_000_000, 0, 0, 0) == (None, None)
    assert read_group(4_000, 1_000, 10, 20) == (40, 80)
    assert read_group(4_000, 4_000, 10, 20) == (10, 20)
    assert read_group(0, 0, 0) == (0,)     # never enabled (the thread has not run): truly nothing


class FdShortOnce(SmallPMU):
    """Out of fds once, on the hardware group of one thread (the PMU is still there)."""
    def __init__(self, tid):
        super().__init__()
        self.tid = tid

    def open(self, tid, names, inherit=False):
        if tid == self.tid and names[0] == "cycles":
            self.tid = None
            raise OSError(errno.EMFILE, "Too many open files")
        return super().open(tid, names, inherit)


def test_out_of_fds_never_turns_hardware_counting_off():
    guests = [Guest(name=f"g{i}", uuid="u", id=i, state="running", pid=100 + i, memory_kib=1,
                    vcpus=(Vcpu(0, 200 + i, None, (), False),)) for i in range(2)]
    pc = PerfCollector(HostFS("/"), backend=FdShortOnce(201), rescan_every=0.0)
    pc.enable(True)
    first = [g.perf for g in pc.annotate(guests, 1.0, [])]
    assert first[0].hardware is None and first[0].vcpus[0].cycles is not None
    assert first[1].unavailable == "out of file descriptors: raise LimitNOFILE / ulimit -n"
    second = [g.perf for g in pc.annotate(guests, 2.0, [])]
    assert all(p.unavailable is None and p.hardware is None and p.vcpus[0].cycles for p in second)
