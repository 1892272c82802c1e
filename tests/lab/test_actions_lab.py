"""Lab tier for actions: the real libvirtd + QEMU lab guests and the real host's sysfs.

Each action runs as `python -m kvmtune.cli apply ...`; its effect is read back with virsh
(and sysfs for KSM, hugepages, NUMA balancing and THP); `kvmtune undo` must then restore
exactly what was there. Host knobs are also restored in `finally`, whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

URI = "qemu:///system"
PLAIN1, PLAIN2, HUGE, IO = ("kvmtune-lab-plain1", "kvmtune-lab-plain2", "kvmtune-lab-huge", "kvmtune-lab-io")


def virsh(*args: str) -> str:
    p = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def kv(log: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kvmtune.cli", *args, "--log", str(log)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_STATE_HOME": str(log.parent)})


@pytest.fixture
def log(tmp_path) -> Path:
    return tmp_path / "actions.log"


def fields(text: str) -> dict[str, str]:
    """virsh's "key : value" lines."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def vcpupins(guest: str) -> dict[str, str]:
    """virsh vcpupin GUEST --live (a " VCPU   CPU Affinity" table) -> {"0": "0-1", ...}"""
    rows = (line.split() for line in virsh("vcpupin", guest, "--live").splitlines())
    return {r[0]: r[1] for r in rows if len(r) == 2 and r[0].isdigit()}


def guest_state(guest: str) -> dict:
    """Everything the guest actions touch, as virsh shows it."""
    return {
        "vcpupin": vcpupins(guest),
        "emulatorpin": fields(virsh("emulatorpin", guest, "--live")).get("*"),
        "numatune": fields(virsh("numatune", guest, "--live")),
        "memtune": fields(virsh("memtune", guest, "--live")),
        "blkiotune": fields(virsh("blkiotune", guest, "--live")),
        "blkdeviotune": fields(virsh("blkdeviotune", guest, "vda", "--live")),
    }


def online_cpus() -> str:
    return Path("/sys/devices/system/cpu/online").read_text().strip()


def node0_cpus() -> str:
    return Path("/sys/devices/system/node/node0/cpulist").read_text().strip()


def applied(p: subprocess.CompletedProcess) -> None:
    assert p.returncode == 0, p.stdout + p.stderr
    assert "applied:" in p.stdout


def undo_restores(log: Path, read, start) -> None:
    p = kv(log, "undo")
    applied(p)
    assert read() == start


# -- guest actions ------------------------------------------------------------------------------

GUEST_CASES = [
    ("vcpupin", PLAIN1, ["vcpupin", PLAIN1, "1", "0"], lambda s: s["vcpupin"]["1"] == "0"),
    ("vcpupin-all", PLAIN1, ["vcpupin", PLAIN1, "all", "1"], lambda s: set(s["vcpupin"].values()) == {"1"}),
    ("emulatorpin", PLAIN2, ["emulatorpin", PLAIN2, "0"], lambda s: s["emulatorpin"] == "0"),
    ("memtune", PLAIN1, ["memtune", PLAIN1, "--hard-limit", "2G", "--soft-limit", "1G"],
     lambda s: s["memtune"]["hard_limit"] == "2097152" and s["memtune"]["soft_limit"] == "1048576"),
    ("blkiotune", PLAIN2, ["blkiotune", PLAIN2, "--weight", "300"], lambda s: s["blkiotune"]["weight"] == "300"),
    ("blkdeviotune", IO, ["blkdeviotune", IO, "vda", "--total-bytes-sec", "1048576"],
     lambda s: s["blkdeviotune"]["total_bytes_sec"] == "1048576"),
]


@pytest.mark.parametrize("name,guest,argv,changed", GUEST_CASES, ids=[c[0] for c in GUEST_CASES])
def test_guest_action_read_back_with_virsh_and_undone(log, name, guest, argv, changed):
    start = guest_state(guest)
    try:
        p = kv(log, "apply", *argv, "--yes")
        applied(p)
        now = guest_state(guest)
        assert changed(now), now
        undo_restores(log, lambda: guest_state(guest), start)
    finally:
        kv(log, "undo", "--yes")   # no-op when already undone


def test_numatune_mode_change_on_running_guest_is_refused_with_advice(log):
    start = guest_state(PLAIN1)
    p = kv(log, "apply", "numatune", PLAIN1, "--mode", "interleave")
    assert p.returncode == 2
    assert "cannot change the numatune mode of running guest" in p.stderr and "--config" in p.stderr
    assert guest_state(PLAIN1) == start


def test_move_puts_vcpus_emulator_and_memory_on_the_node(log):
    """libvirt 9 sets a running guest's nodeset once when it has no <numatune> (the result is
    strict and stays); later moves to the same node only re-pin. Undo restores the pins."""
    start = guest_state(PLAIN2)
    cpus = node0_cpus()
    try:
        p = kv(log, "apply", "move", PLAIN2, "--node", "0", "--yes")
        applied(p)
        now = guest_state(PLAIN2)
        assert set(now["vcpupin"].values()) == {cpus}
        assert now["emulatorpin"] == cpus
        assert now["numatune"]["numa_nodeset"] == "0"
        applied(kv(log, "undo"))
        back = guest_state(PLAIN2)
        assert {k: v for k, v in back.items() if k != "numatune"} == \
            {k: v for k, v in start.items() if k != "numatune"}
        assert back["numatune"]["numa_nodeset"] == "0"
    finally:
        kv(log, "undo", "--yes")


def test_dry_run_changes_nothing(log):
    start = {g: guest_state(g) for g in (PLAIN1, IO)}
    for argv in (["move", PLAIN1, "--node", "0"], ["vcpupin", PLAIN1, "all", "0"],
                 ["memtune", PLAIN1, "--hard-limit", "64M"], ["blkdeviotune", IO, "vda", "--total-iops-sec", "5"]):
        p = kv(log, "apply", *argv, "--dry-run")
        assert p.returncode == 0 and "nothing changed" in p.stdout, p.stdout + p.stderr
        assert p.stdout.startswith("virsh ")
    assert {g: guest_state(g) for g in (PLAIN1, IO)} == start
    # every attempt is logged, dry runs too (result dry-run: never undoable)
    assert [json.loads(line)["result"] for line in log.read_text().splitlines()] == ["dry-run"] * 4


def test_invalid_input_exits_2_and_changes_nothing(log):
    start = guest_state(PLAIN1)
    ksm = Path("/sys/kernel/mm/ksm/run").read_text()
    for argv in (["vcpupin", PLAIN1, "9", "0"], ["vcpupin", PLAIN1, "0", "4000"],
                 ["memtune", PLAIN1, "--hard-limit", "1G", "--swap-hard-limit", "512M"],
                 ["blkiotune", PLAIN1, "--weight", "5"],
                 ["blkdeviotune", PLAIN1, "vda", "--total-bytes-sec", "1", "--read-bytes-sec", "1"],
                 ["move", PLAIN1, "--node", "7"], ["numatune", "kvmtune-lab-nosuch", "--nodeset", "0"],
                 ["ksm", "--run", "5"], ["hugepages", "--node", "0", "--count", "99999999"]):
        p = kv(log, "apply", *argv)
        assert p.returncode == 2, (argv, p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) >= 1 and "Traceback" not in p.stderr
    assert guest_state(PLAIN1) == start
    assert Path("/sys/kernel/mm/ksm/run").read_text() == ksm


def test_hard_limit_below_use_needs_yes(log):
    start = guest_state(PLAIN1)
    p = kv(log, "apply", "memtune", PLAIN1, "--hard-limit", "16M")
    assert p.returncode == 2 and "the kernel kills the guest" in p.stderr and "--yes" in p.stderr
    assert guest_state(PLAIN1) == start


def test_read_only_refuses(log):
    start = guest_state(PLAIN1)
    p = kv(log, "apply", "vcpupin", PLAIN1, "0", "0", "--read-only")
    assert p.returncode == 2 and "read-only" in p.stderr
    assert guest_state(PLAIN1) == start


# -- host actions (sysfs), restored in finally ---------------------------------------------------

SYS = Path("/sys/kernel/mm")


def _restore(path: Path, value: str) -> None:
    try:
        if path.read_text().strip() != value:
            path.write_text(value)
    except OSError:
        pass


def _word(path: Path) -> str:
    m = re.search(r"\[(\w+)\]", path.read_text())
    return m.group(1) if m else path.read_text().strip()


def test_ksm_read_back_and_undo(log):
    keys = ("run", "pages_to_scan", "sleep_millisecs")
    start = {k: (SYS / "ksm" / k).read_text().strip() for k in keys}
    try:
        p = kv(log, "apply", "ksm", "--run", "1", "--pages-to-scan", str(int(start["pages_to_scan"]) + 7),
               "--sleep-millisecs", str(int(start["sleep_millisecs"]) + 3))
        applied(p)
        assert "echo 1 > /sys/kernel/mm/ksm/run" in p.stdout
        assert (SYS / "ksm/run").read_text().strip() == "1"
        assert (SYS / "ksm/pages_to_scan").read_text().strip() == str(int(start["pages_to_scan"]) + 7)
        undo_restores(log, lambda: {k: (SYS / "ksm" / k).read_text().strip() for k in keys}, start)
    finally:
        for k in ("run", "pages_to_scan", "sleep_millisecs"):
            _restore(SYS / "ksm" / k, start[k])


def test_hugepage_pool_read_back_and_undo(log):
    path = Path("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")
    start = path.read_text().strip()
    try:
        p = kv(log, "apply", "hugepages", "--node", "0", "--size", "2M", "--count", str(int(start) + 2))
        applied(p)
        assert path.read_text().strip() == str(int(start) + 2)
        undo_restores(log, lambda: path.read_text().strip(), start)
    finally:
        _restore(path, start)


def test_numa_balancing_read_back_and_undo(log):
    path = Path("/proc/sys/kernel/numa_balancing")
    if not path.exists():
        pytest.skip("kernel without automatic NUMA balancing")
    start = path.read_text().strip()
    try:
        applied(kv(log, "apply", "numa-balancing", "off" if start != "0" else "on"))
        assert path.read_text().strip() == ("0" if start != "0" else "1")
        undo_restores(log, lambda: path.read_text().strip(), start)
    finally:
        _restore(path, start)


def test_thp_read_back_and_undo(log):
    path = SYS / "transparent_hugepage/enabled"
    start = _word(path)
    other = "never" if start != "never" else "madvise"
    try:
        applied(kv(log, "apply", "thp", other))
        assert _word(path) == other
        undo_restores(log, lambda: _word(path), start)
    finally:
        _restore(path, start) if _word(path) != start else None


def test_log_lists_what_was_done(log):
    start = fields(virsh("emulatorpin", PLAIN2, "--live")).get("*")
    try:
        applied(kv(log, "apply", "emulatorpin", PLAIN2, "0"))
        applied(kv(log, "undo"))
    finally:
        kv(log, "undo", "--yes")
    assert fields(virsh("emulatorpin", PLAIN2, "--live")).get("*") == start
    out = subprocess.run([sys.executable, "-m", "kvmtune.cli", "log", "--log", str(log)],
                         capture_output=True, text=True, timeout=30).stdout
    assert f"virsh emulatorpin {PLAIN2} 0 --live" in out and "applied (undo #1)" in out
    assert oct(log.stat().st_mode & 0o777) == "0o600"


# -- --live --config: both the running guest and its saved definition (the qemu driver; the test
# driver refuses the two flags together) ---------------------------------------------------------

def limits(guest: str) -> tuple[str | None, str | None]:
    return (fields(virsh("memtune", guest, "--live")).get("soft_limit"),
            fields(virsh("memtune", guest, "--config")).get("soft_limit"))


def test_live_and_config_together_change_both_and_undo_restores_both(log):
    start = limits(PLAIN1)
    assert start[0] == start[1], start        # the lab guest starts with one value in both
    try:
        p = kv(log, "apply", "memtune", PLAIN1, "--soft-limit", "300M", "--live", "--config")
        applied(p)
        assert f"virsh memtune {PLAIN1} --soft-limit 307200 --live --config" in p.stdout
        assert "(live+config)" in p.stdout
        assert limits(PLAIN1) == ("307200", "307200")
        applied(kv(log, "undo"))
        assert limits(PLAIN1) == start
    finally:
        kv(log, "undo", "--yes")


def test_vcpupin_live_and_config_together(log):
    start = vcpupins(PLAIN1), virsh("vcpupin", PLAIN1, "--config")
    try:
        applied(kv(log, "apply", "vcpupin", PLAIN1, "0", "1", "--live", "--config"))
        assert vcpupins(PLAIN1)["0"] == "1"
        rows = (line.split() for line in virsh("vcpupin", PLAIN1, "--config").splitlines())
        assert {r[0]: r[1] for r in rows if len(r) == 2 and r[0].isdigit()}["0"] == "1"
        applied(kv(log, "undo"))
        assert (vcpupins(PLAIN1), virsh("vcpupin", PLAIN1, "--config")) == start
    finally:
        kv(log, "undo", "--yes")
