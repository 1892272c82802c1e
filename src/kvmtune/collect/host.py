"""The host: NUMA nodes, hugepage pools, KSM, THP, NUMA balancing, tuned, numad, the network
knobs (arp_filter, vhost_net zero-copy), CPUs, memory.

`collect_host` runs every tick, so it reads only small sysfs/procfs files. Each area is
read on its own: a missing, malformed or unreadable file adds one `Error` naming the
path and leaves that field None (or the node out); it never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from .. import cpuset, parse
from ..errors import HostFSError
from ..hostfs import HostFS
from ..model import Cpu, Error, Host, HugePool, Ksm, Node, NodeHugePool
from ..vocab import (
    ARP_FILTER,
    CLK_TCK,
    CPU_DIR,
    HUGE_DIR,
    KSM_DIR,
    KSM_OPTIONAL,
    KSM_REQUIRED,
    NODE_DIR,
    NUMA_BALANCING,
    NUMAD_PID,
    THP_DIR,
    TUNED_PID,
    VHOST_ZCOPYTX,
)

T = TypeVar("T")

_POOL = re.compile(r"^hugepages-(\d+)kB$")
_NODE = re.compile(r"^node(\d+)$")


def _read(fs: HostFS, rel: str, parser: Callable[[str], T]) -> T:
    """Read and parse one file; any parse failure becomes a HostFSError naming the path."""
    return _parsed(fs, rel, fs.read_text(rel), parser)


def _optional(fs: HostFS, rel: str, parser: Callable[[str], T]) -> T | None:
    """Like _read, None when the file is absent."""
    text = fs.read_text(rel, None)
    return None if text is None else _parsed(fs, rel, text, parser)


def _parsed(fs: HostFS, rel: str, text: str, parser: Callable[[str], T]) -> T:
    try:
        return parser(text.replace("\0", ""))   # captured trees (hwloc) end some files in NUL
    except ValueError as e:   # ParseError, CpusetError, int()
        raise HostFSError(fs.show(rel), f"malformed: {e}") from None


def _guard(errors: list[Error], area: str, fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except (OSError, ValueError) as e:   # HostFSError is an OSError
        errors.append(Error(area, str(e)))
        return default


class HostCollector:
    """The host's figures for one tree. Keeps the CPU topology (socket, core), which never
    changes while the machine runs; `reset()` forgets it (e.g. after CPU hotplug)."""

    def __init__(self, fs: HostFS):
        self.fs = fs
        self._topology: dict[int, tuple[int, int]] = {}

    def reset(self) -> None:
        self._topology.clear()

    def collect(self, errors: list[Error]) -> Host:
        fs = self.fs
        nodes = _nodes(fs, errors)
        meminfo = _guard(errors, "host.meminfo", lambda: _read(fs, "proc/meminfo", parse.meminfo), None)
        return Host(
            hostname=_guard(errors, "host.hostname",
                            lambda: fs.read_str("proc/sys/kernel/hostname"), "unknown"),
            nodes=nodes,
            hugepages=_hugepages(fs, meminfo, errors),
            ksm=_guard(errors, "host.ksm", lambda: _ksm(fs), None),
            thp_enabled=_guard(errors, "host.thp",
                               lambda: _read(fs, f"{THP_DIR}/enabled", parse.bracketed), None),
            thp_defrag=_guard(errors, "host.thp",
                              lambda: _read(fs, f"{THP_DIR}/defrag", parse.bracketed), None),
            numa_balancing=_guard(errors, "host.numa_balancing",
                                  lambda: fs.read_int(NUMA_BALANCING), None),
            tuned_profile=_tuned(fs, errors),
            tuned_running=_guard(errors, "host.tuned", lambda: daemon_running(fs, TUNED_PID, "tuned"), None),
            numad_running=_guard(errors, "host.numad", lambda: daemon_running(fs, NUMAD_PID, "numad"), None),
            # a missing file is a normal state: no such knob (vhost_net not loaded), None
            arp_filter=_guard(errors, "host.net", lambda: fs.read_int(ARP_FILTER, None), None),
            vhost_zcopytx=_guard(errors, "host.net", lambda: fs.read_int(VHOST_ZCOPYTX, None), None),
            cpus=_guard(errors, "host.cpus", lambda: self._cpus(nodes, errors), ()),
            mem_total_kib=None if meminfo is None else meminfo.get("MemTotal"),
            mem_free_kib=None if meminfo is None else meminfo.get("MemFree"),
            # (absent from captured sys+proc trees: None, not an error)
            uptime_s=_guard(errors, "host.uptime", lambda: _optional(fs, "proc/uptime", parse.uptime), None),
            loadavg=_guard(errors, "host.loadavg", lambda: _optional(fs, "proc/loadavg", parse.loadavg), None),
        )

    def _cpus(self, nodes: tuple[Node, ...], errors: list[Error]) -> tuple[Cpu, ...]:
        """Online CPUs with node/socket/core and cumulative busy/total seconds.

        Times come from proc/stat parsed through HostFS, not psutil: see the README
        ("Why kvmtune reads procfs itself") for the measured reasons.
        """
        fs = self.fs
        online = _read(fs, f"{CPU_DIR}/online", cpuset.parse)
        node_of = {c: n.id for n in nodes for c in n.cpus}
        ticks: dict[int, parse.CpuTicks] = _guard(
            errors, "host.cpus", lambda: _read(fs, "proc/stat", parse.proc_stat_cpus), {})
        out = []
        topo_errors: list[Error] = []   # one entry for the host, not one per CPU
        for c in online:
            socket, core = self._topology_of(c, topo_errors)
            t = ticks.get(c)
            out.append(Cpu(id=c, node=node_of.get(c), socket=socket, core=core,
                           busy_s=None if t is None else t.busy / CLK_TCK,
                           total_s=None if t is None else t.total / CLK_TCK))
        if topo_errors:
            more = f" (and {len(topo_errors) - 1} more)" if len(topo_errors) > 1 else ""
            errors.append(Error("host.cpus", topo_errors[0].message + more))
        return tuple(out)

    def _topology_of(self, cpu: int, errors: list[Error]) -> tuple[int | None, int | None]:
        # Read once per CPU (half the per-tick file reads on a big host otherwise); failures
        # are not kept, so a later tick tries again.
        if cpu in self._topology:
            return self._topology[cpu]
        topo = f"{CPU_DIR}/cpu{cpu}/topology"
        socket = _guard(errors, "host.cpus", lambda: self.fs.read_int(f"{topo}/physical_package_id"), None)
        core = _guard(errors, "host.cpus", lambda: self.fs.read_int(f"{topo}/core_id"), None)
        if socket is not None and core is not None:
            self._topology[cpu] = (socket, core)
        return socket, core


def collect_host(fs: HostFS, errors: list[Error]) -> Host:
    """One reading of the host with a fresh HostCollector (tests, one-off reads)."""
    return HostCollector(fs).collect(errors)


# -- nodes ---------------------------------------------------------------------------------

def _node_ids(fs: HostFS) -> tuple[int, ...]:
    text = fs.read_text(f"{NODE_DIR}/online", None)
    if text is not None:
        return _parsed(fs, f"{NODE_DIR}/online", text, cpuset.parse)
    # Some trees (and old kernels) lack `online`: the nodeN directories are the nodes.
    return tuple(sorted(int(m.group(1)) for e in fs.listdir(NODE_DIR) if (m := _NODE.match(e))))


def _nodes(fs: HostFS, errors: list[Error]) -> tuple[Node, ...]:
    ids: tuple[int, ...] = _guard(errors, "host.nodes", lambda: _node_ids(fs), ())
    out = []
    for i in ids:
        d = f"{NODE_DIR}/node{i}"
        node = _guard(errors, "host.nodes", partial(_node, fs, i, d, errors), None)
        if node is not None:
            out.append(node)
    return tuple(out)


def _node(fs: HostFS, i: int, d: str, errors: list[Error]) -> Node:
    cpus = _read(fs, f"{d}/cpulist", cpuset.parse)   # "" for a memory-only node
    mem = _read(fs, f"{d}/meminfo", parse.meminfo)
    if "MemTotal" not in mem or "MemFree" not in mem:
        raise HostFSError(fs.show(f"{d}/meminfo"), "malformed: no MemTotal/MemFree")
    distances = _guard(errors, "host.nodes", lambda: _read(
        fs, f"{d}/distance", lambda t: tuple(int(x) for x in t.split())), None)
    # allocation counters where the kernel has them (CONFIG_NUMA; absent from some captures)
    numastat = _guard(errors, "host.nodes", lambda: _optional(fs, f"{d}/numastat", parse.node_numastat), None)
    return Node(id=i, cpus=cpus, mem_total_kib=mem["MemTotal"], mem_free_kib=mem["MemFree"],
                distances=distances, hugepages=_node_pools(fs, f"{d}/hugepages", errors), numastat=numastat)


def _pool_sizes(fs: HostFS, d: str, entries: list[str] | None = None) -> list[tuple[int, str]]:
    """(size KiB, dir) of each hugepage pool under d (given its listing, or listing it);
    none when the kernel has no hugetlb."""
    names = fs.listdir(d, []) if entries is None else entries
    return sorted((int(m.group(1)), f"{d}/{e}") for e in names if (m := _POOL.match(e)))


def _node_pool(fs: HostFS, p: str) -> NodeHugePool:
    return NodeHugePool(total=fs.read_int(f"{p}/nr_hugepages"), free=fs.read_int(f"{p}/free_hugepages"),
                        surplus=fs.read_int(f"{p}/surplus_hugepages"))


def _node_pools(fs: HostFS, d: str, errors: list[Error]) -> dict[int, NodeHugePool]:
    pools: dict[int, NodeHugePool] = {}
    sizes: list[tuple[int, str]] = _guard(errors, "host.hugepages", lambda: _pool_sizes(fs, d), [])
    for size, p in sizes:
        pool = _guard(errors, "host.hugepages", partial(_node_pool, fs, p), None)
        if pool is not None:
            pools[size] = pool
    return pools


# -- global hugepage pools ---------------------------------------------------------------

def _pool(fs: HostFS, p: str) -> HugePool:
    return HugePool(total=fs.read_int(f"{p}/nr_hugepages"), free=fs.read_int(f"{p}/free_hugepages"),
                    reserved=fs.read_int(f"{p}/resv_hugepages"), surplus=fs.read_int(f"{p}/surplus_hugepages"))


def _hugepages(fs: HostFS, meminfo: dict[str, int] | None, errors: list[Error]) -> dict[int, HugePool]:
    # One listing per tick; an unreadable directory is an error entry like any other read.
    unreadable: list[str] | None = []
    entries = _guard(errors, "host.hugepages", lambda: fs.listdir(HUGE_DIR, None), unreadable)
    if entries is None:
        # No sysfs pools in this tree: proc/meminfo still describes the default-size pool.
        if meminfo and "Hugepagesize" in meminfo and "HugePages_Total" in meminfo:
            return {meminfo["Hugepagesize"]: HugePool(
                total=meminfo["HugePages_Total"], free=meminfo.get("HugePages_Free", 0),
                reserved=meminfo.get("HugePages_Rsvd", 0), surplus=meminfo.get("HugePages_Surp", 0))}
        return {}
    pools: dict[int, HugePool] = {}
    for size, p in _pool_sizes(fs, HUGE_DIR, entries):
        pool = _guard(errors, "host.hugepages", partial(_pool, fs, p), None)
        if pool is not None:
            pools[size] = pool
    return pools


# -- KSM, tuned --------------------------------------------------------------------------------

def _ksm(fs: HostFS) -> Ksm:
    values: dict[str, int | None] = {k: fs.read_int(f"{KSM_DIR}/{k}") for k in KSM_REQUIRED}
    for k in KSM_OPTIONAL:
        values[k] = fs.read_int(f"{KSM_DIR}/{k}", None)
    return Ksm(**values)  # type: ignore[arg-type]


def _tuned(fs: HostFS, errors: list[Error]) -> str | None:
    # No file means tuned is not installed: a normal state, not an error.
    return _guard(errors, "host.tuned", lambda: fs.read_str("etc/tuned/active_profile", "") or None, None)


def daemon_running(fs: HostFS, pid_file: str, name: str) -> bool | None:
    """Whether the daemon whose pid file this is runs: the file names a live process of that
    name. No pid file: not running (the daemon removes it when it stops) — unless the tree has
    no run/ at all (a captured sys+proc tree), where nobody can tell (None). A few small reads
    per tick, never a walk over /proc."""
    pid = fs.read_int(pid_file, None)
    if pid is None:
        return False if fs.exists("run") else None
    if pid <= 0:
        return False
    comm = fs.read_str(f"proc/{pid}/comm", None)
    if comm is None:
        return False                  # a stale pid file (the daemon died without removing it)
    if comm == name:
        return True
    # a reused pid, or tuned (a Python script) started as `python3 -Es /usr/sbin/tuned`: argv says which
    argv = [a.rsplit("/", 1)[-1] for a in fs.read_text(f"proc/{pid}/cmdline", "").split("\0")]
    return argv[0] == name or (argv[0].startswith("python") and name in argv[1:3])
