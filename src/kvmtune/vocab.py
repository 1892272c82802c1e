"""kvmtune's vocabulary: every closed set of words and every kernel path, defined once.

libvirt's state names, NUMA modes, scopes; the throttle (iotune) and memtune keys; the
KSM, hugepage, THP and NUMA-balancing files; the base page size and the clock tick.
Collectors, actions, the demo host and the UI all take them from here.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Literal, get_args

# -- libvirt -------------------------------------------------------------------------------

GuestState = Literal["no state", "running", "idle", "paused", "in shutdown", "shut off",
                     "crashed", "pmsuspended"]
# virDomainState codes, as virsh names them
STATE_BY_CODE: dict[int, GuestState] = dict(enumerate(get_args(GuestState)))
# Short forms for a narrow table column.
STATE_SHORT: dict[str, str] = {"no state": "?", "running": "run", "idle": "idl", "paused": "pau",
                               "in shutdown": "sd", "shut off": "off", "crashed": "CRA",
                               "pmsuspended": "sus"}

# A vCPU's state: its thread's kernel state (/proc/PID/task/TID/stat field 3) in words, or
# where kvmtune has no /proc for the guest libvirt's (virVcpuState: offline, running, blocked,
# as `virsh vcpuinfo` prints them). libvirt's QEMU driver calls every online vCPU "running";
# the thread says more: "halted" is a thread asleep (the guest CPU idles, HLT).
VcpuState = Literal["running", "halted", "blocked", "stopped", "offline"]
VCPU_STATES: tuple[VcpuState, ...] = get_args(VcpuState)
VCPU_STATE_BY_LETTER: dict[str, VcpuState] = {
    "R": "running",                          # on a CPU or ready to run
    "S": "halted", "I": "halted", "P": "halted",   # asleep: a KVM vCPU sleeps while its guest CPU is halted
    "D": "blocked", "W": "blocked",          # uninterruptible wait (I/O, page fault)
    "T": "stopped", "t": "stopped",          # SIGSTOP, a debugger
    "Z": "offline", "X": "offline",          # exited
}
VCPU_STATE_BY_CODE: dict[int, VcpuState] = {0: "offline", 1: "running", 2: "blocked"}   # virVcpuState

NumaMode = Literal["strict", "preferred", "interleave", "restrictive"]
NUMA_MODES: tuple[NumaMode, ...] = get_args(NumaMode)   # in libvirt's numa_mode order (0-3)
# libvirt 9 (measured on the lab) changes a running guest's nodeset only in restrictive mode
# (cgroup-enforced), or once on a guest without <numatune>; a strict nodeset is QEMU's own
# memory policy, fixed at start.
LIVE_NODESET_MODES: tuple[NumaMode, ...] = ("restrictive",)

# virsh's --live, --config, --current, and --live --config together ("live+config": both the
# running guest and its saved definition, one libvirt call with both flags).
Scope = Literal["live", "config", "live+config", "current"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
SCOPE_BOTH: Scope = "live+config"


def scope_args(scope: str) -> list[str]:
    """virsh's options for a scope: ["--live"], ["--live", "--config"], ..."""
    return [f"--{s}" for s in scope.split("+")]


def affects_live(scope: str, running: bool) -> bool:
    """Whether a change in `scope` lands on the running guest (current = live while it runs)."""
    return scope in ("live", SCOPE_BOTH) or (scope == "current" and running)


def affects_config(scope: str, running: bool) -> bool:
    """Whether a change in `scope` lands in the saved definition."""
    return scope in ("config", SCOPE_BOTH) or (scope == "current" and not running)

# memtune: our keys (KiB, None = unlimited) -> libvirt's parameter names; virsh's options
MEMTUNE_KEYS = ("hard_limit_kib", "soft_limit_kib", "swap_hard_limit_kib")
MEMTUNE_LIBVIRT = {"hard_limit_kib": "hard_limit", "soft_limit_kib": "soft_limit",
                   "swap_hard_limit_kib": "swap_hard_limit"}
MEMTUNE_OPTS = {"hard_limit_kib": "--hard-limit", "soft_limit_kib": "--soft-limit",
                "swap_hard_limit_kib": "--swap-hard-limit"}
# libvirt's "unlimited" for memtune values, in KiB (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED).
MEMTUNE_UNLIMITED_KIB = 9007199254740991

# blkdeviotune: the six limits the Snapshot carries, then every integer value libvirt knows.
IOTUNE_BASE = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
               "total_iops_sec", "read_iops_sec", "write_iops_sec")
IOTUNE_INT_KEYS = (IOTUNE_BASE + tuple(f"{k}_max" for k in IOTUNE_BASE)
                   + tuple(f"{k}_max_length" for k in IOTUNE_BASE) + ("size_iops_sec",))
IOTUNE_KEYS = IOTUNE_INT_KEYS + ("group_name",)
# Setting one value of a group resets the others to 0 (libvirt's qemu driver).
IOTUNE_GROUPS = tuple(
    [tuple(f"{w}_{u}_sec{s}" for w in ("total", "read", "write"))
     for s in ("", "_max", "_max_length") for u in ("bytes", "iops")] + [("size_iops_sec",)])
THROTTLE_MAX = 10 ** 15  # QEMU's THROTTLE_VALUE_MAX; libvirt refuses more

# -- the kernel ------------------------------------------------------------------------------

PAGE_KIB = 4        # base page size on x86_64; v1 numa_stat and KSM count pages of this size
CLK_TCK = os.sysconf("SC_CLK_TCK")   # USER_HZ: the unit of proc/stat and task stat times

NODE_DIR = "sys/devices/system/node"
# nodeN/numastat's counters (pages allocated), in numastat(8)'s order
NUMASTAT_KEYS = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")
CPU_DIR = "sys/devices/system/cpu"
HUGE_DIR = "sys/kernel/mm/hugepages"
KSM_DIR = "sys/kernel/mm/ksm"
THP_DIR = "sys/kernel/mm/transparent_hugepage"
THP_ENABLED = f"{THP_DIR}/enabled"
NUMA_BALANCING = "proc/sys/kernel/numa_balancing"
# Daemons' pid files (tuned's own; numad's default /var/run/numad.pid, and /var/run is /run on
# every distribution libvirt runs on), and the network knobs the guide's chapter 5 names.
TUNED_PID = "run/tuned/tuned.pid"
NUMAD_PID = "run/numad.pid"
ARP_FILTER = "proc/sys/net/ipv4/conf/all/arp_filter"
VHOST_ZCOPYTX = "sys/module/vhost_net/parameters/experimental_zcopytx"

ThpMode = Literal["always", "madvise", "never"]
THP_MODES: tuple[ThpMode, ...] = get_args(ThpMode)
THP_DEFRAG_MODES = ("always", "defer", "defer+madvise", "madvise", "never")

KSM_REQUIRED = ("run", "pages_shared", "pages_sharing", "pages_unshared", "pages_volatile",
                "full_scans", "pages_to_scan", "sleep_millisecs")
# Absent on older kernels (general_profit, pages_scanned: 6.1+) or without NUMA (merge_across_nodes).
KSM_OPTIONAL = ("merge_across_nodes", "general_profit", "pages_scanned")
# Writable KSM knobs, in the order they are written (merge_across_nodes before run).
KSM_KNOBS = ("merge_across_nodes", "pages_to_scan", "sleep_millisecs", "run")


def hugepage_dir(size_kib: int, node: int | None = None) -> str:
    """A hugepage pool's sysfs directory: host-wide, or one node's."""
    if node is None:
        return f"{HUGE_DIR}/hugepages-{size_kib}kB"
    return f"{NODE_DIR}/node{node}/hugepages/hugepages-{size_kib}kB"


# -- actions -----------------------------------------------------------------------------------

class Status(StrEnum):
    """What became of an action attempt (the audit log's "result")."""
    APPLIED = "applied"
    DRY_RUN = "dry-run"
    INVALID = "invalid"
    NEEDS_CONFIRMATION = "needs-confirmation"
    REFUSED = "refused"
    FAILED = "failed"
