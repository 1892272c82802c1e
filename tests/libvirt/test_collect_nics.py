"""Guests' interfaces through the real libvirt code path (test driver): libvirt parses and
reports the domain XML (the host device, model, driver, queues, alias), kvmtune reads the
counters of the host device from the host tree's /proc/net/dev, never from libvirt."""

from __future__ import annotations

from pathlib import Path

from kvmtune.collect import Collector
from kvmtune.hostfs import HostFS
from kvmtune.source import Source

HOST = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads><active>8</active><mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>16777216</memory>
  <domain type='test'>
    <name>netguest</name>
    <uuid>8a5c2a6e-0f1b-4bde-9a41-0d1f6cbb0101</uuid>
    <memory unit='KiB'>131072</memory>
    <vcpu placement='static'>2</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <interface type='ethernet'><mac address='52:54:00:12:34:01'/><target dev='kvmtap-t0'/>
        <model type='virtio'/><driver name='vhost' queues='2'/></interface>
      <interface type='user'><mac address='52:54:00:12:34:02'/><model type='e1000'/></interface>
    </devices>
  </domain>
</node>
"""
NET_DEV = ("Inter-|   Receive                                                |  Transmit\n"
           " face |bytes    packets errs drop fifo frame compressed multicast|"
           "bytes    packets errs drop fifo colls carrier compressed\n"
           "kvmtap-t0: 700 7 0 1 0 0 0 0 9000 90 0 0 0 0 0 0\n")


def host_tree() -> dict[str, str]:
    """One node of 8 CPUs (the guest collector needs the online CPUs)."""
    node = "sys/devices/system/node"
    return {"proc/sys/kernel/hostname": "testhost\n", f"{node}/online": "0\n",
            "sys/devices/system/cpu/online": "0-7\n", f"{node}/node0/cpulist": "0-7\n",
            f"{node}/node0/meminfo": "Node 0 MemTotal: 8388608 kB\nNode 0 MemFree: 6291456 kB\n",
            "proc/meminfo": "MemTotal: 8388608 kB\nMemFree: 6291456 kB\n"}


def _source(tmp_path: Path, net_dev: str) -> Source:
    from kvmtune.virt.libvirt_impl import LibvirtHypervisor
    xml = tmp_path / "host.xml"
    xml.write_text(HOST)
    root = tmp_path / "root"
    for rel, text in {**host_tree(), "proc/net/dev": net_dev}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Source(HostFS(root), LibvirtHypervisor(f"test://{xml}"), f"test://{xml}")


def test_interfaces_from_libvirts_xml_and_counters_from_the_host(tmp_path):
    src = _source(tmp_path, NET_DEV)
    try:
        g = Collector(src).collect().guest("netguest")
    finally:
        src.close()
    assert g is not None
    tap, user = g.nics
    assert (tap.type, tap.target, tap.model, tap.queues, tap.mac) == (
        "ethernet", "kvmtap-t0", "virtio", 2, "52:54:00:12:34:01")
    # the tap's host side turned to the guest's (virsh domifstat's) view
    assert (tap.rx_bytes, tap.rx_packets, tap.tx_bytes, tap.tx_packets, tap.tx_drop) == (9000, 90, 700, 7, 1)
    # no QEMU process on the test driver: vhost as the XML asks for it, said so
    assert tap.vhost is True and "XML" in (tap.note or "")
    # (the test driver names a target even for user networking; it is no host device to count)
    assert (user.type, user.model, user.vhost, user.rx_bytes) == ("user", "e1000", False, None)
    assert "no host device" in (user.note or "")


def test_counters_follow_the_host_device_between_ticks(tmp_path):
    src = _source(tmp_path, NET_DEV)
    try:
        c = Collector(src)
        first = c.collect().guest("netguest")
        (Path(src.fs.path("proc/net/dev"))).write_text(NET_DEV.replace("9000 90", "19000 100"))
        second = c.collect().guest("netguest")
    finally:
        src.close()
    assert first is not None and second is not None
    assert (first.nics[0].rx_bytes, second.nics[0].rx_bytes) == (9000, 19000)
