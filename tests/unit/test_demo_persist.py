"""The demo host is one host across kvmtune calls: what `apply --demo` changes, a later
`snapshot --demo`, `undo --demo`, `log --demo` and the TUI see, until `kvmtune demo-reset`.
Its audit log is its own, never the real hosts'.

The CLI runs as a subprocess with XDG_STATE_HOME in a temp folder (tests/unit/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvmtune import actions
from kvmtune.demo import DemoFeed, open_demo
from kvmtune.demo.persist import demo_dir

SRC = str(Path(__file__).resolve().parents[2] / "src")


def kv(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    p = subprocess.run([sys.executable, "-m", "kvmtune.cli", *args], capture_output=True, text=True,
                       env=env, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    if check is not None:
        assert p.returncode == check, (args, p.stdout, p.stderr)
    return p


def snap_json(*extra: str) -> dict:
    return json.loads(kv("snapshot", "--demo", "--json", *extra).stdout)


def guest(snap: dict, name: str) -> dict:
    return next(g for g in snap["guests"] if g["name"] == name)


def test_apply_snapshot_undo_reset_across_cli_calls(state_home):
    start = snap_json()
    assert guest(start, "web-01")["memtune"]["hard_limit_kib"] is None and start["host"]["ksm"]["run"] == 1

    p = kv("apply", "memtune", "web-01", "--hard-limit", "12G", "--demo")
    assert p.stdout.splitlines()[-1] == "applied: memtune web-01 (live) (#1; `kvmtune undo 1 --demo` reverts it)"
    kv("apply", "ksm", "--run", "0", "--demo")
    s = snap_json()
    assert guest(s, "web-01")["memtune"]["hard_limit_kib"] == 12 * 1024 * 1024
    assert s["host"]["ksm"]["run"] == 0

    # the demo's log is its own: the real hosts' log is untouched, `log` lists the demo's with --demo
    assert not (state_home / "kvmtune" / "actions.log").exists()
    assert "no actions logged yet" in kv("log").stdout
    listing = kv("log", "--demo").stdout
    assert "memtune  web-01" in listing and "ksm      host" in listing
    assert kv("--demo", "log").stdout == listing       # the top-level flag means the same

    p = kv("undo", "1", "--demo")                      # the hint was true
    assert p.stdout.splitlines()[-1] == "applied: memtune web-01 (live) (#3)"
    s = snap_json()
    assert guest(s, "web-01")["memtune"]["hard_limit_kib"] is None and s["host"]["ksm"]["run"] == 0
    kv("undo", "--demo")
    assert snap_json()["host"]["ksm"]["run"] == 1
    kv("undo", "--demo", check=2)                      # nothing left to undo

    kv("apply", "thp", "never", "--demo")
    assert snap_json()["host"]["thp_enabled"] == "never"
    out = kv("demo-reset").stdout
    d = demo_dir()
    assert f"removed the saved settings {d / 'state.json'} (1 changed setting)" in out
    assert f"moved the demo's audit log (5 entries) to {d / 'actions.log.old'}" in out
    assert snap_json()["host"]["thp_enabled"] == "madvise"
    assert "no actions logged yet" in kv("log", "--demo").stdout
    assert "pristine already" in kv("demo-reset").stdout


def test_log_option_still_overrides_and_the_hint_names_it(tmp_path):
    log = tmp_path / "mine.log"
    p = kv("apply", "numa-balancing", "off", "--demo", "--log", str(log))
    hint = f"`kvmtune undo 1 --demo --log {log}` reverts it"
    assert p.stdout.splitlines()[-1] == f"applied: numa_balancing host (#1; {hint})"
    assert json.loads(log.read_text())["source"] == "demo"
    assert not (demo_dir() / "actions.log").exists()
    kv("undo", "1", "--demo", "--log", str(log))
    assert snap_json()["host"]["numa_balancing"] == 1


def test_other_seeds_and_scale_demos_are_demos_of_their_own():
    p = kv("apply", "ksm", "--run", "2", "--yes", "--demo", "--seed", "2")
    assert "`kvmtune undo 1 --demo --seed 2` reverts it" in p.stdout
    kv("apply", "ksm", "--sleep-millisecs", "50", "--demo", "--demo-guests", "30")
    assert snap_json()["host"]["ksm"]["run"] == 1                            # seed 1 untouched
    assert snap_json("--seed", "2")["host"]["ksm"]["run"] == 2
    assert snap_json("--demo-guests", "30")["host"]["ksm"]["sleep_millisecs"] == 50
    assert snap_json("--demo-guests", "30")["host"]["ksm"]["run"] == 0       # its own (KSM off there)
    kv("undo", "1", "--demo", check=2)                                       # not seed 1's entry
    assert "seed 2" in kv("demo-reset", "--seed", "2").stdout
    assert snap_json("--seed", "2")["host"]["ksm"]["run"] == 1
    assert snap_json("--demo-guests", "30")["host"]["ksm"]["sleep_millisecs"] == 50


def test_a_corrupt_or_foreign_state_file_is_one_line_and_reset_clears_it():
    d = demo_dir()
    d.mkdir(parents=True)
    for text, why in (('{"schema": "kvmtune.demo-state/0", "changed": []}', "not a kvmtune.demo-state/1 file"),
                      ('{"schema": "kvmtune.demo-state/1", "seed": 1, "guests": null, "chan', "not JSON"),
                      ('{"schema": "kvmtune.demo-state/1", "seed": 1, "guests": null, "changed": '
                       '[[["guest", "nosuch", "live", "numatune"], null]]}', "unknown setting guest/nosuch"),
                      ('{"schema": "kvmtune.demo-state/1", "seed": 1, "guests": null, "changed": '
                       '[[["guest", "web-01", "live", "vcpu_pins"], [[99], null, null, null]]]}',
                       "guest/web-01/live/vcpu_pins: [99] is not a list of the demo's CPUs"),
                      ('{"schema": "kvmtune.demo-state/1", "seed": 3, "guests": null, "changed": []}',
                       "another demo")):
        (d / "state.json").write_text(text)
        for argv in (["snapshot", "--demo"], ["apply", "ksm", "--run", "0", "--demo"], ["undo", "--demo"],
                     ["--demo"]):
            p = kv(*argv, check=2)
            line, = p.stderr.splitlines()
            assert line.startswith(f"kvmtune: the demo's saved state {d / 'state.json'} cannot be used (")
            assert why in line and line.endswith("`kvmtune demo-reset` starts the demo afresh"), line
    assert "(it was unreadable)" not in kv("demo-reset").stdout   # that last one was JSON
    kv("snapshot", "--demo")


def test_every_setting_an_action_changes_is_kept(tmp_path):
    """Guest tunables live and config (pins, numatune, memtune, blkio, iotune) and host
    settings (KSM, hugepage pools, THP, NUMA balancing): saved at once after each action
    (the first demo is still open, as a killed process would be), loaded by the next open."""
    a = open_demo(persist=True)
    feed = DemoFeed(a)
    ex = actions.Executor(a)
    assert ex.log.path == demo_dir() / "actions.log"
    snap = feed.next()
    steps = [
        actions.VcpuPin("web-01", 0, (8, 9), "live"), actions.VcpuPin("web-01", 1, (10,), "config"),
        actions.EmulatorPin("web-01", (12, 13), "live"), actions.IoThreadPin("db-primary", 1, (4, 5), "live"),
        actions.NumaTune("legacy-erp", "interleave", "0-1", "config"),
        actions.MemTune("web-02", hard=4 * 1024 * 1024, scope="live"),
        actions.BlkioTune("web-02", 300, None, "live"),
        actions.BlkDevIoTune("web-02", "vda", {"total_iops_sec": 900}, "live"),
        actions.KsmSet({"pages_to_scan": 2000}), actions.HugepagePool(2048, 1, 3000),
        actions.ThpEnabled("never"), actions.NumaBalancing(False),
    ]
    for action in steps:
        r = ex.run(action, snap, confirmed=True)
        assert r.status == "applied", r.message
    b = open_demo(persist=True)          # `a` is neither closed nor collected: nothing waits for a close
    try:
        ga, gb = ({g.name: g for g in s.sim.guests} for s in (a, b))
        for name in ("web-01", "db-primary", "legacy-erp", "web-02"):
            assert gb[name].live == ga[name].live and gb[name].config == ga[name].config, name
        assert gb["web-01"].live.vcpu_pins[0] == (8, 9) and gb["web-01"].config.vcpu_pins[1] == (10,)
        assert gb["web-02"].live.iotune["vda"]["total_iops_sec"] == 900
        assert (b.sim.model.ksm, b.sim.model.pools, b.sim.model.thp, b.sim.model.numa_balancing) == \
               (a.sim.model.ksm, a.sim.model.pools, a.sim.model.thp, 0)
        assert b.sim.model.pools[2048][1] == 3000 and b.sim.model.thp["enabled"] == "never"
        s = DemoFeed(b).next()
        assert s.guest("web-02").memtune.hard_limit_kib == 4 * 1024 * 1024
        assert s.host.ksm.pages_to_scan == 2000 and s.host.numa_balancing == 0
    finally:
        b.close()
        feed.close()


def test_the_state_file_is_replaced_whole_never_rewritten_in_place():
    a = open_demo(persist=True)
    try:
        ex, snap = actions.Executor(a), DemoFeed(a).next()
        path = demo_dir() / "state.json"
        ex.run(actions.ThpEnabled("never"), snap)
        first = path.stat()
        ex.run(actions.ThpEnabled("always"), snap)
        assert path.stat().st_ino != first.st_ino           # a new file renamed over the old one
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert sorted(p.name for p in path.parent.iterdir()) == ["actions.log", "state.json", "state.json.lock"]
    finally:
        a.close()


def test_two_demo_processes_merge_and_see_each_other_and_a_reset():
    """Each save writes only what that process changed (under a lock); each step takes what
    others saved. A reset reaches a demo still open at its next step."""
    a, b = open_demo(persist=True), open_demo(persist=True)
    fa, fb = DemoFeed(a), DemoFeed(b)
    try:
        sa, sb = fa.next(), fb.next()
        assert actions.Executor(a).run(actions.ThpEnabled("never"), sa).status == "applied"
        pin = actions.VcpuPin("web-01", None, (20, 21), "live")
        assert actions.Executor(b).run(pin, sb, confirmed=True).status == "applied"
        # b's save kept a's THP change, and b took it in
        assert b.sim.model.thp["enabled"] == "never"
        sa = fa.next()       # a takes b's pin at its next step
        assert sa.guest("web-01").vcpus[0].affinity == (20, 21) and sa.host.thp_enabled == "never"
        p = kv("demo-reset")
        assert "2 changed settings" in p.stdout
        sa, sb = fa.next(), fb.next()
        for s in (sa, sb):
            assert s.host.thp_enabled == "madvise" and not s.guest("web-01").vcpus[0].pinned
        assert actions.Executor(a).undoable() == []
    finally:
        fa.close()
        fb.close()


def test_a_demo_built_directly_is_fresh_whatever_is_saved():
    """Tests (and the benchmarks) build the demo with open_demo(): one seed, one history."""
    a = open_demo(persist=True)
    try:
        actions.Executor(a).run(actions.ThpEnabled("never"), DemoFeed(a).next())
    finally:
        a.close()
    assert (demo_dir() / "state.json").exists()
    fresh = open_demo()
    try:
        assert DemoFeed(fresh).next().host.thp_enabled == "madvise"
    finally:
        fresh.close()


@pytest.mark.parametrize("argv", [["demo-reset", "--help"], ["log", "--help"]])
def test_help_says_where_the_demo_log_is(argv):
    out = kv(*argv).stdout
    assert "--demo" in out or "demo-reset" in out
    if argv[0] == "demo-reset":
        assert "moves the demo's audit log aside" in " ".join(out.split())


def test_a_change_the_demo_cannot_keep_says_so():
    a = open_demo(persist=True)
    try:
        snap = DemoFeed(a).next()
        (demo_dir() / "state.json").mkdir(parents=True)    # in the way of the save (a real OSError)
        r = actions.Executor(a).run(actions.ThpEnabled("never"), snap)
        assert r.status == "applied"
        assert r.message.endswith(f"(but the demo could not keep it: cannot write {demo_dir() / 'state.json'}: "
                                  "Is a directory)"), r.message
    finally:
        a.close()
