"""The network and block figures against virsh at the same moment: `virsh domifstat` and
`virsh domblkstat` read just before and just after kvmtune's tick bracket kvmtune's counters
(so they agree within one tick), and the rates move the way the traffic goes.

Traffic: the I/O guest's NIC is a tap libvirt made (kvmtap-io, scripts/lab/io.xml); lab.sh up
gives its host side 10.250.15.1/24. Pinging the subnet's broadcast address sends each echo
request into the tap (no ARP first): the guest RECEIVES them (its rx grows; it ignores broadcast
pings, so its tx does not), which also checks that kvmtune turns the tap's host-side counters
into virsh's (the guest's) view. (Pinging an unused address gave only the kernel's ARP probes:
3, then one a second, measured: CI once saw 2 in 3 s.)"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from labkit import IO, guest_pid, virsh, wait_for

from kvmtune.rates import guest_rates, net_key

TAP = "kvmtap-io"
BROADCAST = "10.250.15.255"   # the tap's /24: every ping is a frame into the guest
NET = {"rx_bytes": "rx_bytes", "rx_packets": "rx_packets", "rx_errs": "rx_errs", "rx_drop": "rx_drop",
       "tx_bytes": "tx_bytes", "tx_packets": "tx_packets", "tx_errs": "tx_errs", "tx_drop": "tx_drop"}
BLOCK = {"rd_reqs": "rd_req", "rd_bytes": "rd_bytes", "wr_reqs": "wr_req", "wr_bytes": "wr_bytes",
         "fl_reqs": "flush_operations", "rd_times_ns": "rd_total_times", "wr_times_ns": "wr_total_times",
         "fl_times_ns": "flush_total_times"}


def stat_lines(text: str) -> dict[str, int]:
    """virsh domifstat / domblkstat: "<device> <name> <value>" lines."""
    return {p[1]: int(p[2]) for p in (line.split() for line in text.splitlines()) if len(p) == 3}


@pytest.fixture(scope="module")
def arp_traffic():
    try:
        addr = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", TAP], capture_output=True, text=True,
                              timeout=10).stdout
    except FileNotFoundError:
        pytest.fail("no `ip` here: lab.sh up installs iproute2")
    if "10.250.15.1/" not in addr:
        pytest.fail(f"{TAP} has no 10.250.15.1/24: the lab predates its NIC (scripts/lab.sh down, then up)")
    # (argv, never a shell; stopped by its pid)
    p = subprocess.Popen(["ping", "-b", "-n", "-q", "-i", "0.2", BROADCAST], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    yield p
    p.terminate()
    p.wait(10)


def _nic(snap):
    g = snap.guest(IO)
    assert g is not None
    nics = [n for n in g.nics if n.target == TAP]
    assert nics, f"{IO} has no interface on {TAP}: {g.nics}"
    return nics[0]


def test_interface_counters_equal_virsh_domifstat_within_a_tick(collector, arp_traffic):
    before = stat_lines(virsh("domifstat", IO, TAP))
    nic = _nic(collector.collect())
    after = stat_lines(virsh("domifstat", IO, TAP))
    for ours, theirs in NET.items():
        assert before[theirs] <= getattr(nic, ours) <= after[theirs], (ours, before[theirs], after[theirs])
    # what the XML and QEMU's command line say: virtio, and no vhost-net for a TCG guest
    assert (nic.type, nic.model, nic.queues) == ("ethernet", "virtio", None)
    cmdline = Path(f"/proc/{guest_pid(IO)}/cmdline").read_bytes().decode()
    assert nic.vhost is False and '"vhost":true' not in cmdline and "vhost=on" not in cmdline


def test_arp_requests_into_the_tap_are_what_the_guest_receives(collector, arp_traffic):
    s1 = collector.collect()
    time.sleep(3)
    s2 = collector.collect()
    n1, nic = _nic(s1), _nic(s2)
    r = guest_rates(s1, s2)[IO].nics[net_key(nic, s2.guest(IO).nics.index(nic))]
    # 5 echo requests a second go into the guest (taken by its virtio_net, or dropped at the
    # tap when the guest takes none: then its rx_drop grows instead), and nothing comes back
    got = (nic.rx_packets + nic.rx_drop) - (n1.rx_packets + n1.rx_drop)
    assert got >= 3, f"the guest received {got} packets in 3 s (rx {r.rx_packets_s}/s, drop {r.rx_drop_s}/s)"
    assert (r.tx_packets_s or 0) < (r.rx_packets_s or 0) + (r.rx_drop_s or 0)
    if nic.rx_packets == n1.rx_packets:
        pytest.fail("the guest took none of the packets (all dropped at the tap): its initramfs did not "
                    "bring up virtio_net (scripts/lab/init.sh; lab.sh up rebuilds it)")


def test_block_counters_times_and_flushes_equal_virsh_domblkstat_within_a_tick(collector):
    # the guest may still be booting (first lab-up): wait for its dd loop
    assert wait_for(lambda: stat_lines(virsh("domblkstat", IO, "vda")).get("wr_req", 0) > 0, 60), "no I/O"
    before = stat_lines(virsh("domblkstat", IO, "vda"))
    disk = collector.collect().guest(IO).disks[0]
    after = stat_lines(virsh("domblkstat", IO, "vda"))
    for ours, theirs in BLOCK.items():
        assert before[theirs] <= getattr(disk, ours) <= after[theirs], (ours, before[theirs], after[theirs])
    assert disk.errors is None and "errs" not in after   # QEMU counts no errors in the block group


def test_block_latency_is_the_time_over_the_requests(collector):
    s1 = collector.collect()
    time.sleep(3)
    s2 = collector.collect()
    d1, d2 = s1.guest(IO).disks[0], s2.guest(IO).disks[0]
    r = guest_rates(s1, s2)[IO].disks["vda"]
    assert r.wr_ms is not None and r.rd_ms is not None, "no reads or writes in 3 s"
    assert r.wr_ms == pytest.approx((d2.wr_times_ns - d1.wr_times_ns) / (d2.wr_reqs - d1.wr_reqs) / 1e6)
    assert 0 < r.rd_ms < 10_000 and 0 < r.wr_ms < 10_000
