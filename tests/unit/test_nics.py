"""Guests' network interfaces: /proc/net/dev and QEMU's -netdev parsed, the collector's view of
each interface (counters swapped to the guest's view, vhost, why there are none), the rates,
and the demo host's NICs."""

from __future__ import annotations

import pytest

from kvmtune import parse
from kvmtune.collect.nics import NicReader
from kvmtune.demo import DemoFeed, open_demo
from kvmtune.devmodel import NetIf
from kvmtune.hostfs import HostFS
from kvmtune.model import Error, Guest, Host, Snapshot
from kvmtune.parse import ParseError
from kvmtune.rates import guest_rates, net_key
from kvmtune.virt.interface import NetCounters
from kvmtune.xmlfacts import DomainFacts, Nic

NET_DEV = ("Inter-|   Receive                                                |  Transmit\n"
           " face |bytes    packets errs drop fifo frame compressed multicast|"
           "bytes    packets errs drop fifo colls carrier compressed\n"
           "    lo:  123456     789    0    0    0     0          0         0   "
           "123456     789    0    0    0     0       0          0\n") + """\
 vnet0: 1000 10 1 2 0 0 0 0 5000 50 3 4 0 0 0 0
kvmtap-io:77 7 0 0 0 0 0 0 88 8 0 0 0 0 0 0
macvtap0: 11 1 0 0 0 0 0 0 22 2 0 0 0 0 0 0
"""
# the netdevs as libvirt 9 (JSON) and older libvirt (key=value) write them
CMDLINE = ["/usr/bin/qemu-system-x86_64", "-name", "guest=g1,debug-threads=on",
           "-netdev", '{"type":"tap","fd":"27","vhost":true,"vhostfd":"28","id":"hostnet0"}',
           "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0"}',
           "-netdev", "tap,fd=30,id=hostnet1", "-netdev", "tap,fds=31:32,id=hostnet2,vhost=on,vhostfds=33:34",
           "-netdev", '{"type":"user","id":"hostnet3"}']


def test_net_dev_reads_bytes_packets_errs_drop_of_each_side():
    got = parse.net_dev(NET_DEV)
    assert got["vnet0"] == parse.NetDevCounters(1000, 10, 1, 2, 5000, 50, 3, 4)
    assert got["kvmtap-io"].tx_bytes == 88 and set(got) == {"lo", "vnet0", "kvmtap-io", "macvtap0"}
    with pytest.raises(ParseError, match="vnet9 has 3 fields"):
        parse.net_dev("vnet9: 1 2 3\n")


def test_qemu_netdevs_in_both_spellings():
    assert parse.qemu_netdevs(CMDLINE) == {"hostnet0": True, "hostnet1": False, "hostnet2": True, "hostnet3": False}
    assert parse.qemu_netdevs(["-netdev", "{not json", "-netdev"]) == {}


def _tree(tmp_path, net_dev=NET_DEV):
    (tmp_path / "proc/net").mkdir(parents=True)
    if net_dev is not None:
        (tmp_path / "proc/net/dev").write_text(net_dev)
    (tmp_path / "proc/4242").mkdir()
    (tmp_path / "proc/4242/cmdline").write_bytes("\0".join(CMDLINE).encode() + b"\0")
    return HostFS(tmp_path)


FACTS = DomainFacts(virt_type="kvm", nics=(
    Nic("52:54:00:00:00:01", "bridge", "br0", "virtio", None, 4, "vnet0", "net0"),
    Nic("52:54:00:00:00:02", "ethernet", None, "e1000", None, None, "kvmtap-io", "net1"),
    Nic("52:54:00:00:00:03", "direct", "eth0", "virtio", None, None, "macvtap0", "net2"),
    Nic("52:54:00:00:00:04", "user", None, "virtio", None, None, None, "net3"),
    Nic("52:54:00:00:00:05", "network", "default", "virtio", None, None, "vnet7", "net4"),
))


def test_a_taps_counters_are_turned_to_the_guests_view(tmp_path):
    errors: list[Error] = []
    tap, eth, mvt, user, gone = NicReader(_tree(tmp_path)).read("g1", FACTS, True, 4242, {}, errors)
    # the host sent what the guest received: as virsh domifstat reports a tap
    assert (tap.rx_bytes, tap.rx_packets, tap.rx_errs, tap.rx_drop) == (5000, 50, 3, 4)
    assert (tap.tx_bytes, tap.tx_packets, tap.tx_errs, tap.tx_drop) == (1000, 10, 1, 2)
    assert (eth.rx_bytes, eth.tx_bytes) == (88, 77)
    # macvtap: host and guest on the same side, as libvirt reads it (no swap)
    assert (mvt.rx_bytes, mvt.tx_bytes) == (11, 22)
    assert user.rx_bytes is None and "no host device" in (user.note or "") and user.vhost is False
    assert gone.rx_bytes is None and gone.note == "vnet7 is not in /proc/net/dev" and not errors
    # vhost from QEMU's command line, by the netdev libvirt named after the alias
    assert (tap.vhost, eth.vhost, mvt.vhost) == (True, False, True)
    assert tap.queues == 4 and eth.model == "e1000" and tap.target == "vnet0"


def test_counters_libvirt_gave_are_taken_as_they_are(tmp_path):
    given = {"vnet0": NetCounters(1, 2, 3, 4, 5, 6, 7, 8)}
    tap = NicReader(_tree(tmp_path)).read("g1", FACTS, True, 4242, given, [])[0]
    assert (tap.rx_bytes, tap.tx_drop) == (1, 8)


def test_without_the_command_line_vhost_comes_from_the_xml(tmp_path):
    fs = _tree(tmp_path)
    nics = (Nic(type="bridge", model="virtio", driver="vhost", target="vnet0"),
            Nic(type="bridge", model="virtio", driver="qemu", target="vnet0"),
            Nic(type="bridge", model="virtio", target="vnet0"))
    on, off, default = NicReader(fs).read("g1", DomainFacts(virt_type="kvm", nics=nics), True, None, {}, [])
    assert (on.vhost, off.vhost, default.vhost) == (True, False, None)
    assert "libvirt's default" in (default.note or "")
    # libvirt gives a TCG guest vhost-net only when the XML asks for it
    tcg = NicReader(fs).read("g1", DomainFacts(virt_type="qemu", nics=nics[2:]), True, None, {}, [])[0]
    assert tcg.vhost is False


def test_an_unreadable_net_dev_is_one_error_per_interface_and_a_note(tmp_path):
    errors: list[Error] = []
    nics = NicReader(_tree(tmp_path, net_dev=None)).read("g1", FACTS, True, 4242, {}, errors)
    assert nics[0].rx_bytes is None and "proc/net/dev" in (nics[0].note or "")
    assert [e.source for e in errors] == ["g1: interface vnet0", "g1: interface kvmtap-io",
                                          "g1: interface macvtap0", "g1: interface vnet7"]


def test_a_shut_off_guest_shows_its_nics_without_counters(tmp_path):
    nics = NicReader(_tree(tmp_path)).read("g1", FACTS, False, None, {}, [])
    assert len(nics) == 5 and all(n.rx_bytes is None and n.note == "not running" for n in nics)


def _guest(nics, pid=1):
    return Guest("g", "u", 1, "running", pid, 1024, nics=nics)


def test_rates_per_interface_and_none_across_a_restart_or_a_new_device():
    a = NetIf(mac="m", target="vnet0", rx_bytes=1000, rx_packets=10, rx_errs=0, rx_drop=0,
              tx_bytes=0, tx_packets=0, tx_errs=0, tx_drop=0)
    b = NetIf(mac="m", target="vnet0", rx_bytes=3000, rx_packets=30, rx_errs=0, rx_drop=4,
              tx_bytes=500, tx_packets=5, tx_errs=0, tx_drop=0)
    s0 = Snapshot(10.0, Host("h"), (_guest((a,)),))
    s1 = Snapshot(12.0, s0.host, (_guest((b,)),))
    r = guest_rates(s0, s1)["g"].nics[net_key(b, 0)]
    assert (r.rx_bytes_s, r.rx_packets_s, r.rx_drop_s, r.tx_bytes_s) == (1000.0, 10.0, 2.0, 250.0)
    assert guest_rates(s0, s1)["g"].net_total("rx_bytes_s") == 1000.0
    restarted = Snapshot(12.0, s0.host, (_guest((b,), pid=2),))
    assert guest_rates(s0, restarted)["g"].nics["m"].rx_bytes_s is None
    moved = Snapshot(12.0, s0.host, (_guest((NetIf(**{**b.__dict__, "target": "vnet5"}),)),))
    assert guest_rates(s0, moved)["g"].nics["m"].rx_bytes_s is None


@pytest.fixture
def demo():
    src = open_demo(seed=1)
    yield src
    src.close()


def test_the_demo_guests_nics_carry_traffic(demo):
    feed = DemoFeed(demo)
    a, b = feed.next(), feed.next()
    rates = guest_rates(a, b)
    assert not [e for e in b.errors if "interface" in e.source]
    for g in b.guests:
        assert g.nics, g.name
        for i, n in enumerate(g.nics):
            r = rates[g.name].nics[net_key(n, i)]
            if not g.running:
                assert n.rx_bytes is None and n.note == "not running"
            elif n.type == "user":
                assert n.target is None and n.rx_bytes is None and r.rx_bytes_s is None
            else:
                assert n.target and n.target.startswith("vnet")
                assert r.rx_bytes_s and r.rx_bytes_s > 0 and r.tx_bytes_s and r.tx_bytes_s > 0, (g.name, n)
    nics = {g.name: g.nics for g in b.guests}
    # vhost as QEMU was started: virtio on this KVM host but where <driver name='qemu'/> says not
    assert nics["db-primary"][0].vhost is True and nics["web-02"][0].vhost is False
    assert nics["web-01"][0].vhost is False and nics["web-01"][0].model == "e1000"
    assert nics["db-primary"][0].queues == 8 and nics["dns-01"][1].type == "user"
    # backup-01 receives its backups: its rx is the big side (the tap's tx on the host)
    r = rates["backup-01"].nics[net_key(nics["backup-01"][0], 0)]
    assert r.rx_bytes_s and r.tx_bytes_s and r.rx_bytes_s > 20 * r.tx_bytes_s
    # the emulated e1000 drops a few of what it receives
    assert (nics["web-01"][0].rx_drop or 0) > 0


def test_the_demo_tree_counts_a_tap_from_the_hosts_side(demo):
    g = DemoFeed(demo).next().guest("backup-01")
    assert g is not None
    n = g.nics[0]
    host = parse.net_dev(demo.fs.read_text("proc/net/dev"))[n.target or ""]
    assert (host.tx_bytes, host.rx_bytes) == (n.rx_bytes, n.tx_bytes)


def test_the_exporter_gives_each_interfaces_counters_by_host_device(demo):
    from kvmtune.export.families import families
    from kvmtune.frame import Framer
    snap = DemoFeed(demo).next()
    got = {fam.name: dict(samples) for fam, samples in families(Framer().push(snap))}
    n = snap.guest("backup-01").nics[0]
    labels = (("guest", "backup-01"), ("interface", n.target))
    assert got["kvmtune_guest_net_receive_bytes"][labels] == n.rx_bytes
    assert got["kvmtune_guest_net_transmit_drops"][labels] == n.tx_drop
    # the user-mode NIC has no host device: no sample, rather than a zero
    dns = [lab for lab in got["kvmtune_guest_net_receive_bytes"] if lab[0] == ("guest", "dns-01")]
    assert dns == [(("guest", "dns-01"), ("interface", snap.guest("dns-01").nics[0].target))]
    d = snap.guest("backup-01").disks[1]
    assert got["kvmtune_guest_disk_write_time_seconds"][(("guest", "backup-01"), ("disk", "vdb"))] == \
        d.wr_times_ns / 1e9
