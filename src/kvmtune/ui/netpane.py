"""The 9th detail pane: a guest's network interfaces (the guide's chapter 5).

Per interface: its host device, type and source, the NIC model, vhost-net on or off, its
queues, and its traffic per second in the guest's view (rx: what the guest received, as
`virsh domifstat` says it) — bytes, packets, errors and drops — with the totals since the
guest started. An interface without a host device (user-mode networking) shows what is known
and says why it has no counters. A pure function of a frame, as the other panes (panes.py).
"""

from __future__ import annotations

from .. import fmt
from ..devmodel import NetIf
from ..frame import HISTORY, Frame
from ..model import Guest
from ..rates import NO_NET_RATE, NetRate, net_key
from .markup import escape
from .panes import _warnings  # (the findings' lines, as every pane writes them)

MUTED = "$text-muted"


def vhost_word(n: NetIf) -> str:
    """vhost on / off, and why off where the XML decides it."""
    if n.vhost is None:
        return "vhost ?"
    if n.vhost:
        return "vhost on"
    if n.type in ("user", "vhostuser", "hostdev"):
        return "no vhost"
    if n.model != "virtio":
        return f"vhost off ({n.model or 'default model'}: emulated)"
    return "[$warning]vhost off[/]"


def _rate(v: float | None, packets: bool = False) -> str:
    if v is None:
        return "-"
    return fmt.fmt_count(v) if packets else fmt.fmt_rate(v).removesuffix("/s")


def net_pane(frame: Frame, g: Guest, width: int = 80) -> str:
    rate, history = frame.rates.get(g.name), frame.net_history.get(g.name, {})
    sw = min(HISTORY, width - 64)   # (each side's figures take 57 columns)
    if not g.nics:
        return f"[{MUTED}]{escape(g.name)} has no network interfaces[/]"
    out = [f"[b]{'':<8}{'bytes/s':>9}{'pkts/s':>8}{'errs/s':>7}{'drop/s':>7}{'total':>9}{'packets':>9}[/]"
           f"  [{MUTED}](guest view)[/]"]
    for i, n in enumerate(g.nics):
        r = rate.nics.get(net_key(n, i), NO_NET_RATE) if rate else NO_NET_RATE
        where = " ".join(escape(x) for x in (n.type or "?", n.source or "") if x)
        queues = f"{n.queues} queues" if n.queues and n.queues > 1 else "1 queue"
        out.append(f"[b]{escape(n.target or '-')}[/] {escape(n.model or 'default')}  {where}  {vhost_word(n)}"
                   f"  {queues}  [{MUTED}]{escape(n.mac or '')}[/]")
        if n.rx_bytes is None:
            out.append(f"  [{MUTED}]no counters: {escape(n.note or 'not known')}[/]")
            continue
        hist = history.get(net_key(n, i), ())
        top = max((v for x in hist for v in x if v is not None), default=None)   # rx and tx on one scale
        for j, (side, colour) in enumerate((("rx", "$primary"), ("tx", "$accent"))):
            line = _side(side, r, getattr(n, f"{side}_bytes"), getattr(n, f"{side}_packets"))
            if sw >= 8:   # where the pane is wide enough: the traffic's history
                line += f"  [{colour}]{fmt.sparkline([x[j] for x in hist], sw, top)}[/]"
            out.append(line)
        if n.note:
            out.append(f"  [{MUTED}]{escape(n.note)}[/]")
    out += _warnings(frame, g, {"net."})
    return "\n".join(out)


def _side(side: str, r: NetRate, total: int | None, packets: int | None) -> str:
    get = r.__getattribute__
    errs, drop = get(f"{side}_errs_s"), get(f"{side}_drop_s")
    bad = "$error" if (errs or 0) > 0 or (drop or 0) > 0 else ""
    cells = (f"  {side:<6}{_rate(get(f'{side}_bytes_s')):>9}{_rate(get(f'{side}_packets_s'), True):>8}"
             f"{_rate(errs, True):>7}{_rate(drop, True):>7}")
    if bad:
        cells = f"[{bad}]{cells}[/]"
    return cells + f"{fmt.fmt_bytes(total):>9}{fmt.fmt_count(packets):>9}"
