"""Helpers for the lab tests: the guests, and the independent tools run as argv lists."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_SH = REPO / "scripts" / "lab.sh"
URI = "qemu:///system"
PLAIN1, PLAIN2, HUGE, IO = ("kvmtune-lab-plain1", "kvmtune-lab-plain2",
                            "kvmtune-lab-huge", "kvmtune-lab-io")
GUESTS = (PLAIN1, PLAIN2, HUGE, IO)


def run(argv: list[str], timeout: float = 60) -> str:
    """Run a tool (argv list, never a shell) and return its stdout; fail the test on error."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def virsh(*args: str) -> str:
    return run(["virsh", "-q", "-c", URI, *args])


def lab_sh(cmd: str) -> str:
    return run([str(LAB_SH), cmd], timeout=120)


def colon_table(text: str) -> dict[str, str]:
    """virsh's `key : value` listings (memtune, numatune, blkiotune, blkdeviotune, vcpuinfo)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
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


