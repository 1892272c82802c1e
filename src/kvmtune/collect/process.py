"""Per-guest readers of /proc and the memory cgroup: the kernel's side of a running guest.

Each function reads one thing for one QEMU process through HostFS and raises
HostFSError (ProcessGone when the process exited) or ParseError on failure; the guest
collector turns that into an errors entry.
All but `numa_maps` are cheap enough for every tick.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .. import parse
from ..errors import FileMissing, ProcessGone
from ..hostfs import HostFS
from ..model import GuestKsm
from ..vocab import CLK_TCK, PAGE_KIB

_VCPU_COMM = re.compile(r"^CPU (\d+)/(?:KVM|TCG)$")
VHOST_COMM = re.compile(r"^vhost-(\d+)$")
VHOST = -1   # in a thread-name cache: a vhost-net worker, not a vCPU
_TICK_NS = 1_000_000_000 // CLK_TCK


def guest_pid(fs: HostFS, name: str) -> int | None:
    """The QEMU pid of a running guest: libvirt's pid file, else a scan of proc/*/cmdline.

    None when no process is found. The scan (costly on a busy host) runs only when the
    pid file is missing, e.g. for a guest started by another libvirt or by hand.
    """
    if not name or "/" in name or name in (".", ".."):
        return None
    text = fs.read_str(f"run/libvirt/qemu/{name}.pid", None)
    if text is None:
        return _scan_cmdlines(fs, name)
    try:
        pid = int(text)
    except ValueError:
        raise parse.ParseError(f"{fs.show(f'run/libvirt/qemu/{name}.pid')}: not a pid: {text[:20]!r}") from None
    return pid if fs.exists(f"proc/{pid}") else None


def _qemu_name(value: str) -> str:
    """The guest name in a QEMU `-name` value: "guest=a,,b,debug-threads=on" -> "a,b".

    QEMU escapes a comma inside an option value by doubling it.
    """
    if value.startswith("guest="):
        value = value[len("guest="):]
    out, i = [], 0
    while i < len(value):
        if value[i] == ",":
            if value[i + 1:i + 2] != ",":
                break
            i += 1
        out.append(value[i])
        i += 1
    return "".join(out)


def _scan_cmdlines(fs: HostFS, name: str) -> int | None:
    for entry in fs.listdir("proc"):
        if not entry.isdigit():
            continue
        try:
            args = fs.read_bytes(f"proc/{entry}/cmdline").decode("utf-8", "replace").split("\0")
        except OSError:
            continue   # exited or unreadable: not ours to report
        for i, arg in enumerate(args[:-1]):
            if arg == "-name" and _qemu_name(args[i + 1]) == name:
                return int(entry)
    return None


class VcpuThread(NamedTuple):   # built per vCPU per tick: a NamedTuple costs a third of a frozen dataclass
    tid: int
    pcpu: int            # the CPU it last ran on (task stat field 39)
    cpu_time_ns: int     # schedstat's run time; utime + stime where the kernel has no schedstat
    state: str           # the kernel's state letter (stat field 3): R running, S asleep, D, T, ...


def vcpu_threads(fs: HostFS, pid: int, names: dict[str, int | None] | None = None
                 ) -> dict[int, VcpuThread]:
    """vCPU index -> its thread, from the threads named "CPU N/KVM" or "CPU N/TCG".

    `names` is an optional per-process cache (tid -> vCPU index, None for other threads):
    QEMU names a thread once, so with it a tick reads only each vCPU thread's stat (the CPU
    it is on, its state) and schedstat (its run time in ns: libvirt's vcpu.N.time is stat's utime +
    stime, truncated to clock ticks twice; schedstat costs ~12 us more per thread here).
    """
    out: dict[int, VcpuThread] = {}
    if names is None:
        names = {}
    task_dir = f"proc/{pid}/task"
    for tid in fs.listdir(task_dir):
        try:
            if tid not in names:
                comm = fs.read_str(f"{task_dir}/{tid}/comm")
                m = _VCPU_COMM.match(comm)
                names[tid] = int(m.group(1)) if m else VHOST if VHOST_COMM.match(comm) else None
            index = names[tid]
            if index is None or index == VHOST:
                continue
            st = parse.task_stat(fs.read_text(f"{task_dir}/{tid}/stat", keep=True))
        except FileMissing:
            continue   # the thread exited between listdir and read
        ns = thread_run_ns(fs, f"{task_dir}/{tid}", st)
        out[index] = VcpuThread(int(tid), st.processor, ns, st.state)
    return out


def thread_run_ns(fs: HostFS, path: str, st: parse.TaskStat) -> int:
    """A thread's CPU time in ns: schedstat's run time, else (a kernel without SCHED_INFO) its
    stat's utime + stime in clock ticks."""
    sched = fs.read_text(f"{path}/schedstat", None, keep=True)
    return (st.utime + st.stime) * _TICK_NS if sched is None else parse.schedstat_ns(sched)


def memory_cgroup_dir(fs: HostFS, pid: int) -> str | None:
    """The HostFS-relative directory holding the process's memory.numa_stat, or None.

    v1: the `memory` controller line; v2: the `0::` line. Under v2 libvirt puts QEMU in a
    threaded child (".../libvirt/emulator") that has no memory files, so walk up to the
    nearest directory that has them.
    """
    paths = parse.proc_cgroup(fs.read_text(f"proc/{pid}/cgroup"))
    v1, v2 = (paths[k][1] if k in paths else None for k in ("memory", ""))
    if v1 is not None:
        base, path = "sys/fs/cgroup/memory", v1
    elif v2 is not None:
        base, path = "sys/fs/cgroup", v2
    else:
        return None
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    for n in range(len(parts), -1, -1):
        d = "/".join([base, *parts[:n]])
        if fs.exists(f"{d}/memory.numa_stat"):
            return d
    return "/".join([base, *parts])


class CpuAccount(NamedTuple):
    """Where a guest's total CPU time is counted (found once per run; read every tick)."""
    rel: str    # the HostFS-relative file
    kind: str   # "cpu.stat" (cgroup v2, usage_usec), "cpuacct.usage" (v1, ns) or "stat" (the process's)


def _guest_cgroup(path: str) -> str | None:
    """The guest's own cgroup from the QEMU process's: libvirt moves QEMU into the `emulator`
    child of the guest's cgroup (vCPU threads into vcpuN beside it), so the parent counts them
    all. A process not in an emulator child is in no cgroup of its own (its counter would count
    libvirtd or the whole host): None."""
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    if len(parts) < 2 or parts[-1] != "emulator":
        return None
    return "/" + "/".join(parts[:-1])


def cpu_account(fs: HostFS, pid: int) -> CpuAccount:
    """Where the guest's CPU time is, as libvirt's cpu.time reads it: the guest cgroup's v2
    cpu.stat (libvirt prefers v2, also on a hybrid host whose unified tree has no controllers:
    cpu.stat is in every v2 cgroup), else its v1 cpuacct.usage, else the QEMU process's own
    utime + stime (libvirt's fallback too, for a guest in no cgroup of its own)."""
    paths = parse.proc_cgroup(fs.read_text(f"proc/{pid}/cgroup"))
    v2 = _guest_cgroup(paths[""][1]) if "" in paths else None
    v1 = (paths["cpuacct"][0], _guest_cgroup(paths["cpuacct"][1])) if "cpuacct" in paths else None
    if v2 is not None:
        for base in ("sys/fs/cgroup/unified", "sys/fs/cgroup"):   # hybrid, then unified only
            if fs.exists(rel := f"{base}{v2}/cpu.stat"):
                return CpuAccount(rel, "cpu.stat")
    if v1 is not None and v1[1] is not None:
        for mount in dict.fromkeys((v1[0], "cpu,cpuacct", "cpuacct")):   # its own mount, then the usual names
            if fs.exists(rel := f"sys/fs/cgroup/{mount}{v1[1]}/cpuacct.usage"):
                return CpuAccount(rel, "cpuacct.usage")
    return CpuAccount(f"proc/{pid}/stat", "stat")


def cpu_time_ns(fs: HostFS, acct: CpuAccount) -> int:
    """The guest's CPU time now (ns), from where `cpu_account` found it."""
    try:
        text = fs.read_text(acct.rel, keep=True)
        if acct.kind == "cpu.stat":
            return parse.cpu_stat_usage_ns(text)
        if acct.kind == "cpuacct.usage":
            return parse.first_int(text, "cpuacct.usage")
        st = parse.task_stat(text)
        return (st.utime + st.stime) * _TICK_NS
    except parse.ParseError as e:
        raise parse.ParseError(f"{fs.show(acct.rel)}: {e}") from None


def anon_per_node_kib(fs: HostFS, cgroup_dir: str) -> dict[int, int]:
    """Anonymous memory per node (KiB) from the cgroup's memory.numa_stat (v1 or v2)."""
    rel = f"{cgroup_dir}/memory.numa_stat"
    try:
        return parse.numa_stat_anon(fs.read_text(rel, keep=True))
    except parse.ParseError as e:
        raise parse.ParseError(f"{fs.show(rel)}: {e}") from None


def numa_maps(fs: HostFS, pid: int) -> parse.NumaMapsTotals:
    """The process's numa_maps, summed per node (hugepages, anonymous memory, ...).

    Costly: the kernel walks the page tables on every read; call it at a slow cadence.
    """
    rel = f"proc/{pid}/numa_maps"
    try:
        return parse.numa_maps(fs.read_text(rel))
    except parse.ParseError as e:
        raise parse.ParseError(f"{fs.show(rel)}: {e}") from None


def rss_anon_kib(fs: HostFS, pid: int) -> int:
    """RssAnon from /proc/PID/status: every anonymous page the process maps, KSM pages included."""
    rel = f"proc/{pid}/status"
    try:
        v = parse.status_field(fs.read_text(rel), "RssAnon")
    except parse.ParseError as e:
        raise parse.ParseError(f"{fs.show(rel)}: {e}") from None
    if v is None:
        raise parse.ParseError(f"{fs.show(rel)}: no RssAnon")
    return v


def rss_kib(fs: HostFS, pid: int) -> int:
    """The process's resident memory (statm: one short line; what `virsh dommemstat` calls rss,
    which libvirt reads from proc/PID/stat). Hugetlbfs pages are not in it (HugetlbPages)."""
    rel = f"proc/{pid}/statm"
    try:
        return parse.statm_rss_pages(fs.read_text(rel, keep=True)) * PAGE_KIB
    except parse.ParseError as e:
        raise parse.ParseError(f"{fs.show(rel)}: {e}") from None


def guest_ksm(fs: HostFS, pid: int) -> GuestKsm | None:
    """KSM for one process: ksm_stat (6.1+), else ksm_merging_pages (5.19+), else None."""
    rel = f"proc/{pid}/ksm_stat"
    text = fs.read_text(rel, None, keep=True)
    if text is not None:
        try:
            v = parse.ksm_stat(text)
        except parse.ParseError as e:
            raise parse.ParseError(f"{fs.show(rel)}: {e}") from None
        return GuestKsm(v.get("ksm_merging_pages"), v.get("ksm_process_profit"))
    merging = fs.read_int(f"proc/{pid}/ksm_merging_pages", None)
    if merging is not None:
        return GuestKsm(merging, None)
    if not fs.exists(f"proc/{pid}"):
        raise ProcessGone(fs.show(f"proc/{pid}"), "not found (the process exited)")
    return None
