"""The Executor and the audit log, on a written sys/ + proc/ tree (real files, real HostFS writes).

The snapshot comes from the real host collector reading that tree, so validation sees
exactly what a live run would.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from kvmtune.actions import AuditLog, Executor, HugepagePool, KsmSet, NumaBalancing, ThpEnabled, VcpuPin, default_path
from kvmtune.collect import Collector
from kvmtune.hostfs import HostFS
from kvmtune.source import Source

KSM = "sys/kernel/mm/ksm"
POOL0 = "sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"


@pytest.fixture
def host(tmp_path, tree):
    root = tree.write_tree(tmp_path / "root", tree.host_files())
    return Source(HostFS(root), None, "fixture")


def snap_of(source):
    return Collector(source).collect()


def read(source, rel):
    return source.fs.read_str(rel)


@pytest.fixture
def ex(host, tmp_path):
    return Executor(host, log_path=str(tmp_path / "state" / "kvmtune" / "actions.log"))


def test_apply_writes_logs_and_undo_restores(host, ex, tmp_path):
    r = ex.run(KsmSet({"run": 0, "pages_to_scan": 500}), snap_of(host))
    assert (r.status, r.exit_code, r.entry_id) == ("applied", 0, 1)
    assert read(host, f"{KSM}/run") == "0" and read(host, f"{KSM}/pages_to_scan") == "500"

    log = tmp_path / "state" / "kvmtune" / "actions.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    e = json.loads(lines[0])
    assert {"id", "time", "user", "host", "action", "target", "parameters", "commands", "before", "after",
            "result"} <= set(e)
    assert (e["id"], e["host"], e["action"], e["target"], e["result"]) == (1, "hv1", "ksm", "host", "applied")
    assert e["parameters"] == {"values": {"pages_to_scan": 500, "run": 0}}
    assert e["commands"] == ["echo 500 > /sys/kernel/mm/ksm/pages_to_scan", "echo 0 > /sys/kernel/mm/ksm/run"]
    assert e["before"] == {"values": {"pages_to_scan": 100, "run": 1}}
    assert e["after"] == {"values": {"pages_to_scan": 500, "run": 0}}

    u = ex.undo(snap_of(host))
    assert u.status == "applied" and u.entry_id == 2
    assert read(host, f"{KSM}/run") == "1" and read(host, f"{KSM}/pages_to_scan") == "100"
    assert ex.entries()[-1]["undo_of"] == 1
    # the only applied action is undone: nothing left
    assert ex.undo(snap_of(host)).status == "invalid"
    assert len(log.read_text().splitlines()) == 2


def test_undo_walks_back_in_order_and_by_id(host, ex):
    ex.run(NumaBalancing(False), snap_of(host))
    ex.run(KsmSet({"sleep_millisecs": 50}), snap_of(host))
    ex.run(HugepagePool(2048, 0, 80), snap_of(host))
    assert read(host, POOL0) == "80" and read(host, "proc/sys/kernel/numa_balancing") == "0"
    # undo #2 (KSM) by id first, then "the last" is #3, then #1
    assert ex.undo(snap_of(host), 2).status == "applied"
    assert read(host, f"{KSM}/sleep_millisecs") == "20"
    r = ex.undo(snap_of(host), 2)
    assert r.status == "invalid" and "undone already" in r.message
    assert ex.undo(snap_of(host)).status == "applied" and read(host, POOL0) == "64"
    assert ex.undo(snap_of(host)).status == "applied" and read(host, "proc/sys/kernel/numa_balancing") == "1"
    assert [e.get("undo_of") for e in ex.entries()] == [None, None, None, 2, 3, 1]
    assert "no such entry" in ex.undo(snap_of(host), 99).message


def test_thp_reads_back_the_bracketed_word(host, ex):
    thp = "sys/kernel/mm/transparent_hugepage/enabled"
    r = ex.run(ThpEnabled("never"), snap_of(host))
    assert r.status == "applied" and read(host, thp) == "never"
    assert ex.entries()[-1]["before"] == {"mode": "madvise"}
    host.fs.write_text(thp, "always madvise [never]\n")   # how the kernel shows the write
    assert ex.undo(snap_of(host)).status == "applied" and read(host, thp) == "madvise"


def test_invalid_changes_nothing_and_is_logged(host, ex):
    before = read(host, f"{KSM}/run")
    r = ex.run(KsmSet({"run": 7}), snap_of(host))
    assert (r.status, r.exit_code) == ("invalid", 2)
    assert r.message.startswith("ksm host: run must be 0")
    assert read(host, f"{KSM}/run") == before
    e = ex.entries()[-1]
    assert e["result"] == "invalid" and e["before"] is None and e["problems"]


def test_dry_run_changes_nothing_and_logs_the_attempt(host, tmp_path):
    """README: every attempt is one JSON line, dry runs included; they are never undoable."""
    ex = Executor(host, log_path=str(tmp_path / "a.log"), dry_run=True)
    r = ex.run(HugepagePool(2048, 0, 80), snap_of(host))
    assert (r.status, r.exit_code, r.entry_id) == ("dry-run", 0, 1)
    assert r.undo_hint is None
    assert r.commands == [["echo", "80", ">", "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"]]
    assert read(host, POOL0) == "64"
    bad = ex.run(HugepagePool(2048, 0, 10**9), snap_of(host))
    assert bad.status == "invalid" and bad.exit_code == 2
    e1, e2 = ex.entries()
    assert (e1["result"], e1["dry_run"], e1["before"], e1["action"]) == ("dry-run", True, None, "hugepages")
    assert e1["commands"] == ["echo 80 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"]
    assert (e2["result"], e2["dry_run"]) == ("invalid", True) and e2["problems"]
    assert ex.undoable() == []
    assert Executor(host, log_path=str(tmp_path / "a.log")).undo(snap_of(host)).status == "invalid"


def test_a_dry_run_undo_is_logged_and_does_not_count_as_undone(host, ex, tmp_path):
    r = ex.run(NumaBalancing(False), snap_of(host))
    assert r.status == "applied"
    dry = Executor(host, log_path=str(ex.log.path), dry_run=True)
    d = dry.undo(snap_of(host))
    assert d.status == "dry-run" and read(host, "proc/sys/kernel/numa_balancing") == "0"
    assert ex.entries()[-1]["undo_of"] == r.entry_id and ex.entries()[-1]["result"] == "dry-run"
    assert [e["id"] for e in ex.undoable()] == [r.entry_id]     # still to undo
    u = ex.undo(snap_of(host))
    assert u.status == "applied" and read(host, "proc/sys/kernel/numa_balancing") == "1"
    assert r.undo_hint == f"kvmtune undo {r.entry_id} --log {ex.log.path}"
    assert u.undo_hint is None      # an undo is not undoable itself


def test_read_only_refuses(host, tmp_path):
    ex = Executor(host, log_path=str(tmp_path / "a.log"), read_only=True)
    r = ex.run(NumaBalancing(False), snap_of(host))
    assert (r.status, r.exit_code) == ("refused", 2) and "read-only" in r.message
    assert read(host, "proc/sys/kernel/numa_balancing") == "1"


def test_risk_needs_confirmation(host, ex):
    # the tree's 2 MiB pool holds 32 used + 4 reserved pages: shrinking to 10 is risky
    r = ex.run(HugepagePool(2048, None, 10), snap_of(host))
    assert (r.status, r.exit_code) == ("needs-confirmation", 2)
    assert "below the 36 in use or reserved" in r.risks[0]
    assert read(host, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "64"
    r = ex.run(HugepagePool(2048, None, 10), snap_of(host), confirmed=True)
    assert r.status == "applied"
    assert read(host, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "10"
    assert ex.entries()[-1]["confirmed"] is True


def test_kernel_refusal_is_failed_with_its_message(host, ex):
    """A real kernel refusal: the knob is a symlink to a read-only sysfs attribute, which
    reads as a number but refuses writes (even for root) — nothing on the host changes."""
    real = "/sys/kernel/mm/ksm/full_scans"
    if not os.path.exists(real):
        pytest.skip(f"{real} not present on this kernel")
    p = host.fs.path("proc/sys/kernel/numa_balancing")
    os.remove(p)
    os.symlink(real, p)
    r = ex.run(NumaBalancing(False), snap_of(host))
    assert (r.status, r.exit_code) == ("failed", 1)
    assert r.message.startswith("numa_balancing host: /proc/sys/kernel/numa_balancing: ")
    e = ex.entries()[-1]
    assert e["result"] == "failed" and e["before"] == e["after"]
    assert ex.undoable() == []


def test_undo_warns_when_the_value_changed_since(host, ex):
    ex.run(NumaBalancing(False), snap_of(host))
    host.fs.write_text("proc/sys/kernel/numa_balancing", "1")   # someone else changed it
    r = ex.undo(snap_of(host))
    assert r.status == "needs-confirmation" and "changed since #1" in r.risks[0]
    assert ex.undo(snap_of(host), confirmed=True).status == "applied"


def test_merge_across_nodes_runs_the_documented_sequence(host, ex):
    """With pages shared, run=2 is written first; once the kernel has unmerged
    (pages_shared 0), merge_across_nodes is set and run restored."""
    writes = []

    def kernel():   # stands in for ksmd: unmerges once run=2 is written
        deadline = time.monotonic() + 60   # as long as the executor waits: a loaded machine is slow
        while time.monotonic() < deadline:
            if read(host, f"{KSM}/run") == "2":
                writes.append("run=2")
                host.fs.write_text(f"{KSM}/pages_shared", "0")
                host.fs.write_text(f"{KSM}/pages_sharing", "0")
                return
            time.sleep(0.01)

    snap = snap_of(host)
    assert snap.host.ksm.pages_shared == 10
    a = KsmSet({"merge_across_nodes": 0})
    assert ex.run(a, snap).status == "needs-confirmation"
    t = threading.Thread(target=kernel)
    t.start()
    r = ex.run(KsmSet({"merge_across_nodes": 0}), snap, confirmed=True)
    t.join()
    assert r.status == "applied", r.message
    assert writes == ["run=2"]
    assert read(host, f"{KSM}/merge_across_nodes") == "0" and read(host, f"{KSM}/run") == "1"
    assert ex.entries()[-1]["before"] == {"values": {"merge_across_nodes": 1, "run": 1}}


def test_guest_action_without_hypervisor_fails_cleanly(host, ex):
    r = ex.run(VcpuPin("web1", 0, (1,)), snap_of(host))
    assert r.status == "invalid" and "no guest named 'web1'" in r.message


def test_audit_log_ids_are_unique_across_writers(tmp_path):
    path = tmp_path / "log"
    logs = [AuditLog(path) for _ in range(4)]
    ids: list[int] = []

    def write(log):
        for _ in range(25):
            ids.append(log.append({"action": "x"}))

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(1, 101))
    assert [e["id"] for e in AuditLog(path).entries()] == list(range(1, 101))


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "kvmtune" / "actions.log"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "state" / "kvmtune" / "actions.log"


def test_unwritable_log_refuses_before_changing_anything(host, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    ex = Executor(host, log_path=str(blocker / "actions.log"))   # parent is a file
    r = ex.run(NumaBalancing(False), snap_of(host))
    assert r.status == "refused" and "cannot open the audit log" in r.message
    assert read(host, "proc/sys/kernel/numa_balancing") == "1"


def test_undo_never_replays_an_entry_made_on_another_source(host, tmp_path):
    """The log is shared by every host and the demo: an entry from elsewhere is not undone here."""
    log = tmp_path / "actions.log"
    r = Executor(host, str(log)).run(NumaBalancing(True), snap_of(host))
    assert r.status == "applied"
    other = Source(host.fs, None, "qemu+ssh://elsewhere/system")
    ex = Executor(other, str(log))
    before = read(host, "proc/sys/kernel/numa_balancing")
    u = ex.undo(snap_of(other))
    assert u.status == "invalid" and "nothing to undo on qemu+ssh://elsewhere/system" in u.message
    u = ex.undo(snap_of(other), r.entry_id)
    assert u.status == "invalid" and "not here" in u.message
    assert read(host, "proc/sys/kernel/numa_balancing") == before
    assert Executor(host, str(log)).undo(snap_of(host)).status == "applied"   # its own source may
