"""CPU times and the vCPU count: from /proc and the guest's cgroup where the guest has them
here, from libvirt (the test driver's info()) where it has not.

The libvirt test driver's two guests over a generated /proc + cgroup tree (`--root`) that
holds alpha's QEMU process only: beta stands for a guest whose /proc is not on this host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kvmtune.collect import Collector
from kvmtune.source import open_live

HOST_XML = Path(__file__).parent.parent / "fixtures" / "libvirt" / "two-guests.xml"
PID = 4242


@pytest.fixture
def source(tmp_path, tree):
    xml = tmp_path / "host.xml"
    shutil.copy(HOST_XML, xml)
    f = {**tree.host_files(), **tree.guest_files(PID, "alpha", {0: (4250, 3, 150), 1: (4251, 1, 20)}, {0: 10},
                                                  cpu_ns=7_250_000_000)}
    f[f"proc/{PID}/task/4250/schedstat"] = "1503456789 177492022 2563\n"
    src = open_live(f"test://{xml}", root=str(tree.write_tree(tmp_path / "root", f)))
    yield src
    src.close()


def test_cpu_times_come_from_proc_and_the_cgroup(source):
    snap = Collector(source).collect()
    alpha, beta = snap.guest("alpha"), snap.guest("beta")
    assert alpha is not None and beta is not None
    assert alpha.cpu_time_ns == 7_250_000_000            # cpuacct.usage, not info()'s figure
    assert [v.cpu_time_ns for v in alpha.vcpus] == [1503456789, 20 * 10_000_000]   # schedstat; stat ticks
    assert alpha.nvcpus == 2 and [v.tid for v in alpha.vcpus] == [4250, 4251]
    assert [v.state for v in alpha.vcpus] == ["halted", "halted"]   # the threads' stat: S
    # no process here: what libvirt gives (the test driver's info(): its CPU time, its vCPU count;
    # its vcpus(), as virsh vcpuinfo: each vCPU's CPU time, state and current CPU)
    assert beta.state == "running" and beta.nvcpus == 1 and len(beta.vcpus) == 1
    assert beta.vcpus[0].state == "running" and beta.vcpus[0].pcpu == 7 and beta.vcpus[0].tid is None
    assert isinstance(beta.vcpus[0].cpu_time_ns, int) and beta.vcpus[0].cpu_time_ns > 0
    assert isinstance(beta.cpu_time_ns, int) and beta.cpu_time_ns > 0


def test_the_stats_calls_ask_only_for_what_libvirt_alone_knows(source, monkeypatch):
    """The vcpu and cpu-total groups were half of libvirtd's work per tick (measured on the
    lab) for figures kvmtune reads itself: the stats calls (a guest list's chunks) ask for
    state, balloon and block."""
    import libvirt
    asked = []
    real = libvirt.virConnect.domainListGetStats

    def spy(conn, doms, stats=0, flags=0):
        asked.append((stats, flags))
        return real(conn, doms, stats, flags)
    monkeypatch.setattr(libvirt.virConnect, "domainListGetStats", spy)
    Collector(source).collect()
    assert asked == [(libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BALLOON
                      | libvirt.VIR_DOMAIN_STATS_BLOCK, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)]


@pytest.mark.parametrize("uri,cpu_groups", [
    ("qemu:///system", False), ("qemu+unix:///system", False), ("test:///default", False),
    ("qemu+ssh://root@hv2/system", True), ("qemu+tls://hv2.example.org/system", True),
])
def test_a_remote_uri_still_asks_libvirt_for_cpu_times(uri, cpu_groups):
    """A remote host's guests have no /proc here: libvirt alone knows their CPU times."""
    import libvirt
    from kvmtune.virt.libvirt_impl import stats_groups
    cpu = libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    assert bool(stats_groups(uri) & cpu) == cpu_groups
    assert stats_groups(uri) & libvirt.VIR_DOMAIN_STATS_BLOCK
