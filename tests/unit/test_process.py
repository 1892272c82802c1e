"""Per-guest /proc + cgroup readers, on generated trees and on real QEMU captures."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmtune import parse
from kvmtune.collect import ksm_memory, process
from kvmtune.errors import ProcessGone
from kvmtune.hostfs import HostFS, HostFSError
from kvmtune.model import GuestKsm
from kvmtune.parse import ParseError

TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def guest_tree(tmp_path, tree, **kw):
    args = dict(pid=4242, name="web1", vcpus={0: (4250, 3, 150), 1: (4251, 1, 20)},
                anon_pages={0: 1000, 1: 3000})
    args.update(kw)
    return HostFS(tree.write_tree(tmp_path, tree.guest_files(**args)))


def test_pid_from_pid_file(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    assert process.guest_pid(fs, "web1") == 4242
    assert process.guest_pid(fs, "other") is None


def test_pid_file_of_an_exited_process(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "run/libvirt/qemu/gone.pid").write_text("999")
    assert process.guest_pid(fs, "gone") is None


def test_pid_from_cmdline_when_no_pid_file(tmp_path, tree):
    f = tree.guest_files(4242, "a,b", {0: (4250, 0, 1)}, {0: 1})
    del f["run/libvirt/qemu/a,b.pid"]
    # QEMU doubles a comma inside a value; a guest whose name is a prefix must not match
    f["proc/4242/cmdline"] = b"qemu-system-x86_64\0-name\0guest=a,,b,debug-threads=on\0"
    f["proc/77/cmdline"] = b"qemu-system-x86_64\0-name\0guest=a,debug-threads=on\0"
    f["proc/88/cmdline"] = b"qemu-system-x86_64\0-name\0plain\0"
    f["proc/self/cmdline"] = b"x\0"
    fs = HostFS(tree.write_tree(tmp_path, f))
    assert process.guest_pid(fs, "a,b") == 4242
    assert process.guest_pid(fs, "a") == 77
    assert process.guest_pid(fs, "plain") == 88
    assert process.guest_pid(fs, "b") is None


def test_pid_never_leaves_the_run_dir(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    assert process.guest_pid(fs, "../../proc/4242/x") is None
    assert process.guest_pid(fs, "") is None


def test_pid_file_garbage(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "run/libvirt/qemu/web1.pid").write_text("12ab")
    with pytest.raises(ParseError, match=r"web1\.pid"):
        process.guest_pid(fs, "web1")


def test_vcpu_threads(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    assert process.vcpu_threads(fs, 4242) == {
        0: process.VcpuThread(4250, 3, 150 * TICK_NS, "S"), 1: process.VcpuThread(4251, 1, 20 * TICK_NS, "S")}


@pytest.mark.parametrize("letter,state", [("R", "running"), ("S", "halted"), ("D", "blocked"), ("t", "stopped"),
                                          ("Z", "offline"), ("?", None)])
def test_vcpu_state_is_the_threads_state_letter(tmp_path, tree, letter, state):
    """Field 3 of the thread's stat (after the comm, which has a space and may hold ')'):
    the vCPU pane's state; a letter kvmtune does not know is no state, not a guess."""
    from kvmtune.collect.guests import _vcpu_state
    from kvmtune.virt.interface import GuestStats
    fs = guest_tree(tmp_path, tree)
    stat = tmp_path / "proc/4242/task/4251/stat"
    stat.write_text(stat.read_text().replace(") S ", f") {letter} ", 1))
    threads = process.vcpu_threads(fs, 4242)
    assert threads[1].state == letter and threads[0].state == "S"
    assert _vcpu_state(threads[1], threads, GuestStats(), 1) == state
    # a vCPU with no thread beside its guest's others is not plugged in; with no /proc, libvirt's word
    assert _vcpu_state(None, threads, GuestStats(vcpu_state={2: "running"}), 2) == "offline"
    assert _vcpu_state(None, {}, GuestStats(vcpu_state={2: "running"}), 2) == "running"


def test_vcpu_thread_exiting_mid_read_is_skipped(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    os.remove(tmp_path / "proc/4242/task/4251/stat")
    assert set(process.vcpu_threads(fs, 4242)) == {0}


def test_vcpu_threads_of_a_gone_process(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    with pytest.raises(ProcessGone):
        process.vcpu_threads(fs, 999)


def test_vcpu_thread_bad_stat(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "proc/4242/task/4251/stat").write_text("4251 (CPU 1/KVM) S 1 2")
    with pytest.raises(ParseError):
        process.vcpu_threads(fs, 4242)


def test_vcpu_time_from_schedstat_to_the_nanosecond(tmp_path, tree):
    """schedstat's run time, not stat's utime + stime: those are truncated to clock ticks
    (each of the two), so a vCPU that ran 9 ms shows 0 there (measured on the lab)."""
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "proc/4242/task/4250/schedstat").write_text("1503456789 177492022 2563\n")
    (tmp_path / "proc/4242/task/4251/schedstat").write_text("9323713 6601601 37\n")
    assert process.vcpu_threads(fs, 4242) == {
        0: process.VcpuThread(4250, 3, 1503456789, "S"), 1: process.VcpuThread(4251, 1, 9323713, "S")}


def test_vcpu_time_from_stat_where_there_is_no_schedstat(tmp_path, tree):
    # a kernel without CONFIG_SCHED_INFO (or a capture without the file): one thread each way
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "proc/4242/task/4251/schedstat").write_text("9323713 6601601 37\n")
    threads = process.vcpu_threads(fs, 4242)
    assert threads[0].cpu_time_ns == 150 * TICK_NS and threads[1].cpu_time_ns == 9323713


def test_vcpu_bad_schedstat(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "proc/4242/task/4250/schedstat").write_text("x 1 2\n")
    with pytest.raises(ParseError, match="schedstat"):
        process.vcpu_threads(fs, 4242)


V1_CG = "/machine/qemu-1-web1.libvirt-qemu"
V2_CG = "/machine.slice/machine-qemu\\x2d1\\x2dweb1.scope/libvirt"


@pytest.mark.parametrize("cgroup,rel,kind", [
    ("v1", f"sys/fs/cgroup/cpu,cpuacct{V1_CG}/cpuacct.usage", "cpuacct.usage"),
    ("v2", f"sys/fs/cgroup{V2_CG}/cpu.stat", "cpu.stat"),
])
def test_guest_cpu_time_from_its_cgroup(tmp_path, tree, cgroup, rel, kind):
    """The guest cgroup's counter (the parent of QEMU's `emulator` child): libvirt's cpu.time."""
    fs = guest_tree(tmp_path, tree, cgroup=cgroup, cpu_ns=7_250_123_000)
    acct = process.cpu_account(fs, 4242)
    assert acct == process.CpuAccount(rel, kind)
    assert process.cpu_time_ns(fs, acct) == 7_250_123_000


def test_guest_cpu_time_on_a_hybrid_host(tmp_path, tree):
    """As on the lab (Debian, hybrid): QEMU in v1 cpu and cpuset cgroups but cpuacct at the root
    (libvirt took cpuacct from the unified tree, whose cpu.stat every cgroup has): the unified
    tree's cpu.stat, not the root's cpuacct.usage (the whole host's)."""
    f = tree.guest_files(4242, "web1", {0: (4250, 3, 150)}, {0: 1})
    f["proc/4242/cgroup"] = (f"4:memory:{V1_CG}\n3:cpuset:{V1_CG}/emulator\n2:cpuacct:/\n"
                             f"1:cpu:{V1_CG}/emulator\n0::{V1_CG}/emulator\n")
    f["sys/fs/cgroup/cpuacct/cpuacct.usage"] = "63135554495448\n"
    f[f"sys/fs/cgroup/unified{V1_CG}/cpu.stat"] = "usage_usec 1666558\nuser_usec 1218810\nsystem_usec 447747\n"
    fs = HostFS(tree.write_tree(tmp_path, f))
    acct = process.cpu_account(fs, 4242)
    assert acct.rel == f"sys/fs/cgroup/unified{V1_CG}/cpu.stat"
    assert process.cpu_time_ns(fs, acct) == 1_666_558_000


@pytest.mark.parametrize("cgroup_file", [
    "2:cpu,cpuacct:/\n1:name=systemd:/\n0::/\n",                      # no cgroup of its own
    "0::/system.slice/libvirtd.service\n",                             # in libvirtd's: counts libvirtd too
    f"2:cpu,cpuacct:{V1_CG}/emulator\n",                               # its cgroup, but no file there
])
def test_guest_cpu_time_falls_back_to_the_process(tmp_path, tree, cgroup_file):
    """No counter of the guest's own: the QEMU process's utime + stime (libvirt's fallback too)."""
    f = tree.guest_files(4242, "web1", {0: (4250, 3, 150), 1: (4251, 1, 20)}, {0: 1})
    del f[f"sys/fs/cgroup/cpu,cpuacct{V1_CG}/cpuacct.usage"]
    f["proc/4242/cgroup"] = cgroup_file
    f["sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"] = "63135554495448\n"
    f["sys/fs/cgroup/system.slice/libvirtd.service/cpu.stat"] = "usage_usec 99\n"
    fs = HostFS(tree.write_tree(tmp_path, f))
    acct = process.cpu_account(fs, 4242)
    assert acct == process.CpuAccount("proc/4242/stat", "stat")
    assert process.cpu_time_ns(fs, acct) == (8 + 170 + 6) * TICK_NS


@pytest.mark.parametrize("kind,rel,text", [
    ("cpu.stat", "sys/fs/cgroup/x/cpu.stat", "user_usec 5\n"),
    ("cpuacct.usage", "sys/fs/cgroup/cpuacct/x/cpuacct.usage", "-5\n"),
    ("stat", "proc/4242/stat", "4242 qemu S\n"),
])
def test_malformed_cpu_counter_names_the_file(tmp_path, kind, rel, text):
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text(text)
    with pytest.raises(ParseError, match=re.escape(f"/{rel}: ")):
        process.cpu_time_ns(HostFS(tmp_path), process.CpuAccount(rel, kind))


@pytest.mark.parametrize("cgroup,expected", [
    ("v1", "sys/fs/cgroup/memory/machine/qemu-1-web1.libvirt-qemu"),
    ("v2", "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dweb1.scope/libvirt"),
])
def test_memory_cgroup_and_anon(tmp_path, tree, cgroup, expected):
    fs = guest_tree(tmp_path, tree, cgroup=cgroup)
    d = process.memory_cgroup_dir(fs, 4242)
    assert d == expected
    assert process.anon_per_node_kib(fs, d) == {0: 4000, 1: 12000}


def test_no_memory_cgroup(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    (tmp_path / "proc/4242/cgroup").write_text("3:cpu,cpuacct:/machine\n1:name=systemd:/\n")
    assert process.memory_cgroup_dir(fs, 4242) is None


def test_malformed_numa_stat_names_the_file(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    d = process.memory_cgroup_dir(fs, 4242)
    (tmp_path / d / "memory.numa_stat").write_text("anon=5 N0=x\n")
    with pytest.raises(ParseError, match=r"memory\.numa_stat"):
        process.anon_per_node_kib(fs, d)


def test_numa_maps_hugepages_per_node(tmp_path, tree):
    fs = guest_tree(tmp_path, tree, huge_2m={0: 64, 1: 32})
    assert process.numa_maps(fs, 4242).huge == {2048: {0: 64, 1: 32}}
    fs = guest_tree(tmp_path / "b", tree)
    assert process.numa_maps(fs, 4242).huge == {}


def test_guest_ksm(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    assert process.guest_ksm(fs, 4242) == GuestKsm(5, 20480)
    # older kernels: only ksm_merging_pages
    os.remove(tmp_path / "proc/4242/ksm_stat")
    (tmp_path / "proc/4242/ksm_merging_pages").write_text("7\n")
    assert process.guest_ksm(fs, 4242) == GuestKsm(7, None)
    # no per-process KSM in this kernel
    os.remove(tmp_path / "proc/4242/ksm_merging_pages")
    assert process.guest_ksm(fs, 4242) is None
    with pytest.raises(HostFSError):
        process.guest_ksm(fs, 999)


# -- real QEMU captures --------------------------------------------------------------------

CAPTURES = ["guest1", "guest2", "iogen"]
# captures whose task files were copied after a vCPU thread had moved since `virsh vcpuinfo`
PLACEMENT_MOVED = {"guest2", "iogen"}


def capture_tree(src, root):
    """The capture laid out as a host: proc/PID/..., the v1 memory cgroup, the pid file."""
    status = (src / "status").read_text()
    pid = int(re.search(r"^Pid:\s+(\d+)", status, re.M).group(1))
    xml = (src / "domain.xml").read_text()
    name = re.search(r"<name>([^<]+)</name>", xml).group(1)
    dom_id = re.search(r"<domain [^>]*id='(\d+)'", xml).group(1)
    cg = f"/machine/qemu-{dom_id}-{name}.libvirt-qemu"
    p = root / "proc" / str(pid)
    p.mkdir(parents=True)
    for f in ("status", "numa_maps", "ksm_stat"):
        shutil.copy(src / f, p / f)
    shutil.copytree(src / "task", p / "task")
    (p / "cgroup").write_text(f"10:cpuset:{cg}/emulator\n6:memory:{cg}\n1:name=systemd:/\n")
    (root / f"sys/fs/cgroup/memory{cg}").mkdir(parents=True)
    shutil.copy(src / "cgroup-v1-memory.numa_stat", root / f"sys/fs/cgroup/memory{cg}/memory.numa_stat")
    (root / "run/libvirt/qemu").mkdir(parents=True)
    (root / f"run/libvirt/qemu/{name}.pid").write_text(str(pid))
    return HostFS(root), name, status


def vcpuinfo(text):
    """virsh vcpuinfo -> {vcpu: (cpu, seconds or None)}."""
    out = {}
    for block in text.strip().split("\n\n"):
        kv = dict(re.findall(r"^([^:]+):\s+(.*)$", block, re.M))
        t = kv.get("CPU time")
        out[int(kv["VCPU"])] = (int(kv["CPU"]), float(t.rstrip("s")) if t else None)
    return out


def numastat_huge_mb(text):
    cols = [int(n) for n in re.findall(r"Node (\d+)", text)]
    row = re.search(r"^Huge\s+(.*)$", text, re.M).group(1).split()
    return dict(zip(cols, map(float, row)))


@pytest.mark.parametrize("capture", CAPTURES)
def test_lab_capture(shared_fixtures, tmp_path, capture):
    src = shared_fixtures / "lab-captures" / capture
    fs, name, status = capture_tree(src, tmp_path)
    pid = process.guest_pid(fs, name)
    assert pid is not None
    # memory per node: the cgroup's anon + numa_maps hugepages vs RssAnon + HugetlbPages
    anon = process.anon_per_node_kib(fs, process.memory_cgroup_dir(fs, pid))
    huge = process.numa_maps(fs, pid).huge
    total = sum(anon.values()) + sum(size * n for size, per in huge.items() for n in per.values())
    kib = {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("RssAnon", "HugetlbPages")}
    want = kib["RssAnon"] + kib["HugetlbPages"]
    assert abs(total - want) <= max(2048, want * 0.05), (total, want)
    # hugepages per node vs numastat -p's Huge row (MB)
    huge_mb = {n: sum(size * per.get(n, 0) for size, per in huge.items()) / 1024
               for n in numastat_huge_mb((src / "numastat-p.txt").read_text())}
    assert huge_mb == pytest.approx(numastat_huge_mb((src / "numastat-p.txt").read_text()), abs=0.01)
    # vCPU placement and time vs virsh vcpuinfo
    threads = process.vcpu_threads(fs, pid)
    virsh = vcpuinfo((src / "virsh-vcpuinfo.txt").read_text())
    assert set(threads) == set(virsh)
    # What each thread's stat file says (field 39), split independently of parse.task_stat.
    in_file = {i: int((src / "task" / str(t.tid) / "stat").read_text().rsplit(")", 1)[1].split()[36])
               for i, t in threads.items()}
    assert {i: t.pcpu for i, t in threads.items()} == in_file
    if capture in PLACEMENT_MOVED:
        # virsh read the same field a moment before the task files were copied, and the
        # (sleeping) TCG threads ran on another CPU in between: virsh's CPU differs.
        assert {i: cpu for i, (cpu, _) in virsh.items()} != in_file
        assert all(t.pcpu in (0, 1) for t in threads.values())   # "CPU Affinity: yy"
    else:
        assert {i: t.pcpu for i, t in threads.items()} == {i: cpu for i, (cpu, _) in virsh.items()}
    for i, (_, secs) in virsh.items():
        if secs is not None:   # virsh prints one decimal
            assert threads[i].cpu_time_ns / 1e9 == pytest.approx(secs, abs=0.051)
    assert process.guest_ksm(fs, pid) == GuestKsm(0, 0)


# -- the project's own lab captures (tests/fixtures/capture_lab.py): vCPUs pinned, KSM merged --

OWN_CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lab-captures"
# What virsh vcpuinfo said (before and after the task files were copied, agreeing), and
# ksm_stat. Field 39 is 1 for some vCPU threads and 0 for others, while fields 38 (-1) and
# 40 (0) are not, so reading a neighbouring field fails here.
PINNED = {
    "plain1": ({0: 0, 1: 1}, GuestKsm(113, 454784)),
    "huge": ({0: 1, 1: 1}, GuestKsm(64, 258048)),
    "iogen": ({0: 1}, GuestKsm(7717, 30320896)),
}


@pytest.mark.parametrize("capture", sorted(PINNED))
def test_pinned_ksm_capture(tmp_path, capture):
    src = OWN_CAPTURES / capture
    fs, name, status = capture_tree(src, tmp_path)
    pid = process.guest_pid(fs, name)
    pcpus, ksm = PINNED[capture]
    threads = process.vcpu_threads(fs, pid)
    assert {i: t.pcpu for i, t in threads.items()} == pcpus
    assert {i: cpu for i, (cpu, _) in vcpuinfo((src / "virsh-vcpuinfo.txt").read_text()).items()} == pcpus
    assert process.guest_ksm(fs, pid) == ksm
    assert int((src / "ksm_merging_pages").read_text()) == ksm.merging_pages
    # memory: the cgroup charges a merged page once, so it alone may fall short of RssAnon;
    # with KSM's correction it adds up, and every merged page is KSM-shared on a node
    kib = {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("RssAnon", "HugetlbPages")}
    charged = process.anon_per_node_kib(fs, process.memory_cgroup_dir(fs, pid))
    mapped = process.numa_maps(fs, pid).anon   # what the guest maps, merged pages included
    assert abs(sum(mapped.values()) - kib["RssAnon"]) <= 2048, (mapped, kib)
    where = ksm_memory.elsewhere(mapped, charged)
    memory, shared = ksm_memory.adjust(charged, process.rss_anon_kib(fs, pid), ksm.merging_pages * 4, where)
    want = kib["RssAnon"]
    assert abs(sum(memory.values()) - want) <= max(2048, want * 0.05), (memory, want)
    assert sum(shared.values()) == ksm.merging_pages * 4
    if capture == "iogen":   # ~30 MiB merged: the cgroup alone is 20 MiB short
        assert want - sum(charged.values()) > max(2048, want * 0.05)
    assert sum(size * n for size, per in process.numa_maps(fs, pid).huge.items()
               for n in per.values()) == kib["HugetlbPages"]


def test_guest2_is_hugepage_backed(shared_fixtures, tmp_path):
    fs, name, _ = capture_tree(shared_fixtures / "lab-captures" / "guest2", tmp_path)
    assert process.numa_maps(fs, process.guest_pid(fs, name)).huge == {2048: {0: 64}}


def test_rss_anon_reads_the_one_line(tmp_path, tree):
    fs = guest_tree(tmp_path, tree)
    own = Path("/proc/self/status").read_text()
    (tmp_path / "proc/4242/status").write_text(own)
    assert process.rss_anon_kib(fs, 4242) == parse.status(own)["RssAnon"]
    (tmp_path / "proc/4242/status").write_text("Name:\tqemu\nRssFile:\t9 kB\n")
    with pytest.raises(ParseError, match=r"proc/4242/status: no RssAnon"):
        process.rss_anon_kib(fs, 4242)
    (tmp_path / "proc/4242/status").write_text("RssAnon:\t-3 kB\n")
    with pytest.raises(ParseError, match=r"proc/4242/status"):
        process.rss_anon_kib(fs, 4242)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="RsAnoi:\t\n 0123456789-kBx", max_size=60))
def test_status_field_never_crashes(text):
    try:
        v = parse.status_field(text, "RssAnon")
    except ParseError:
        return
    assert v is None or v >= 0


def test_rss_from_statm_is_what_status_says(tmp_path, tree):
    """statm's resident pages, on this very process's own files read back to back (VmRSS in status
    is the same count in KiB), and the generated guest's."""
    fs = guest_tree(tmp_path, tree)
    own_statm, own_status = Path("/proc/self/statm").read_text(), Path("/proc/self/status").read_text()
    (tmp_path / "proc/4242/statm").write_text(own_statm)
    assert abs(process.rss_kib(fs, 4242) - parse.status(own_status)["VmRSS"]) <= 1024
    for bad in ("", "123\n", "1 x 3\n", "1 -2 3\n"):
        (tmp_path / "proc/4242/statm").write_text(bad)
        with pytest.raises(ParseError, match=r"proc/4242/statm"):
            process.rss_kib(fs, 4242)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -x\n", max_size=40))
def test_statm_never_crashes(text):
    try:
        v = parse.statm_rss_pages(text)
    except ParseError:
        return
    assert v >= 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="numa_hitlocl 0123456789-\n", max_size=80))
def test_numastat_never_crashes(text):
    try:
        v = parse.node_numastat(text)
    except ParseError:
        return
    assert "numa_hit" in v and all(isinstance(x, int) for x in v.values())
