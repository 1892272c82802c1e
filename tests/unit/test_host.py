"""collect_host on the project's own trees, on broken trees, and on real hosts' dumps."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from kvmtune import cpuset
from kvmtune.collect.host import collect_host
from kvmtune.hostfs import HostFS
from kvmtune.model import HugePool, Ksm, NodeHugePool

TICK = os.sysconf("SC_CLK_TCK")


def collect(root):
    errors = []
    return collect_host(HostFS(root), errors), errors


def test_own_tree_every_field(tmp_path, tree):
    host, errors = collect(tree.write_tree(tmp_path, tree.host_files()))
    assert errors == []
    assert host.hostname == "hv1"
    assert [n.id for n in host.nodes] == [0, 2]            # a gap in the ids
    n0, n2 = host.nodes
    assert n0.cpus == (0, 1, 2, 3) and n2.cpus == ()        # node 2: memory, no CPUs
    assert (n0.mem_total_kib, n0.mem_free_kib, n0.distances) == (8388608, 4194304, (10, 20))
    assert (n2.mem_total_kib, n2.mem_free_kib, n2.distances) == (4194304, 1048576, (20, 10))
    assert n0.hugepages == {2048: NodeHugePool(64, 32, 1), 1048576: NodeHugePool(0, 0, 0)}
    assert n2.hugepages == {2048: NodeHugePool(0, 0, 0), 1048576: NodeHugePool(1, 1, 0)}
    assert n0.numastat == {"numa_hit": 9000, "numa_miss": 0, "numa_foreign": 120, "interleave_hit": 40,
                           "local_node": 8990, "other_node": 10}
    assert n2.numastat is not None and n2.numastat["other_node"] == 820
    assert host.hugepages == {2048: HugePool(64, 32, 4, 1), 1048576: HugePool(1, 1, 0, 0)}
    assert host.ksm == Ksm(**tree.KSM)
    assert (host.thp_enabled, host.thp_defrag) == ("madvise", "madvise")
    assert (host.numa_balancing, host.tuned_profile) == (1, "virtual-host")
    assert (host.tuned_running, host.numad_running, host.arp_filter, host.vhost_zcopytx) == (True, False, 1, 0)
    assert (host.mem_total_kib, host.mem_free_kib) == (12582912, 5242880)
    assert (host.uptime_s, host.loadavg) == (3659025.41, (2.05, 1.5, 0.75))
    assert [(c.id, c.node, c.socket, c.core) for c in host.cpus] == [
        (0, 0, 0, 0), (1, 0, 0, 0), (2, 0, 0, 1), (3, 0, 0, 1)]
    # busy = everything but idle and iowait; guest time is inside user already
    for c in host.cpus:
        u, ni, sy, idle, io, irq, sirq, steal, _, _ = tree.STAT[c.id]
        total = u + ni + sy + idle + io + irq + sirq + steal
        assert c.total_s == pytest.approx(total / TICK)
        assert c.busy_s == pytest.approx((total - idle - io) / TICK)
    assert host.cpus[3].busy_s == 0 and host.cpus[2].busy_s > host.cpus[0].busy_s


def test_without_optional_files(tmp_path, tree):
    """No online file (node dirs listed), no tuned, old KSM, no hugetlb: no errors, Nones."""
    f = tree.host_files()
    for k in ("sys/devices/system/node/online", "etc/tuned/active_profile",
              "sys/kernel/mm/ksm/general_profit", "sys/kernel/mm/ksm/pages_scanned",
              "sys/kernel/mm/ksm/merge_across_nodes", "proc/sys/net/ipv4/conf/all/arp_filter",
              "sys/module/vhost_net/parameters/experimental_zcopytx", "proc/uptime", "proc/loadavg",
              "sys/devices/system/node/node0/numastat", "sys/devices/system/node/node2/numastat"):
        del f[k]
    f = {k: v for k, v in f.items() if "hugepages/" not in k}
    host, errors = collect(tree.write_tree(tmp_path, f))
    assert errors == []
    assert [n.id for n in host.nodes] == [0, 2]
    assert host.tuned_profile is None
    assert (host.arp_filter, host.vhost_zcopytx) == (None, None)   # vhost_net not loaded: a normal state
    assert (host.uptime_s, host.loadavg) == (None, None)           # a captured sys+proc tree
    assert [n.numastat for n in host.nodes] == [None, None]         # a kernel without the counters
    assert (host.ksm.general_profit, host.ksm.pages_scanned, host.ksm.merge_across_nodes) == (None, None, None)
    assert host.ksm.pages_sharing == 250
    # sysfs pools gone: the default-size pool still comes from proc/meminfo
    assert host.hugepages == {2048: HugePool(64, 32, 4, 1)}
    assert all(n.hugepages == {} for n in host.nodes)


# (file, how it breaks, error source, check on the host that comes back)
BROKEN = [
    ("proc/sys/kernel/hostname", "missing", "host.hostname", lambda h: h.hostname == "unknown"),
    ("sys/devices/system/node/online", "garbage", "host.nodes", lambda h: h.nodes == ()),
    ("sys/devices/system/node/node2/meminfo", "missing", "host.nodes", lambda h: [n.id for n in h.nodes] == [0]),
    ("sys/devices/system/node/node0/cpulist", "garbage", "host.nodes", lambda h: [n.id for n in h.nodes] == [2]),
    ("sys/devices/system/node/node0/meminfo", "garbage", "host.nodes", lambda h: [n.id for n in h.nodes] == [2]),
    ("sys/devices/system/node/node0/distance", "garbage", "host.nodes",
     lambda h: h.nodes[0].distances is None and h.nodes[0].cpus == (0, 1, 2, 3)),
    ("sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "garbage", "host.hugepages",
     lambda h: set(h.nodes[0].hugepages) == {1048576}),
    ("sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages", "directory", "host.hugepages",
     lambda h: set(h.hugepages) == {1048576}),
    ("sys/kernel/mm/ksm/pages_sharing", "garbage", "host.ksm", lambda h: h.ksm is None),
    ("sys/kernel/mm/ksm/run", "missing", "host.ksm", lambda h: h.ksm is None),
    ("sys/kernel/mm/transparent_hugepage/enabled", "garbage", "host.thp",
     lambda h: h.thp_enabled is None and h.thp_defrag == "madvise"),
    ("proc/sys/kernel/numa_balancing", "empty", "host.numa_balancing", lambda h: h.numa_balancing is None),
    ("etc/tuned/active_profile", "directory", "host.tuned", lambda h: h.tuned_profile is None),
    ("run/tuned/tuned.pid", "garbage", "host.tuned",
     lambda h: h.tuned_running is None and h.tuned_profile == "virtual-host"),
    ("run/numad.pid", "directory", "host.numad", lambda h: h.numad_running is None and h.tuned_running),
    ("proc/sys/net/ipv4/conf/all/arp_filter", "garbage", "host.net",
     lambda h: h.arp_filter is None and h.vhost_zcopytx == 0),
    ("sys/module/vhost_net/parameters/experimental_zcopytx", "empty", "host.net",
     lambda h: h.vhost_zcopytx is None and h.arp_filter == 1),
    ("sys/devices/system/cpu/online", "missing", "host.cpus", lambda h: h.cpus == ()),
    ("proc/stat", "garbage", "host.cpus", lambda h: len(h.cpus) == 4 and h.cpus[0].busy_s is None),
    ("sys/devices/system/cpu/cpu1/topology/core_id", "garbage", "host.cpus",
     lambda h: h.cpus[1].core is None and h.cpus[2].core == 1),
    ("proc/meminfo", "garbage", "host.meminfo", lambda h: h.mem_total_kib is None and h.nodes),
    ("proc/uptime", "garbage", "host.uptime", lambda h: h.uptime_s is None and h.loadavg is not None),
    ("proc/loadavg", "empty", "host.loadavg", lambda h: h.loadavg is None and h.uptime_s is not None),
    # the node still comes back, without its counters
    ("sys/devices/system/node/node2/numastat", "garbage", "host.nodes",
     lambda h: h.nodes[1].numastat is None and h.nodes[1].distances == (20, 10) and h.nodes[0].numastat),
]


@pytest.mark.parametrize("rel,how,source,check", BROKEN, ids=[f"{b[0]}:{b[1]}" for b in BROKEN])
def test_broken_file_gives_one_error_not_an_exception(tmp_path, tree, rel, how, source, check):
    f = tree.host_files()
    if how == "missing":
        del f[rel]
    else:
        f[rel] = {"garbage": "x]y[ -9 ,,\0\n", "empty": "", "directory": None}[how]
    host, errors = collect(tree.write_tree(tmp_path, f))
    assert check(host)
    assert [e.source for e in errors] == [source]
    assert "/" + rel in errors[0].message and "\n" not in errors[0].message
    # everything else still came back
    if source != "host.ksm":
        assert host.ksm is not None
    if source != "host.tuned":
        assert host.tuned_profile == "virtual-host"


# (files changed from the own tree, tuned_running, numad_running)
DAEMONS = {
    "tuned and numad run": ({"run/numad.pid": "902", "proc/902/comm": "numad\n"}, True, True),
    "stale pid files": ({"proc/871/comm": "DEL", "run/numad.pid": "902\n"}, False, False),
    "pid reused by another process": ({"proc/871/comm": "bash\n", "proc/871/cmdline": "-bash\0"}, False, False),
    "tuned through its interpreter": ({"proc/871/comm": "python3\n",
                                       "proc/871/cmdline": "/usr/bin/python3\0-Es\0/usr/sbin/tuned\0-l\0"},
                                      True, False),
    "pid 0": ({"run/tuned/tuned.pid": "0\n"}, False, False),
    "a captured tree without run/": ({"run/tuned/tuned.pid": "DEL"}, None, None),
}


@pytest.mark.parametrize("change,tuned,numad", DAEMONS.values(), ids=DAEMONS)
def test_daemons_from_their_pid_files(tmp_path, tree, change, tuned, numad):
    f = tree.host_files()
    for rel, text in change.items():
        if text == "DEL":
            del f[rel]
        else:
            f[rel] = text
    host, errors = collect(tree.write_tree(tmp_path, f))
    assert errors == []
    assert (host.tuned_running, host.numad_running) == (tuned, numad)


def test_daemons_read_no_proc_walk(tmp_path, tree, monkeypatch):
    """Per tick the daemons cost their pid files and the named process's comm: never a listing of /proc."""
    root = tree.write_tree(tmp_path, tree.host_files())
    listed = []
    real = HostFS.listdir
    monkeypatch.setattr(HostFS, "listdir", lambda self, rel, *a: listed.append(rel) or real(self, rel, *a))
    collect(root)
    assert "proc" not in listed and not any(r.startswith("proc/") for r in listed)


def test_nothing_there_at_all(tmp_path):
    host, errors = collect(tmp_path)
    assert host.nodes == () and host.cpus == () and host.ksm is None and host.hugepages == {}
    assert {e.source for e in errors} >= {"host.nodes", "host.ksm", "host.cpus", "host.meminfo"}


def test_permission_denied(tree):
    """Real EACCES. Root reads a chmod 000 file, so as root a forked child drops to `nobody`."""
    root = Path(tempfile.mkdtemp(prefix="kvmtune-perm-"))   # not under pytest's 0700 base
    try:
        _permission_denied(tree, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _permission_denied(tree, tmp_path):
    tree.write_tree(tmp_path, tree.host_files())
    for d, _, files in os.walk(tmp_path):
        os.chmod(d, 0o755)
        for name in files:
            os.chmod(os.path.join(d, name), 0o644)
    (tmp_path / "sys/kernel/mm/ksm/pages_shared").chmod(0)
    (tmp_path / "sys/devices/system/node/node2").chmod(0)
    fs = HostFS(tmp_path)
    if os.geteuid() != 0:
        errors = []
        host = collect_host(fs, errors)
    else:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:   # child: drop privileges, collect, report through the pipe
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                errs = []
                h = collect_host(fs, errs)
                os.write(w, pickle.dumps((h, errs)))
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        host, errors = pickle.loads(data)
    assert host.ksm is None and [n.id for n in host.nodes] == [0]
    assert host.hugepages and host.cpus and host.thp_enabled == "madvise"
    msgs = {e.source: e.message for e in errors}
    assert set(msgs) == {"host.ksm", "host.nodes"}
    assert msgs["host.ksm"] == "/sys/kernel/mm/ksm/pages_shared: permission denied (run as root to read it)"
    assert "/sys/devices/system/node/node2/" in msgs["host.nodes"] and "permission denied" in msgs["host.nodes"]


# -- real data ------------------------------------------------------------------------------

def test_node_exporter_3node(shared_fixtures, tmp_path):
    src = shared_fixtures / "node-exporter-3node"
    shutil.copytree(src, tmp_path / "t")
    host, errors = collect(tmp_path / "t")
    assert [n.id for n in host.nodes] == [0, 1, 2]
    assert [n.cpus for n in host.nodes] == [(0, 1), (2, 3), ()]
    for n in host.nodes:
        text = (src / f"sys/devices/system/node/node{n.id}/meminfo").read_text()
        assert n.mem_total_kib == int(re.search(r"MemTotal:\s+(\d+) kB", text).group(1))
        assert n.mem_free_kib == int(re.search(r"MemFree:\s+(\d+) kB", text).group(1))
    assert host.nodes[0].mem_total_kib == 134182340
    # the capture has no distance files: that is said, and the nodes still come back
    assert {e.message for e in errors if e.source == "host.nodes"} == {
        f"/sys/devices/system/node/node{i}/distance: not found" for i in range(3)}
    assert all(n.distances is None for n in host.nodes)


@pytest.mark.parametrize("capture", ["node-exporter-3node", "qemu-2node-cgroup-v2"])
def test_numastat_of_real_kernels(shared_fixtures, tmp_path, capture):
    """Each node's numastat exactly as the kernel wrote it, every counter numastat(8) shows."""
    from kvmtune.vocab import NUMASTAT_KEYS
    src = shared_fixtures / capture
    shutil.copytree(src, tmp_path / "t")
    host, _ = collect(tmp_path / "t")
    assert host.nodes
    for n in host.nodes:
        text = (src / f"sys/devices/system/node/node{n.id}/numastat").read_text()
        want = {k: int(v) for k, v in (line.split() for line in text.splitlines())}
        assert n.numastat == want and set(NUMASTAT_KEYS) <= set(want)
    if capture == "node-exporter-3node":
        assert host.nodes[0].numastat["numa_hit"] == 193460335812


def test_numastat_of_this_host_agrees_with_numastat_8():
    """This machine's /sys, against what numactl's numastat prints for it, read in between two
    reads of kvmtune's (the counters only grow): each counter of each node lies between them."""
    if not Path("/sys/devices/system/node/node0/numastat").is_file():
        pytest.skip("this kernel has no /sys/devices/system/node/node0/numastat")
    tool = shutil.which("numastat")
    if tool is None:
        pytest.skip("numastat (package numactl) is not installed")
    from kvmtune.vocab import NUMASTAT_KEYS
    before, _ = collect("/")
    out = subprocess.run([tool], capture_output=True, text=True, check=True, timeout=30).stdout
    after, _ = collect("/")
    lines = out.splitlines()
    ids = [int(w.removeprefix("node")) for w in lines[0].split()]
    shown = {key: dict(zip(ids, map(int, rest), strict=True))
             for key, *rest in (line.split() for line in lines[1:])}
    assert set(shown) == set(NUMASTAT_KEYS) and ids == [n.id for n in after.nodes]
    for b, a in zip(before.nodes, after.nodes, strict=True):
        for key in NUMASTAT_KEYS:
            assert b.numastat[key] <= shown[key][a.id] <= a.numastat[key], (key, a.id)
    # and the rate of a counter that moves is what the two reads say, per second
    from kvmtune.model import Snapshot
    from kvmtune.rates import numastat_rates
    r = numastat_rates(Snapshot(time=0.0, host=before), Snapshot(time=2.0, host=after))
    n0 = after.nodes[0].id
    assert r[n0]["numa_hit"] == (after.nodes[0].numastat["numa_hit"] - before.nodes[0].numastat["numa_hit"]) / 2


def test_ksm_fixture(shared_fixtures, tmp_path):
    shutil.copytree(shared_fixtures / "ksm", tmp_path / "sys/kernel/mm/ksm")
    host, errors = collect(tmp_path)
    assert host.ksm == Ksm(run=1, pages_shared=1, pages_sharing=255, pages_unshared=0, pages_volatile=0,
                           full_scans=323, merge_across_nodes=1, pages_to_scan=100, sleep_millisecs=20,
                           general_profit=1044480, pages_scanned=None)
    assert not [e for e in errors if e.source == "host.ksm"]


REAL_HOSTS = ["16amd64-4n4c-cgroup-distance-merge", "16amd64-8n2c", "32intel64-2p8co2t+8ve",
              "40intel64-4n10c+pci-conflicts", "64amd64-4s2n4ca2co"]


def lstopo_size(kib: int) -> str:
    """A size the way lstopo prints it: the largest unit that keeps the value >= 10, rounded."""
    b = kib * 1024
    for shift, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if b >= 10 << shift or unit == "KiB":
            return f"{(b + (1 << (shift - 1))) >> shift}{unit}"


def console_numa(text: str) -> dict[int, tuple[str, tuple[int, ...]]]:
    """NUMANode P# -> (local= size, P# of the PUs that share its parent) from an lstopo console."""
    lines = [ln for ln in text.splitlines() if re.match(r"^\s*\w+ L#\d+", ln)]
    indent = [len(ln) - len(ln.lstrip()) for ln in lines]
    out = {}
    for i, ln in enumerate(lines):
        m = re.match(r"\s*NUMANode L#\d+ \(P#(\d+) local=(\S+)", ln)
        if not m:
            continue
        parent = max(j for j in range(i) if indent[j] < indent[i])
        pus = []
        for j in range(parent + 1, len(lines)):
            if indent[j] <= indent[parent]:
                break
            if (pu := re.match(r"\s*PU L#\d+ \(P#(\d+)\)", lines[j])):
                pus.append(int(pu.group(1)))
        out[int(m.group(1))] = (m.group(2), tuple(sorted(pus)))
    return out


@pytest.mark.parametrize("name", REAL_HOSTS)
def test_real_host_matches_lstopo(shared_fixtures, tmp_path, name):
    with tarfile.open(shared_fixtures / "real-hosts" / f"{name}.tar.bz2") as t:
        t.extractall(tmp_path, filter="data")
    root = tmp_path / name
    host, errors = collect(root)
    assert not [e for e in errors if e.source in ("host.nodes", "host.hugepages", "host.cpus")], errors
    expected = console_numa((shared_fixtures / "real-hosts" / f"{name}.console").read_text())
    # hwloc shows what the gathering process's cpuset cgroup allowed; apply the same restriction
    cpus_allowed, mems_allowed = set(host.cpu_ids), {n.id for n in host.nodes}
    cg = None
    if (root / "proc/self/cpuset").exists():
        cg = root / "dev/cpuset" / (root / "proc/self/cpuset").read_text().strip().lstrip("/")
    if cg is not None and (cg / "cpus").exists():
        cpus_allowed = set(cpuset.parse((cg / "cpus").read_text()))
        mems_allowed = set(cpuset.parse((cg / "mems").read_text()))
    if "cgroup" in name:   # this dump was taken inside a cpuset: nodes 2-3, CPUs 0-3
        assert (mems_allowed, cpus_allowed) == ({2, 3}, {0, 1, 2, 3})
    got = {n.id: (lstopo_size(n.mem_total_kib), tuple(c for c in n.cpus if c in cpus_allowed))
           for n in host.nodes if n.id in mems_allowed}
    assert got == expected
    # every online CPU is somewhere, once
    assert sorted(c for n in host.nodes for c in n.cpus) == list(host.cpu_ids)
    # hugepage pools: what the tree's files hold, per node and globally
    for n in host.nodes:
        want = {}
        for d in sorted((root / f"sys/devices/system/node/node{n.id}").glob("hugepages/hugepages-*kB")):
            size = int(re.search(r"(\d+)kB$", d.name).group(1))
            want[size] = NodeHugePool(*(int((d / f).read_text().strip("\0\n"))
                                        for f in ("nr_hugepages", "free_hugepages", "surplus_hugepages")))
        assert dict(n.hugepages) == want
        meminfo = (root / f"sys/devices/system/node/node{n.id}/meminfo").read_text()
        if (m := re.search(r"HugePages_Total:\s+(\d+)", meminfo)) and 2048 in n.hugepages:
            assert n.hugepages[2048].total == int(m.group(1))
    meminfo = root / "proc/meminfo"
    if meminfo.exists():
        total = int(re.search(r"HugePages_Total:\s+(\d+)", meminfo.read_text()).group(1))
        assert host.hugepages[2048].total == total
        assert sum(n.hugepages.get(2048, NodeHugePool(0, 0, 0)).total for n in host.nodes) == total


def test_real_host_hugepages_seen(shared_fixtures, tmp_path):
    """The two dumps with hugepages: the figures a user would see for them."""
    for name, per_node, nodes in (("32intel64-2p8co2t+8ve", 2048, 2), ("16amd64-4n4c-cgroup-distance-merge", 512, 4)):
        with tarfile.open(shared_fixtures / "real-hosts" / f"{name}.tar.bz2") as t:
            t.extractall(tmp_path, filter="data")
        host, _ = collect(tmp_path / name)
        assert [n.hugepages[2048].total for n in host.nodes] == [per_node] * nodes
        assert host.hugepages[2048] == HugePool(per_node * nodes, per_node * nodes, 0, 0)
