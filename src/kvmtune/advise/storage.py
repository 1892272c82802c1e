"""6.x block I/O: cache and I/O modes, virtio-scsi queues, iothreads, throttles against traffic."""

from __future__ import annotations

from collections.abc import Iterator

from .. import analysis
from ..fmt import fmt_rate
from ..model import Guest
from ..vocab import THROTTLE_MAX
from .base import Ctx, action, finding, io_heavy, nvcpus, xml_fix
from .findings import Finding

IDLE_SAMPLES = 150   # a throttle with no traffic over this many samples (5 min at 2 s) is idle


def cache(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    if g.domain is None:
        return   # cache/io come with the XML facts; without them nothing is known
    heavy = io_heavy(ctx, g)
    for d in g.disks:
        sel = f"target={d.target}"
        if d.cache == "unsafe":
            # table 6.1: unsafe ignores the guest's flushes; writeback honours them (a volatile
            # write cache, like a disk's), so only unsafe risks data the guest made durable
            yield finding("storage.cache_unsafe", g.name,
                          f"{d.target} cache=unsafe: the host ignores the guest's flushes, so writes the guest "
                          "made durable can be lost if the host crashes",
                          xml_fix(g.name, "<driver name='qemu' cache='none' io='native'/>", "--edit", sel,
                                  "--disk", "cache=none,io=native"), subject=d.target)
        elif heavy is not None and d.cache not in ("none", "directsync"):
            yield finding("storage.cache", g.name,
                          f"{d.target} cache={d.cache or 'default'} on a guest moving {fmt_rate(heavy)}: the host's "
                          "page cache doubles its caching",
                          xml_fix(g.name, "<driver name='qemu' cache='none' io='native'/>", "--edit", sel,
                                  "--disk", "cache=none,io=native"), subject=d.target)
        elif d.cache == "writeback":
            yield finding("storage.cache_writeback", g.name,
                          f"{d.target} cache=writeback: its writes sit in the host's page cache until the guest "
                          "flushes (safe for a guest that flushes); 6.3 names cache=none generally the best "
                          "option and the only one for migration",
                          xml_fix(g.name, "<driver name='qemu' cache='none' io='native'/>", "--edit", sel,
                                  "--disk", "cache=none,io=native"), subject=d.target)
        if d.cache == "none" and d.io not in ("native", "io_uring"):   # both bypass QEMU's thread pool
            yield finding("storage.io", g.name, f"{d.target} cache=none with io={d.io or 'default (threads)'}",
                          xml_fix(g.name, "<driver name='qemu' cache='none' io='native'/>", "--edit", sel,
                                  "--disk", "io=native"), subject=d.target)


def scsi_queues(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    n = nvcpus(g)
    if d is None or n < 2:
        return
    for c in d.controllers:
        if c.type == "scsi" and c.model == "virtio-scsi" and (c.queues or 1) == 1:
            # a bare index=N would select every controller type with that index
            sel = f"type=scsi,index={c.index}" if c.index is not None else "type=scsi"
            yield finding("storage.scsi_queues", g.name,
                          f"virtio-scsi controller {c.index or 0}: one queue for {n} vCPUs",
                          xml_fix(g.name, f"<controller type='scsi' model='virtio-scsi'>\n  <driver queues='{n}'/>\n"
                                  "</controller>", "--edit", sel, "--controller", f"driver.queues={n}"),
                          subject=f"scsi{c.index or 0}")


def iothreads(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    d = g.domain
    if d is None or len(g.disks) < 2 or d.disk_iothreads:
        return
    heavy = io_heavy(ctx, g)
    if heavy is None:
        return
    k = len(g.disks)
    yield finding("storage.iothreads", g.name,
                  f"{k} disks moving {fmt_rate(heavy)} through QEMU's main loop ({d.iothreads} iothreads, none "
                  "assigned to a disk)",
                  xml_fix(g.name, f"<iothreads>{k}</iothreads>  and per disk: <driver ... iothread='N'/>",
                          "--edit", "--iothreads", str(k),
                          note="then give each disk one: virt-xml GUEST --edit target=vdX --disk driver.iothread=N"))


_FIGURES = {"total_bytes_sec": "total_bytes_s", "read_bytes_sec": "rd_bytes_s", "write_bytes_sec": "wr_bytes_s",
            "total_iops_sec": "total_iops", "read_iops_sec": "rd_iops", "write_iops_sec": "wr_iops"}


def at_limit(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    rate = ctx.rates.get(g.name)
    if rate is None:
        return
    for d in g.disks:
        dr = rate.disks.get(d.target)
        key = analysis.at_limit(d.iotune, dr)
        if key is None or dr is None:
            continue
        limit = d.limit(key)
        now = getattr(dr, _FIGURES[key])
        new = min(THROTTLE_MAX, limit * 2)
        yield finding("storage.at_limit", g.name,
                      f"{d.target} moves {_shown(key, now)} against its {key} {_shown(key, limit)}",
                      action("blkdeviotune", g.name, disk=d.target, values={key: new}, scope="live"),
                      subject=d.target)


def _shown(key: str, v: float | None) -> str:
    return fmt_rate(v) if "bytes" in key else "-" if v is None else f"{v:.0f}/s"


def idle_throttle(ctx: Ctx, g: Guest) -> Iterator[Finding]:
    per = ctx.history.get(g.name) or {}
    for d in g.disks:
        limits = [k for k in _FIGURES if d.limit(k)]
        samples = per.get(d.target, ())
        if not limits or len(samples) < IDLE_SAMPLES:
            continue
        if all((r or 0) == 0 and (w or 0) == 0 for r, w in samples[-IDLE_SAMPLES:]):
            yield finding("storage.idle_throttle", g.name,
                          f"{d.target} throttled ({', '.join(limits)}) with no traffic over the last "
                          f"{IDLE_SAMPLES} samples", subject=d.target)


GUEST = (cache, scsi_queues, iothreads, at_limit, idle_throttle)
