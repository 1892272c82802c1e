"""Parsers for the kernel's text files. Pure functions of text; they raise ParseError only.

One place for each format: meminfo (global and per node), memory cgroup numa_stat (v1
and v2), numa_maps, ksm_stat, /proc/PID/status, task stat and schedstat, cgroup v2
cpu.stat, sysfs's "[selected]" words, /proc/net/dev and QEMU's -netdev options.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import ParseError
from .vocab import PAGE_KIB

__all__ = ["PAGE_KIB", "ParseError"]   # (and the parsers below)


def _int(tok: str, what: str) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise ParseError(f"{what}: {tok[:40]!r} is not a number") from None
    if v < 0:
        raise ParseError(f"{what}: negative value {v}")
    return v


def uptime(text: str) -> float:
    """/proc/uptime ("12345.67 23456.78") -> seconds since boot."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        raise ParseError(f"/proc/uptime: {text[:40]!r} is not 'seconds idle'") from None


def loadavg(text: str) -> tuple[float, float, float]:
    """/proc/loadavg ("0.52 0.58 0.59 1/389 12345") -> the 1, 5 and 15 minute load averages."""
    try:
        one, five, fifteen = (float(x) for x in text.split()[:3])
    except ValueError:
        raise ParseError(f"/proc/loadavg: {text[:40]!r} does not start with three numbers") from None
    return one, five, fifteen


def meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo or node*/meminfo -> {"MemTotal": kib, "HugePages_Total": count, ...}.

    Per-node files prefix each line with "Node N "; it is dropped. Values with "kB" are
    KiB; the rest (HugePages_*) are counts.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if ":" not in line:
            raise ParseError(f"meminfo: no ':' in line {line[:60]!r}")
        key, _, rest = line.partition(":")
        key = key.split()[-1] if key.split() else ""
        parts = rest.split()
        if not key or not parts:
            raise ParseError(f"meminfo: malformed line {line[:60]!r}")
        out[key] = _int(parts[0], f"meminfo {key}")
    return out


def numa_stat_anon(text: str) -> dict[int, int]:
    """A memory cgroup's memory.numa_stat -> anonymous memory per node, in KiB.

    v1: "anon=4035 N0=4035 N1=0" (pages); v2: "anon N0=16527360 N1=0" (bytes).
    """
    for line in text.splitlines():
        if "anon" not in line:   # cheap skip: only the anon line is split into tokens
            continue
        parts = line.split()
        head = parts[0]
        if head.startswith("anon="):        # cgroup v1, pages
            return _per_node(parts[1:], lambda v: v * PAGE_KIB, "numa_stat v1")
        if head == "anon":                  # cgroup v2, bytes
            return _per_node(parts[1:], lambda v: v // 1024, "numa_stat v2")
    raise ParseError("numa_stat: no anon line")


def _per_node(tokens: list[str], scale: Callable[[int], int], what: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for tok in tokens:
        if not tok.startswith("N") or "=" not in tok:
            raise ParseError(f"{what}: unexpected {tok[:40]!r}")
        node, _, val = tok[1:].partition("=")
        out[_int(node, what)] = scale(_int(val, what))
    return out


_NODE_TOK = re.compile(r"^N(\d+)=(\d+)$")


@dataclass(frozen=True)
class NumaMapsTotals:
    """numa_maps summed like numastat -p: KiB per node in each bucket."""
    huge: dict[int, dict[int, int]]      # page size KiB -> node -> pages
    heap: dict[int, int]
    stack: dict[int, int]
    private: dict[int, int]              # everything else (numastat's "Private")
    # KiB per node of anonymous memory the process maps (RssAnon), KSM-merged pages included,
    # on the node each page sits on: every page of mappings backed by no file (heap, stack,
    # guest RAM) and the anon= pages of file mappings
    anon: dict[int, int] = field(default_factory=dict)

    def huge_kib(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for size, per in self.huge.items():
            for node, pages in per.items():
                out[node] = out.get(node, 0) + pages * size
        return out


def numa_maps(text: str) -> NumaMapsTotals:
    """/proc/PID/numa_maps -> totals per bucket and node (numastat's Huge/Heap/Stack/Private)."""
    huge: dict[int, dict[int, int]] = {}
    heap: dict[int, int] = {}
    stack: dict[int, int] = {}
    private: dict[int, int] = {}
    anon: dict[int, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise ParseError(f"numa_maps line {lineno}: too short: {line[:60]!r}")
        try:
            int(parts[0], 16)
        except ValueError:
            raise ParseError(f"numa_maps line {lineno}: bad address {parts[0][:20]!r}") from None
        pagesize = PAGE_KIB
        nodes: dict[int, int] = {}
        for tok in parts[2:]:
            if tok.startswith("kernelpagesize_kB="):
                pagesize = _int(tok.split("=", 1)[1], f"numa_maps line {lineno}")
            else:
                m = _NODE_TOK.match(tok)
                if m:
                    nodes[int(m.group(1))] = int(m.group(2))
        if not nodes:
            continue
        if "huge" in parts[2:]:
            per = huge.setdefault(pagesize, {})
            for n, p in nodes.items():
                per[n] = per.get(n, 0) + p
            continue
        bucket = heap if "heap" in parts[2:] else stack if "stack" in parts[2:] else private
        for n, p in nodes.items():
            bucket[n] = bucket.get(n, 0) + p * pagesize
        file_anon = next((t[5:] for t in parts[2:] if t.startswith("anon=")), "0") if any(
            t.startswith("file=") for t in parts[2:]) else None
        if file_anon is None:
            for n, p in nodes.items():
                anon[n] = anon.get(n, 0) + p * pagesize
        elif (k := _int(file_anon, f"numa_maps line {lineno}")):
            # a file mapping's copied-on-write pages (a library's data): anonymous, but its
            # node counts mix them with the file's pages, so spread them like those
            total = sum(nodes.values())
            for n, p in nodes.items():
                anon[n] = anon.get(n, 0) + min(k, total) * p // total * pagesize
    return NumaMapsTotals(huge, heap, stack, private, anon)


def keyed_ints(text: str, what: str) -> dict[str, int]:
    """Lines of "key value" or "key: value" -> ints (ksm_stat, status). Non-numeric lines are kept out."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.replace(":", " ", 1).split()
        if len(parts) < 2 or not parts[1][-1].isdigit():
            continue   # "ksm_merge_any: no", "Name: qemu" ... (every int ends in a digit)
        try:
            out[parts[0]] = int(parts[1])
        except ValueError:
            continue
    return out


def ksm_stat(text: str) -> dict[str, int]:
    """/proc/PID/ksm_stat -> {"ksm_merging_pages": n, "ksm_process_profit": bytes, ...}."""
    out = keyed_ints(text, "ksm_stat")
    if not out:
        raise ParseError("ksm_stat: no counters")
    return out


def node_numastat(text: str) -> dict[str, int]:
    """sys/.../nodeN/numastat ("numa_hit 123" lines, pages) -> {"numa_hit": 123, ...}."""
    out = keyed_ints(text, "numastat")
    if "numa_hit" not in out:
        raise ParseError("numastat: no numa_hit")
    return out


def statm_rss_pages(text: str) -> int:
    """/proc/PID/statm ("size resident shared text lib data dt", pages) -> resident pages."""
    words = text.split()
    if len(words) < 2:
        raise ParseError("statm: fewer than 2 fields")
    return _int(words[1], "statm resident")


def status(text: str) -> dict[str, int]:
    """/proc/PID/status -> numeric fields (kB fields in KiB): RssAnon, HugetlbPages, ..."""
    return keyed_ints(text, "status")


def status_field(text: str, key: str) -> int | None:
    """One numeric field of /proc/PID/status ("RssAnon" -> KiB), or None when absent.

    Read per tick for KSM-merging guests: finds the one line instead of splitting ~55.
    """
    start = 0 if text.startswith(f"{key}:") else text.find(f"\n{key}:") + 1
    if start == 0 and not text.startswith(f"{key}:"):
        return None
    end = text.find("\n", start)
    words = text[start + len(key) + 1:end if end >= 0 else None].split()
    if not words:
        raise ParseError(f"status {key}: no value")
    return _int(words[0], f"status {key}")


class TaskStat(NamedTuple):      # parsed per vCPU per tick: cheaper to build than a frozen dataclass
    comm: str
    state: str
    utime: int        # clock ticks
    stime: int
    processor: int    # the CPU it last ran on


def task_stat(text: str) -> TaskStat:
    """/proc/PID/task/TID/stat. The comm can hold spaces and ')': split after the LAST ')'."""
    open_ = text.find("(")
    close = text.rfind(")")
    if open_ < 0 or close < open_:
        raise ParseError("task stat: no (comm)")
    rest = text[close + 1:].split()
    # field N of proc(5) is rest[N - 3]; processor is field 39.
    if len(rest) < 37:
        raise ParseError(f"task stat: {len(rest) + 2} fields, need 39")
    return TaskStat(
        comm=text[open_ + 1:close], state=rest[0],
        utime=_int(rest[11], "task stat utime"), stime=_int(rest[12], "task stat stime"),
        processor=_int(rest[36], "task stat processor"),
    )


def proc_cgroup(text: str) -> dict[str, tuple[str, str]]:
    """/proc/PID/cgroup -> per v1 controller ("memory", "cpuacct", ...) its hierarchy's
    controller list (the name it is usually mounted under: "cpu,cpuacct") and the process's
    path in it; under "" the cgroup v2 path (the `0::` line), with "" as its list."""
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            out[""] = ("", parts[2])
        else:
            for controller in parts[1].split(","):
                out.setdefault(controller, (parts[1], parts[2]))
    return out


def schedstat_ns(text: str) -> int:
    """/proc/PID/task/TID/schedstat ("run_ns wait_ns timeslices") -> the time it ran, in ns.

    The first field is the scheduler's sum_exec_runtime: what stat's utime + stime are scaled
    to, but to the nanosecond instead of truncated to clock ticks (each of the two)."""
    return first_int(text, "schedstat run time")


def first_int(text: str, what: str) -> int:
    """The first number of a file (schedstat's run time, cgroup v1 cpuacct.usage: both ns)."""
    words = text.split(None, 1)
    if not words:
        raise ParseError(f"{what}: empty")
    return _int(words[0], what)


def cpu_stat_usage_ns(text: str) -> int:
    """A cgroup v2 cpu.stat -> usage_usec in ns (the CPU time of every task in the cgroup and below)."""
    for line in text.splitlines():
        if line.startswith("usage_usec "):
            return _int(line[len("usage_usec "):].strip(), "cpu.stat usage_usec") * 1000
    raise ParseError("cpu.stat: no usage_usec line")


_BRACKETED = re.compile(r"\[([^\]]+)\]")


def bracketed(text: str) -> str:
    """"always [madvise] never" -> "madvise"."""
    m = _BRACKETED.search(text)
    if not m:
        raise ParseError(f"no [selected] word in {text[:60]!r}")
    return m.group(1)


@dataclass(frozen=True)
class CpuTicks:
    """One `cpuN` line of /proc/stat, in clock ticks."""
    busy: int
    total: int


def proc_stat_cpus(text: str) -> dict[int, CpuTicks]:
    """/proc/stat -> per-CPU busy/total ticks (the aggregate "cpu" line is left out).

    total = user+nice+system+idle+iowait+irq+softirq+steal (guest time is already inside
    user/nice, as psutil counts it); busy = total - idle - iowait.
    """
    out: dict[int, CpuTicks] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu") or parts[0] == "cpu":
            continue
        cpu = _int(parts[0][3:], "stat cpu id")
        if len(parts) < 5:
            raise ParseError(f"stat: {parts[0]} has {len(parts) - 1} fields, need 4")
        ticks = [_int(t, f"stat {parts[0]}") for t in parts[1:9]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        total = sum(ticks)
        out[cpu] = CpuTicks(busy=total - idle, total=total)
    if not out:
        raise ParseError("stat: no cpuN lines")
    return out


class NetDevCounters(NamedTuple):
    """One device's line of /proc/net/dev, as the host sees it (rx = what the host received)."""
    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int


def net_dev(text: str) -> dict[str, NetDevCounters]:
    """/proc/net/dev -> per device its counters: bytes, packets, errs, drop of each side (what
    libvirt's domifstat reads; the other columns are fifo, frame/colls, ...)."""
    out: dict[str, NetDevCounters] = {}
    for line in text.splitlines():
        name, colon, rest = line.partition(":")
        if not colon or "|" in line:
            continue   # the two header lines
        f = rest.split()
        if len(f) < 12:
            raise ParseError(f"net/dev: {name.strip()} has {len(f)} fields, need 16")
        v = [_int(t, f"net/dev {name.strip()}") for t in (*f[0:4], *f[8:12])]
        out[name.strip()] = NetDevCounters(*v)
    return out


def qemu_netdevs(args: list[str]) -> dict[str, bool]:
    """A QEMU command line's `-netdev` backends -> per id whether vhost-net carries it.

    libvirt 9 writes them as JSON ({"type":"tap","vhost":true,"id":"hostnet0",...}), older
    ones as key=value lists (tap,fd=27,id=hostnet0,vhost=on,vhostfd=28)."""
    out: dict[str, bool] = {}
    for i, arg in enumerate(args[:-1]):
        if arg != "-netdev":
            continue
        spec = args[i + 1]
        opts: dict[str, object]
        if spec.startswith("{"):
            try:
                got = json.loads(spec)
            except ValueError:
                continue
            opts = got if isinstance(got, dict) else {}
        else:
            opts = dict(kv.partition("=")[::2] for kv in spec.split(",")[1:])
        ident = opts.get("id")
        if isinstance(ident, str):
            out[ident] = opts.get("vhost") in (True, "on", "true", "yes") or "vhostfd" in opts or "vhostfds" in opts
    return out
