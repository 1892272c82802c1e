"""Helpers for the lab tests: the guests, and the independent tools run as argv lists."""

from __future__ import annotations

import re
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_SH = REPO / "scripts" / "lab.sh"
URI = "qemu:///system"
PLAIN1, PLAIN2, HUGE, IO = ("kvmtune-lab-plain1", "kvmtune-lab-plain2",
                            "kvmtune-lab-huge", "kvmtune-lab-io")
UNTUNED = "kvmtune-lab-untuned"   # writeback cache, e1000 NIC, no <cpu>: the advisor's lab case
GUESTS = (PLAIN1, PLAIN2, HUGE, IO, UNTUNED)


def run(argv: list[str], timeout: float = 60) -> str:
    """Run a tool (argv list, never a shell) and return its stdout; fail the test on error."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def virsh(*args: str) -> str:
    return run(["virsh", "-q", "-c", URI, *args])


def lab_sh(cmd: str, *args: str, timeout: float = 120) -> str:
    return run([str(LAB_SH), cmd, *args], timeout=timeout)


def colon_table(text: str) -> dict[str, str]:
    """virsh's `key : value` listings (memtune, numatune, blkiotune, blkdeviotune, vcpuinfo)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def vcpuinfo(name: str) -> dict[int, dict[str, str]]:
    """`virsh vcpuinfo`: vCPU -> its block's keys (VCPU, CPU, State, CPU time, CPU Affinity)."""
    out = {}
    for block in virsh("vcpuinfo", name).strip().split("\n\n"):
        t = colon_table(block)
        out[int(t["VCPU"])] = t
    return out


def wait_for(cond, timeout: float, step: float = 0.25):
    """Poll `cond()` until it returns a truthy value (returned) or `timeout` seconds pass (None)."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def guest_pid(name: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())


def restart_guest(name: str) -> None:
    """Destroy and start again: drops every --live change (the definitions carry none)."""
    subprocess.run(["virsh", "-q", "-c", URI, "destroy", name], capture_output=True, timeout=60)
    virsh("start", name)


def numbers(path: str) -> dict[str, int]:
    """`Key:  123 [kB]` lines of /proc/PID/status or /proc/meminfo (read here, not by kvmtune's parser)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = re.match(r"(\w+):\s+(\d+)( kB)?$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def numastat_rows(pid: int) -> tuple[list[int], dict[str, list[float]]]:
    """`numastat -p PID`: the node ids of its header and each row's per-node MB."""
    nodes, rows = [], {}
    for line in run(["numastat", "-p", str(pid)]).splitlines():
        words = line.split()
        if words[:1] == ["Node"] or "Node" in words:
            nodes = [int(w) for a, w in pairwise(words) if a == "Node"]
        elif words and words[0] in ("Huge", "Heap", "Stack", "Private"):
            rows[words[0]] = [float(w) for w in words[1:1 + len(nodes)]]
    return nodes, rows
