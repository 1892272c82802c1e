"""5.x network: virtio and vhost-net, multiqueue, zero-copy transmit, arp_filter."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Guest
from ..xmlfacts import Nic
from .base import Ctx, finding, nvcpus, xml_fix
from .findings import Finding, Fix

MAX_QUEUES = 8   # the kernel's multiqueue tap limit (5.5.2.1)
# interface types that take <driver queues>: libvirt refuses it on the others (user: slirp)
MULTIQUEUE_TYPES = ("network", "bridge", "direct", "ethernet", "vhostuser")


def _select(nic: Nic, i: int) -> str:
    """virt-xml's --edit selector for this NIC: its MAC, else its position (1-based)."""
    return f"mac={nic.mac}" if nic.mac else str(i + 1)


def _name(nic: Nic, i: int) -> str:
    return f"NIC {nic.mac or i + 1}" + (f" ({nic.source})" if nic.source else "")


def nics(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    if d is None:
        return
    n = nvcpus(g)
    for i, nic in enumerate(d.nics):
        if nic.type == "hostdev":
            continue   # device assignment (5.4): no emulated model at all
        if nic.model != "virtio":
            yield finding("net.model", g.name,
                          f"{_name(nic, i)} is {nic.model or 'the default model'}, emulated",
                          xml_fix(g.name, "<model type='virtio'/>", "--edit", _select(nic, i), "--network",
                                  "model=virtio"), subject=nic.mac or str(i + 1))
        elif nic.driver == "qemu":
            yield finding("net.vhost", g.name,
                          f"{_name(nic, i)}: <driver name='qemu'/> moves packets in QEMU's user space",
                          xml_fix(g.name, "<driver name='vhost'/>", "--edit", _select(nic, i), "--network",
                                  "driver.name=vhost"), subject=nic.mac or str(i + 1))
        elif n >= 2 and (nic.queues or 1) == 1 and nic.type in MULTIQUEUE_TYPES:
            q = min(n, MAX_QUEUES)
            yield finding("net.multiqueue", g.name,
                          f"{_name(nic, i)}: one queue for {n} vCPUs",
                          xml_fix(g.name, f"<driver name='vhost' queues='{q}'/>", "--edit", _select(nic, i),
                                  "--network", f"driver.name=vhost,driver.queues={q}",
                                  note=f"then in the guest: ethtool -L eth0 combined {q}; it can slow "
                                       "outgoing traffic (5.5.2)"), subject=nic.mac or str(i + 1))


GUEST = (nics,)


def zcopytx(ctx: Ctx) -> Iterator[Finding]:
    """5.5.1: zero-copy transmit is off by default; only the non-default, on, is worth a word
    (it turns off a DoS / information-leak mitigation)."""
    if ctx.host.vhost_zcopytx:
        yield finding("net.zcopytx", None,
                      "vhost_net experimental_zcopytx=1: zero-copy transmit is on, which turns off the extra "
                      "copy that mitigates denial-of-service and information-leak attacks",
                      Fix(note="off: options vhost_net experimental_zcopytx=0 in /etc/modprobe.d, reload vhost_net"))


def arp_filter(ctx: Ctx) -> Iterator[Finding]:
    if ctx.host.arp_filter == 0:
        yield finding("net.arp_filter", None,
                      "net.ipv4.conf.all.arp_filter=0: with several interfaces on one subnet the host "
                      "answers ARP on the wrong one",
                      Fix(note="sysctl -w net.ipv4.conf.all.arp_filter=1 (and in /etc/sysctl.d)"))


HOST = (zcopytx, arp_filter)
