"""`--perf` as a user types it: `kvmtune snapshot --json --perf` (a subprocess) and the
option on the commands that collect (TUI, snapshot, record)."""

from __future__ import annotations

import json

import clirun
import pytest


def kvmtune(tmp_path, *args):
    return clirun.kvmtune(*args, state=tmp_path)


def test_snapshot_json_perf_has_the_counters_per_vcpu_and_guest(tmp_path):
    p = kvmtune(tmp_path, "snapshot", "--demo", "--json", "--perf")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    running = [g for g in doc["guests"] if g["state"] == "running"]
    assert running
    for g in running:
        perf = g["perf"]
        assert set(perf) >= {"since", "vcpus", "total", "accel", "unavailable", "hardware", "exits", "exits_note"}
        assert sorted(int(i) for i in perf["vcpus"]) == [v["index"] for v in g["vcpus"]]
        c = perf["vcpus"]["0"]
        assert set(c) >= {"task_clock_ns", "context_switches", "cpu_migrations", "page_faults", "major_faults",
                          "cycles", "instructions", "cache_misses", "llc_loads", "llc_load_misses"}
        assert c["task_clock_ns"] > 0 and perf["total"]["task_clock_ns"] >= c["task_clock_ns"]
        assert perf["accel"] == "kvm" and perf["exits"]["exits"] > 0
    assert all(g["perf"] is None for g in doc["guests"] if g["state"] != "running")


def test_snapshot_without_perf_has_null_perf(tmp_path):
    p = kvmtune(tmp_path, "snapshot", "--demo", "--json")
    assert p.returncode == 0, p.stderr
    assert all(g["perf"] is None for g in json.loads(p.stdout)["guests"])


@pytest.mark.parametrize("argv", [("--help",), ("snapshot", "--help"), ("record", "--help")])
def test_perf_is_offered_where_kvmtune_collects(tmp_path, argv):
    p = kvmtune(tmp_path, *argv)
    assert p.returncode == 0 and "--perf" in p.stdout


def test_perf_with_a_captured_tree_is_one_line(tmp_path):
    """The tids of a tree under --root are not this host's threads: counting them would count
    strangers, so it is refused in one line."""
    p = kvmtune(tmp_path, "snapshot", "--root", str(tmp_path), "--host-only", "--perf")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "kvmtune: --perf counts the live host's threads: it cannot be combined with --root"]


def test_snapshot_text_perf_shows_the_rates_per_vcpu_and_guest(tmp_path):
    """The compact report with --perf: per vCPU thread its rates beside its CPU and pinning,
    per guest the totals and KVM exits; without --perf none of it."""
    p = kvmtune(tmp_path, "snapshot", "--demo", "--perf")
    assert p.returncode == 0, p.stderr
    web = p.stdout.split("guest web-01 ", 1)[1].split("\nguest ", 1)[0]
    assert "vCPU  CPU  affinity  pinned  task %  ctx/s  migr/s  faults/s   IPC" in web
    assert "perf, every thread: task-clock " in web and " migrations/s" in web
    assert "KVM exits " in web and "/s: " in web
    plain = kvmtune(tmp_path, "snapshot", "--demo").stdout
    # (the word "perf" itself may appear: the advisor's cpu.pmu finding names it)
    assert "task %" not in plain and "perf, every thread" not in plain and "KVM exits" not in plain
