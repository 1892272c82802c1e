"""A tick's stats from libvirt: every guest's state, memory and block counters, within a deadline.

The stats call (`virDomainListGetStats`, NOWAIT) is split into a few calls made in
parallel on the one connection: each guest's block counters are a QEMU monitor query,
made one guest after another inside a call, so parallel calls overlap those waits
(libvirtd serves up to 5 requests of a client at once). Measured on the scale lab (55 TCG
guests, 2 CPUs): one bulk call 340–490 ms of wall, four parallel calls 160–340 ms.

A stalled guest (measured on libvirt 9.0 / QEMU 7.2):
- QEMU stopped (SIGSTOP, or blocked on storage): a call that reaches it takes the guest's
  job and waits for the monitor's reply without end, and so does the whole call. A later
  NOWAIT call finds the job held and skips the guest's monitor queries: it returns the
  guest's state and balloon.current, with no block counters and no balloon.rss.
- a long job (`virsh dump`, a snapshot, a migration) holds an async job; QEMU's monitor
  stays free, so NOWAIT calls read the guest in full (the lab's dumps: no stall at all).
- libvirtd itself blocked while holding the guest's lock (seen: `virsh dump` to a FIFO
  nobody reads blocks in open()): every call that touches the guest waits, even the listing.
So each parallel call has a deadline; a call that misses it is asked again guest by guest
(one more deadline), which finds the stalled guest(s) and returns everybody else. A guest
whose figures could not be read fresh this tick is handed out *stale*, with why.
A guest NOWAIT skipped is asked again after a pause (twice at most): another client's query (an
exporter's, virsh's) holds the job for a few ms, and a one-shot snapshot has no earlier tick.

The balloon group is asked for at the settings cadence (each guest every 15-30 s, spread; at
once when it starts, restarts or its balloon moves: BALLOON_CHANGE), not every tick: beside
the size libvirt knows, it is a second QEMU monitor query per guest (the memory stats), and its
RSS is read from /proc here anyway. Between reads a guest's record carries the last values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

try:
    import libvirt
except ImportError:  # reported by LibvirtHypervisor()
    libvirt = None

from ..errors import Disconnected, GuestGone, Stalled, VirtError
from ..vocab import VCPU_STATE_BY_CODE
from .deadline import Deadlines
from .interface import BlockCounters, GuestStats, NetCounters, spread

CHUNKS = 4        # parallel stats calls at most: libvirtd serves 5 requests per client at once
PER_CHUNK = 12    # guests per call at least: each call costs ~0.6 ms of CPU here, a few guests gain no wall
LIST_KEY, RETRY_KEY, ACTING_KEY = "\0list", "\0retry", "\0acting "   # Deadlines keys: not guest names
RETRY_PAUSE, RETRIES = 0.05, 2   # a skipped guest asked again: another client's query takes a few ms
BALLOON_EVERY = 30.0   # seconds between a guest's balloon reads at most (the collector's settings cadence)
BALLOON = ("balloon.current", "balloon.maximum", "balloon.rss")
BUSY = ("libvirt holds a job on it (a migration, dump or snapshot, or an earlier call still waiting "
        "for its QEMU): its block counters are from an earlier tick")

Record = tuple[Any, dict[str, Any]]   # (virDomain, its typed stats) as libvirt-python gives them


def stats_groups(uri: str) -> int:
    """The stats groups of every tick: state and block. A host in the URI
    (qemu+ssh://host/system) has its guests' /proc elsewhere: then the CPU times and the
    interface counters (this host's /proc/net/dev is not that host's) too."""
    groups = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BLOCK
    if urlsplit(uri).netloc:
        groups |= (libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
                   | libvirt.VIR_DOMAIN_STATS_INTERFACE)
    return int(groups)


def skipped(domid: int, st: Mapping[str, Any]) -> bool:
    """libvirt could not take the running guest's job (NOWAIT), so its monitor was not asked:
    balloon.rss comes only with the job (and only from a driver with a balloon group), and so do
    a disk's counters (a disk with a source and none: an empty CD-ROM drive has neither)."""
    if domid < 0:
        return False
    if "balloon.current" in st:
        return "balloon.rss" not in st
    sourced = False
    for i in range(int(st.get("block.count", 0) or 0)):
        if f"block.{i}.rd.reqs" in st:
            return False
        sourced = sourced or f"block.{i}.path" in st
    return sourced


class StatsReader:
    """Reads every guest's stats records with deadlines; `call` maps libvirt errors (the
    hypervisor's `_call`)."""

    def __init__(self, groups: int, timeout: float, call: Callable[..., Any]):
        self.groups = groups
        self.timeout = timeout
        self._call = call
        self.deadlines = Deadlines()
        self._doms: dict[str, Any] = {}   # name -> virDomain as of the last read: the list if listing stalls
        self._held: set[str] = set()      # guests NOWAIT still skipped after asking again, last tick
        # name -> (its id, when read, its balloon values): the balloon group's last answer
        self._balloon: dict[str, tuple[int, float, dict[str, Any]]] = {}

    def balloon_moved(self, name: str | None = None) -> None:
        """Read this guest's balloon group (every guest's, with None) on the next tick."""
        if name is None:
            self._balloon.clear()
        else:
            self._balloon.pop(name, None)

    def _balloon_due(self, name: str, domid: int, now: float) -> bool:
        last = self._balloon.get(name)
        if last is None or last[0] != domid:
            return True
        return now - last[1] >= spread(BALLOON_EVERY, name)   # (as the settings are: not all on one tick)

    def read(self, conn: Any) -> tuple[list[Record], dict[str, tuple[Any, str]], set[str]]:
        """(records, late, held): a record per guest that answered, with its balloon values
        (read now or carried); late: name -> (virDomain, why) for the guests that did not within
        the deadlines; held: the guests NOWAIT skipped (their figures but the state are stale)."""
        flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
        end = time.monotonic() + self.timeout
        late: dict[str, tuple[Any, str]] = {}
        try:
            # a third of the round: the listing takes ~1 ms, and waits only on a guest's lock
            listed = self.deadlines.run(LIST_KEY, lambda: self._call(conn.listAllDomains, 0), self.timeout / 3)
            doms = {d.name(): d for d in listed}
        except Stalled:
            if not self._doms:   # nothing to show instead (the first tick): the caller says why
                raise Stalled(f"libvirt did not list the guests within {self.timeout / 3:g} s (a call "
                              "holding a guest's lock, such as a stuck `virsh dump`?): asking again "
                              "next tick") from None
            doms = dict(self._doms)   # the last tick's guests: new ones show when the listing answers
        self._doms = doms
        for gone in self._balloon.keys() - doms.keys():
            del self._balloon[gone]
        asked = {}
        for name, d in doms.items():
            if self.deadlines.busy(name):   # an earlier call for it is still waiting: do not add one
                late[name] = (d, "an earlier libvirt call for it is still waiting for an answer")
            else:
                asked[name] = d
        now = time.monotonic()
        due = {n for n, d in asked.items() if self._balloon_due(n, d.ID(), now)}
        chunks: dict[str, list[str]] = {}
        for tag, names in (("b", [n for n in asked if n in due]), ("", [n for n in asked if n not in due])):
            k = max(1, min(CHUNKS, len(names) // PER_CHUNK))
            chunks |= {f"\0chunk{tag}{i}": names[i::k] for i in range(k) if names[i::k]}

        def chunk_call(part: list[str]) -> Callable[[], list[Record]]:
            groups = self.groups | (libvirt.VIR_DOMAIN_STATS_BALLOON if due.intersection(part) else 0)
            return lambda: list(self._call(conn.domainListGetStats, [asked[n] for n in part], groups, flags))

        got = self.deadlines.run_many({key: chunk_call(part) for key, part in chunks.items()},
                                      max(0.0, end - time.monotonic()))
        records: list[Record] = []
        again: list[str] = []
        for key, out in got.items():
            if isinstance(out, Disconnected):
                raise out
            if isinstance(out, BaseException):
                again += chunks[key]   # a guest in it stalled (or failed): find which, alone
            else:
                records += out
        if again:
            one = self.deadlines.run_many(
                {n: chunk_call([n]) for n in again}, self.timeout, workers=CHUNKS)
            for name, res in one.items():
                if isinstance(res, Disconnected):
                    raise res
                if isinstance(res, GuestGone):
                    continue
                if isinstance(res, BaseException):
                    why = (f"no answer from libvirt within {self.timeout:g} s (its QEMU stopped or busy?)"
                           if isinstance(res, Stalled) else str(res))
                    late[name] = (asked[name], f"{why}: its figures are from an earlier tick")
                else:
                    records += res
        records = self._again_if_skipped(records, chunk_call)
        order = {n: i for i, n in enumerate(doms)}
        records.sort(key=lambda r: order.get(r[0].name(), len(order)))
        self._carry_balloon(records, now)
        return records, late, set(self._held)

    def _carry_balloon(self, records: list[Record], now: float) -> None:
        """Keep each answered balloon group; give the others the last one (after `skipped`
        looked: the group's presence without balloon.rss means a skipped guest)."""
        for d, st in records:
            name = d.name()
            if "balloon.current" in st:
                if "balloon.rss" in st or d.ID() < 0:   # (skipped: its RSS is still to read)
                    self._balloon[name] = (d.ID(), now, {k: st[k] for k in BALLOON if k in st})
                else:
                    self._balloon.pop(name, None)
            elif (last := self._balloon.get(name)) is not None:
                st.update(last[2])

    def _again_if_skipped(self, records: list[Record], chunk_call: Callable[[list[str]], Callable[[], list[Record]]],
                          ) -> list[Record]:
        """Ask again, after a pause, for the guests NOWAIT skipped: most often another client
        (an exporter, virsh, a second kvmtune) held the guest's job for the few ms of its own
        query, and a one-shot `snapshot` has no earlier tick to carry. Measured on the lab with
        a second client asking for block stats without a pause: 9 % of guest reads skipped,
        0.9 % after one more ask, 0.2 % after two (0-0.8 % in ten later runs). A guest still
        skipped after them last tick, while a call of ours is stuck, is not asked again: that
        call holds its job (its QEMU stopped), and the pauses would only add to every tick."""
        held = self._held if self.deadlines.any_busy() else set()
        still = {d.name() for d, st in records if skipped(d.ID(), st)}
        for _ in range(RETRIES):
            busy = still - held
            if not busy:
                break
            time.sleep(RETRY_PAUSE)
            again = self.deadlines.run_many({RETRY_KEY: chunk_call(sorted(busy))}, self.timeout)[RETRY_KEY]
            if isinstance(again, Disconnected):
                raise again
            if isinstance(again, BaseException):
                break   # as first read: stale, with why
            fresh = {d.name(): (d, st) for d, st in again if not skipped(d.ID(), st)}
            records = [fresh.get(d.name(), (d, st)) for d, st in records]
            still -= fresh.keys()
        self._held = still
        return records


def guest_stats(st: Mapping[str, Any]) -> GuestStats:
    vcpu, state = {}, {}
    for i in range(int(st.get("vcpu.current", 0) or 0)):
        t = st.get(f"vcpu.{i}.time")
        if t is not None:
            vcpu[i] = int(t)
        if (s := VCPU_STATE_BY_CODE.get(st.get(f"vcpu.{i}.state", -1))) is not None:
            state[i] = s
    block = {}
    for i in range(int(st.get("block.count", 0) or 0)):
        name = st.get(f"block.{i}.name")
        if name is None or (f"block.{i}.backingIndex" in st and name in block):
            continue
        block[name] = _block(st, f"block.{i}.")
    cpu = st.get("cpu.time")
    mem, top, rss = (st.get(f"balloon.{k}") for k in ("current", "maximum", "rss"))
    return GuestStats(cpu_time_ns=None if cpu is None else int(cpu), vcpu_time_ns=vcpu, vcpu_state=state,
                      block=block, balloon_current_kib=None if mem is None else int(mem),
                      balloon_max_kib=None if top is None else int(top), rss_kib=None if rss is None else int(rss),
                      net=_net(st))


def _block(st: Mapping[str, Any], p: str) -> BlockCounters:
    """One disk of the block group: its counters, the time spent on each kind and flushes."""
    return BlockCounters(
        rd_bytes=st.get(f"{p}rd.bytes"), wr_bytes=st.get(f"{p}wr.bytes"),
        rd_reqs=st.get(f"{p}rd.reqs"), wr_reqs=st.get(f"{p}wr.reqs"),
        rd_times_ns=st.get(f"{p}rd.times"), wr_times_ns=st.get(f"{p}wr.times"),
        fl_reqs=st.get(f"{p}fl.reqs"), fl_times_ns=st.get(f"{p}fl.times"), errors=st.get(f"{p}errors"))


_NET_KEYS = ("rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop")


def _net(st: Mapping[str, Any]) -> dict[str, NetCounters]:
    """The interface group (asked for on a remote URI only): per host device, the guest's view."""
    out = {}
    for i in range(int(st.get("net.count", 0) or 0)):
        name = st.get(f"net.{i}.name")
        vals = [st.get(f"net.{i}.{k}") for k in _NET_KEYS]
        if name is not None and all(v is not None for v in vals):
            out[str(name)] = NetCounters(*(int(v or 0) for v in vals))
    return out


__all__ = ["BUSY", "StatsReader", "VirtError", "guest_stats", "skipped", "stats_groups"]
