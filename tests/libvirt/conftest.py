"""The libvirt test-driver tier: a fresh `test:///<tmp>/host.xml` per test (never test:///default).

The host figures come from a small written sys/ tree that matches what the test driver can
pin to (CPUs 0-7; two nodes of four CPUs), so validation and libvirt agree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kvmtune.hostfs import HostFS
from kvmtune.source import Source

try:
    import libvirt  # noqa: F401
    LIBVIRT_MISSING = None
except ImportError:
    LIBVIRT_MISSING = ("libvirt tier skipped: libvirt-python is not installed (`make setup` installs it: "
                       "pip install -e '.[libvirt]', which builds against libvirt-dev and pkg-config)")


def pytest_runtest_setup(item):
    # one hook for the tier, so `pytest -rs` folds it into one line (and CI fails on it)
    if LIBVIRT_MISSING:
        pytest.skip(LIBVIRT_MISSING)

HOST_XML = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads><active>8</active><mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>16777216</memory>
  <domain type='test'>
    <name>alpha</name>
    <uuid>8a5c2a6e-0f1b-4bde-9a41-0d1f6cbb0001</uuid>
    <memory unit='KiB'>131072</memory>
    <currentMemory unit='KiB'>131072</currentMemory>
    <vcpu placement='static'>2</vcpu>
    <iothreads>2</iothreads>
    <cputune>
      <vcpupin vcpu='0' cpuset='1'/>
      <emulatorpin cpuset='2-3'/>
      <iothreadpin iothread='1' cpuset='2'/>
    </cputune>
    <numatune><memory mode='restrictive' nodeset='0'/></numatune>
    <memtune><hard_limit unit='KiB'>1048576</hard_limit><swap_hard_limit unit='KiB'>2097152</swap_hard_limit></memtune>
    <blkiotune><weight>500</weight><device><path>/dev/sda</path><weight>400</weight></device></blkiotune>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/guest/alpha.qcow2'/>
        <target dev='vda' bus='virtio'/>
        <iotune><total_bytes_sec>1048576</total_bytes_sec><read_iops_sec>100</read_iops_sec><total_bytes_sec_max>8388608</total_bytes_sec_max><read_iops_sec_max>200</read_iops_sec_max></iotune></disk>
      <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/guest/alpha-data.img'/>
        <target dev='vdb' bus='virtio'/></disk>
    </devices>
  </domain>
  <domain type='test'>
    <name>beta</name>
    <uuid>8a5c2a6e-0f1b-4bde-9a41-0d1f6cbb0002</uuid>
    <memory unit='KiB'>262144</memory>
    <vcpu placement='static'>4</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/guest/beta.img'/><target dev='vda' bus='virtio'/></disk>
    </devices>
  </domain>
</node>
"""


def host_tree() -> dict[str, str]:
    """8 CPUs on two nodes (0-3, 4-7), 8 GiB per node, 6 GiB free on each."""
    node = "sys/devices/system/node"
    f = {"proc/sys/kernel/hostname": "testhost\n", f"{node}/online": "0-1\n",
         "sys/devices/system/cpu/online": "0-7\n",
         "proc/meminfo": "MemTotal: 16777216 kB\nMemFree: 12582912 kB\n"}
    for n, cpus in ((0, "0-3"), (1, "4-7")):
        f[f"{node}/node{n}/cpulist"] = cpus + "\n"
        f[f"{node}/node{n}/distance"] = "10 21\n" if n == 0 else "21 10\n"
        f[f"{node}/node{n}/meminfo"] = (f"Node {n} MemTotal: 8388608 kB\nNode {n} MemFree: 6291456 kB\n")
    return f


@pytest.fixture
def source(tmp_path):
    """A Source on the real libvirt-python code path (test driver) plus the written host tree."""
    from kvmtune.virt.libvirt_impl import LibvirtHypervisor
    xml = tmp_path / "host.xml"
    xml.write_text(HOST_XML)
    root = tmp_path / "root"
    for rel, text in host_tree().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    src = Source(HostFS(root), LibvirtHypervisor(f"test://{xml}"), f"test://{xml}")
    yield src
    src.close()


TWO_GUESTS_XML = Path(__file__).parent.parent / "fixtures" / "libvirt" / "two-guests.xml"


@pytest.fixture
def two_guests(tmp_path):
    """`open_live` on the test driver with a copy of tests/fixtures/libvirt/two-guests.xml
    (the host as kvmtune opens it: this machine's sysfs, the guests from the XML)."""
    from kvmtune.source import open_live
    xml = tmp_path / "host.xml"
    shutil.copy(TWO_GUESTS_XML, xml)
    src = open_live(f"test://{xml}")
    yield src
    src.close()
