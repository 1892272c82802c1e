"""Guests' network interfaces: the NIC model, vhost and queues from the domain XML, and the
counters of the host device behind each interface from the kernel, not from libvirtd.

Per tick the host's /proc/net/dev is read once, for every guest (the file libvirt's
`virsh domifstat` reads, so the figures agree with it; one read however many taps). A tap's
counters are the host's side: what the host received is what the guest sent, so rx and tx
are swapped to the guest's view as libvirt does — except for macvtap (type='direct'), where
host and guest are on the same side. Where libvirt's bulk call gave an interface's counters
(a remote URI asks for its interface group: this host's /proc is not that host's), those are
used as they are. vhost-net comes from the QEMU command line (read once per run): what QEMU
was started with, not what the XML asks for.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import parse
from ..devmodel import NetIf
from ..errors import FileMissing, HostFSError, ParseError
from ..hostfs import HostFS
from ..model import Error
from ..virt.interface import NetCounters
from ..xmlfacts import DomainFacts, Nic

NET_DEV = "proc/net/dev"
SAME_VIEW = ("direct",)          # macvtap: the host's rx is the guest's rx (libvirt does not swap)
TAP_TYPES = ("network", "bridge", "ethernet", "direct")   # a tap or macvtap on the host: vhost-net can carry them
NO_DEVICE = {
    "user": "user-mode networking (slirp) runs inside QEMU: no host device to count",
    "vhostuser": "vhost-user: a user-space switch holds the other end (ask it for counters)",
    "hostdev": "an assigned host device: only the guest counts its traffic",
}


class NicReader:
    def __init__(self, fs: HostFS):
        self.fs = fs
        self._dev: dict[str, parse.NetDevCounters] | None = None
        self._dev_error: str | None = None
        self._netdevs: dict[str, tuple[int, dict[str, bool]]] = {}   # guest -> (pid, QEMU's -netdev vhost by id)

    def new_tick(self, names: set[str]) -> None:
        """Forget last tick's counters (and the guests that went)."""
        self._dev, self._dev_error = None, None
        for gone in set(self._netdevs) - names:
            del self._netdevs[gone]

    def _counters(self) -> dict[str, parse.NetDevCounters]:
        if self._dev is None and self._dev_error is None:
            try:
                self._dev = parse.net_dev(self.fs.read_text(NET_DEV))
            except (HostFSError, ParseError) as e:
                self._dev_error = str(e)
        return self._dev or {}

    def _vhost_by_id(self, name: str, pid: int | None) -> dict[str, bool] | None:
        if pid is None:
            return None
        got = self._netdevs.get(name)
        if got is None or got[0] != pid:
            try:
                args = self.fs.read_bytes(f"proc/{pid}/cmdline").decode("utf-8", "replace").split("\0")
            except (FileMissing, HostFSError):
                return None
            got = self._netdevs[name] = (pid, parse.qemu_netdevs(args))
        return got[1]

    def read(self, name: str, facts: DomainFacts | None, running: bool, pid: int | None,
             given: Mapping[str, NetCounters], errors: list[Error]) -> tuple[NetIf, ...]:
        """The guest's interfaces; `given`: counters libvirt's bulk call gave, by device."""
        if facts is None or not facts.nics:
            return ()
        netdevs = self._vhost_by_id(name, pid) if running else None
        out = []
        for nic in facts.nics:
            vhost, how = _vhost(nic, facts, netdevs)
            dev = nic.target
            if not running:
                out.append(_netif(nic, vhost, "not running"))
                continue
            if dev is None or nic.type in NO_DEVICE:
                out.append(_netif(nic, vhost, NO_DEVICE.get(nic.type or "", f"no host device ({nic.type or '?'})")))
                continue
            lv = given.get(dev)
            if lv is not None:
                out.append(_netif(nic, vhost, how, lv))
                continue
            c = self._counters().get(dev)
            if c is None:
                why = (f"{self.fs.show(NET_DEV)}: {self._dev_error}" if self._dev_error
                       else f"{dev} is not in {self.fs.show(NET_DEV)}")
                if self._dev_error:
                    errors.append(Error(f"{name}: interface {dev}", why))
                out.append(_netif(nic, vhost, why))
                continue
            # a tap's tx is what the guest received (macvtap: the same side)
            out.append(_netif(nic, vhost, how, c if nic.type in SAME_VIEW else c[4:] + c[:4]))
        return tuple(out)


def _netif(nic: Nic, vhost: bool | None, note: str | None, c: tuple[int, ...] | None = None) -> NetIf:
    """One NetIf, built in one go (a tick makes one per interface of every guest). `c`: the
    counters in the guest's view, in NET_COUNTERS' order; None: none."""
    if c is None:
        return NetIf(nic.mac, nic.type, nic.source, nic.target, nic.model, vhost, nic.queues, note=note)
    return NetIf(nic.mac, nic.type, nic.source, nic.target, nic.model, vhost, nic.queues,
                 c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], note)


def _vhost(nic: Nic, facts: DomainFacts, netdevs: dict[str, bool] | None) -> tuple[bool | None, str | None]:
    """(vhost on, how that was judged when not from QEMU's command line)."""
    if nic.type not in TAP_TYPES:
        return False, None
    if netdevs is not None and nic.alias and f"host{nic.alias}" in netdevs:
        return netdevs[f"host{nic.alias}"], None
    if nic.model != "virtio" or nic.driver == "qemu":
        return False, None
    if nic.driver == "vhost":
        return True, "vhost as the XML asks (QEMU's command line not read)"
    if facts.virt_type == "qemu":
        return False, None   # libvirt gives a TCG guest vhost-net only when the XML asks for it
    return None, "libvirt's default: vhost where /dev/vhost-net opens"
