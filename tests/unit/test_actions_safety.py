"""An action changes only what the user asked for, and asks before what the guide warns of:
on the demo host (its simulated hypervisor and sysfs tree, the real collectors), through the
real Executor. Each case here is one an admin hit (issue 11)."""

from __future__ import annotations

import json
import re

import pytest
from clirun import kvmtune

from kvmtune.actions import (
    BlkDevIoTune,
    BlkioTune,
    EmulatorPin,
    Executor,
    HugepagePool,
    KsmSet,
    MemTune,
    MoveToNode,
    VcpuPin,
    display,
)
from kvmtune.demo import DemoFeed, open_demo

GIB = 1024 * 1024   # KiB


@pytest.fixture
def demo(tmp_path):
    src = open_demo(seed=1)
    feed = DemoFeed(src)
    ex = Executor(src, log_path=str(tmp_path / "actions.log"))
    yield feed, ex
    feed.close()


def no_raw_values(text: str) -> bool:
    """A sentence for a user: no dict or list literal, no bare KiB counts."""
    return not re.search(r"[{}\[\]]|\d{5,} KiB", text)


# -- CPUs another guest owns ---------------------------------------------------------------------

def test_pinning_onto_another_guests_dedicated_cpus_asks_and_names_it(demo):
    feed, ex = demo
    snap = feed.next()          # db-primary is pinned one vCPU per CPU on 8-15
    risks = VcpuPin("backup-01", None, (8, 9, 10, 11)).risks(snap)
    assert any("pinned by other guests (db-primary on 8-11)" in r for r in risks), risks
    assert any("6 vCPUs (backup-01 2, db-primary 4) would share 4 CPU(s) (8-11), 1.5:1" in r for r in risks)
    r = ex.run(VcpuPin("backup-01", None, (8, 9, 10, 11)), snap)
    assert r.status == "needs-confirmation"
    assert feed.source.hv.vcpu_affinity("backup-01")[0] == tuple(range(64))   # nothing changed
    # CPUs nobody has pinned, and unpinning, ask nothing
    assert VcpuPin("backup-01", None, (2, 3)).risks(snap) == []
    assert VcpuPin("db-primary", None, None).risks(snap) == []


def test_a_move_onto_a_node_another_guest_is_pinned_on_names_the_ratio(demo):
    feed, _ = demo
    snap = feed.next()          # build-runner is pinned one-to-one on node 2's 16-23
    risks = MoveToNode("analytics", (2,)).risks(snap)
    assert any("build-runner on 16-23" in r for r in risks), risks
    assert any("24 vCPUs (analytics 16, build-runner 8) would share 16 CPU(s) of node(s) 2 "
               "(16-23,48-55), 1.5:1" in r for r in risks), risks


# -- throttles of the disk the user chose, and only those --------------------------------------

def test_removing_an_existing_disk_limit_asks_naming_it(demo):
    feed, ex = demo
    snap = feed.next()          # backup-01's vdb: total_bytes_sec 50 MiB/s
    for values in ({"total_bytes_sec": 0}, {"read_bytes_sec": 1048576}):   # set to 0, or reset by libvirt
        r = ex.run(BlkDevIoTune("backup-01", "vdb", values), snap)
        assert r.status == "needs-confirmation", r.message
        assert "removes the existing limit(s) total_bytes_sec=52.4M/s of disk vdb of backup-01" in r.risks[0]
    assert feed.source.hv.block_iotune("backup-01", "vdb")["total_bytes_sec"] == 50 * 1048576
    # another disk, or a limit in another group, removes nothing
    assert BlkDevIoTune("backup-01", "vda", {"total_bytes_sec": 0}).risks(snap) == []
    assert BlkDevIoTune("backup-01", "vdb", {"total_iops_sec": 100}).risks(snap) == []


def test_undoing_a_throttle_restores_only_the_groups_it_touched(demo):
    feed, ex = demo
    snap = feed.next()
    assert ex.run(BlkDevIoTune("backup-01", "vdb", {"total_iops_sec": 300}), snap).status == "applied"
    u = ex.undo(feed.next())
    assert u.status == "applied", u.message
    line = display(u.commands[0])
    assert line == ("virsh blkdeviotune backup-01 vdb --total-iops-sec 0 --read-iops-sec 0 "
                    "--write-iops-sec 0 --live")
    assert feed.source.hv.block_iotune("backup-01", "vdb")["total_bytes_sec"] == 50 * 1048576


# -- what the guide warns of ---------------------------------------------------------------------

def test_soft_limit_above_hard_limit_asks(demo):
    feed, _ = demo
    snap = feed.next()          # cache-01: hard_limit 17 GiB
    r = MemTune("cache-01", soft=18 * GIB).risks(snap)
    assert r == ["soft_limit 18 GiB is above hard_limit 17 GiB: the soft limit would never take effect "
                 "(the guest is stopped at the hard one first)"]
    assert MemTune("cache-01", soft=16 * GIB).risks(snap) == []


def test_ksm_sleep_zero_asks(demo):
    feed, _ = demo
    snap = feed.next()
    assert "keeps a CPU busy" in KsmSet({"sleep_millisecs": 0}).risks(snap)[0]
    assert KsmSet({"sleep_millisecs": 1}).risks(snap) == []


def test_a_hugepage_pool_leaving_under_two_percent_free_asks(demo):
    feed, _ = demo
    snap = feed.next()
    node = snap.host.node(1)
    pool = node.hugepages[2048].total
    two_pct = node.mem_total_kib * 0.02
    # the most pages that still leave 2 % free, and one page more
    fits = int((node.mem_free_kib - two_pct) // 2048)
    assert HugepagePool(2048, 1, pool + fits).risks(snap) == []
    over = HugepagePool(2048, 1, pool + fits + 1)
    assert over.validate(snap) == []
    r = over.risks(snap)
    assert len(r) == 1 and r[0].startswith("node 1 would have only ")
    assert "of 127 GiB) once the pool grows" in r[0] and no_raw_values(r[0])


# -- what is shown is what runs -----------------------------------------------------------------

def test_shown_commands_are_runnable_and_exactly_what_runs(demo):
    feed, ex = demo
    snap = feed.next()
    empty = VcpuPin("web-02", None, ())
    assert empty.validate(snap) == ["the CPU list is empty"]
    assert empty.commands() == []                     # never `vcpupin web-02 all ''`
    pin_all = VcpuPin("web-02", None, (0, 1))
    pin_all.validate(snap)
    assert [display(c) for c in pin_all.commands()] == [
        f"virsh vcpupin web-02 {i} 0-1 --live" for i in range(4)]
    assert EmulatorPin("web-02", None).commands() == []   # unpin before the snapshot binds it

    # merge_across_nodes while pages are shared: run=2, the change, then run back as it was
    writes = []
    write = feed.source.fs.write_text
    feed.source.fs.write_text = lambda rel, text: (writes.append(f"echo {text} > /{rel}"), write(rel, text))[1]
    r = ex.run(KsmSet({"merge_across_nodes": 0}), snap, confirmed=True)
    assert r.status == "applied", r.message
    shown = [display(c) for c in r.commands]
    assert shown == ["echo 2 > /sys/kernel/mm/ksm/run", "echo 0 > /sys/kernel/mm/ksm/merge_across_nodes",
                     "echo 1 > /sys/kernel/mm/ksm/run"]
    assert writes == shown


def test_risk_texts_use_sizes_and_ranges(demo):
    feed, ex = demo
    snap = feed.next()
    texts = (MemTune("cache-01", hard=4 * GIB).risks(snap) + MoveToNode("analytics", (2,)).risks(snap)
             + HugepagePool(2048, 0, 0).risks(snap) + KsmSet({"merge_across_nodes": 0}).risks(snap))
    assert len(texts) >= 4 and all(no_raw_values(t) for t in texts), texts
    assert "hard_limit 4 GiB is below" in texts[0] and "16 GiB of RAM" in texts[0]
    # a change made behind kvmtune's back, named in words when undo would overwrite it
    assert ex.run(VcpuPin("web-01", 0, (4, 5)), snap).status == "applied"
    feed.source.hv.pin_vcpu("web-01", 0, (6,))
    u = ex.undo(feed.next())
    assert u.status == "needs-confirmation"
    assert "changed since #1 (vCPU 0 on 4-5 -> vCPU 0 on 6)" in u.risks[0] and no_raw_values(u.risks[0])


# -- live, config, or both ------------------------------------------------------------------------

def test_live_and_config_together_change_both(demo):
    feed, ex = demo
    snap = feed.next()
    r = ex.run(MemTune("web-01", hard=12 * GIB, scope="live+config"), snap)
    assert r.status == "applied" and r.message == "applied: memtune web-01 (live+config)"
    assert display(r.commands[0]) == "virsh memtune web-01 --hard-limit 12582912 --live --config"
    g = next(x for x in feed.source.sim.guests if x.name == "web-01")
    assert g.live.memtune.hard_limit_kib == g.config.memtune.hard_limit_kib == 12 * GIB
    # a stopped guest: its saved definition only
    assert "a live change needs it running" in \
        MemTune("legacy-erp", hard=12 * GIB, scope="live+config").validate(snap)[0]
    assert MemTune("legacy-erp", hard=12 * GIB, scope="config").validate(snap) == []


# -- undo says what it cannot restore, before it runs ----------------------------------------------

def test_undo_of_a_move_says_what_stays_and_asks(demo):
    feed, ex = demo
    snap = feed.next()          # analytics: no numatune, vCPUs float over 0-63
    assert ex.run(MoveToNode("analytics", (2,)), snap, confirmed=True).status == "applied"
    after = feed.next()
    u = ex.undo(after)
    assert u.status == "needs-confirmation", u.message
    gap = u.risks[0]
    assert "memory may live: it stays bound to node(s) 2 (numatune strict" in gap
    assert "its vCPUs would run on 0-63, of which 25% are on node(s) 2: memory locality would fall " \
           "to about 25%" in gap
    assert feed.source.hv.vcpu_affinity("analytics")[0] == tuple(range(16, 24)) + tuple(range(48, 56))
    done = ex.undo(feed.next(), u.undo_of, confirmed=True)
    assert done.status == "applied"
    assert feed.source.hv.vcpu_affinity("analytics")[0] == tuple(range(64))
    assert feed.source.hv.numatune("analytics").nodeset == "2"     # what it said would stay


def test_undo_preview_names_the_entry_and_logs_nothing(demo):
    feed, ex = demo
    snap = feed.next()
    assert ex.run(KsmSet({"run": 0}), snap).status == "applied"
    n = len(ex.entries())
    p = ex.undo(feed.next(), preview=True)
    assert p.status == "needs-confirmation" and p.undo_of == 1 and p.risks == []
    assert p.message.startswith("undo #1: ksm host (applied ") and p.message.endswith("; puts back run 0 -> 1?")
    assert [display(c) for c in p.commands] == ["echo 1 > /sys/kernel/mm/ksm/run"]
    assert len(ex.entries()) == n and feed.source.fs.read_int("sys/kernel/mm/ksm/run") == 0
    assert ex.undo(feed.next(), p.undo_of, confirmed=True, preview=True).status == "applied"


def test_cli_undo_of_a_move_asks_for_yes_naming_what_stays(tmp_path):
    r = kvmtune("apply", "move", "analytics", "--node", "2", "--yes", "--demo", state=tmp_path)
    assert r.returncode == 0, r.stderr
    r = kvmtune("undo", "--demo", state=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.splitlines()
    assert err[-3].startswith("kvmtune: undo #1: move analytics (applied ")     # the entry it would undo
    assert err[-2].startswith("kvmtune: risk: undo cannot restore where analytics's memory may live: it "
                              "stays bound to node(s) 2")
    assert err[-1] == "kvmtune: not undone: re-run `kvmtune undo 1 --yes --demo` to confirm"
    r = kvmtune("undo", "--demo", "--yes", state=tmp_path)
    assert r.returncode == 0, r.stderr
    snap = json.loads(kvmtune("snapshot", "--demo", "--json", state=tmp_path).stdout)
    g = next(x for x in snap["guests"] if x["name"] == "analytics")
    assert g["vcpus"][0]["affinity"] == list(range(64)) and g["numatune"]["nodeset"] == "2"


def test_every_libvirt_state_has_its_own_short_form():
    from typing import get_args

    from kvmtune.vocab import STATE_BY_CODE, STATE_SHORT, GuestState
    assert set(STATE_BY_CODE.values()) == set(get_args(GuestState)) == set(STATE_SHORT)
    assert len(set(STATE_SHORT.values())) == len(STATE_SHORT)       # "in shutdown" is not "in "
    assert STATE_SHORT["in shutdown"] != "in "


def test_undo_restores_each_scope_it_changed(demo):
    """A config or live+config change is read and undone in each definition it touched: the saved
    definition gets its own old value back, not the running guest's."""
    feed, ex = demo
    g = next(x for x in feed.source.sim.guests if x.name == "web-01")
    assert ex.run(MemTune("web-01", hard=20 * GIB, scope="live"), feed.next()).status == "applied"
    assert (g.live.memtune.hard_limit_kib, g.config.memtune.hard_limit_kib) == (20 * GIB, None)
    for scope in ("config", "live+config"):
        r = ex.run(MemTune("web-01", hard=24 * GIB, scope=scope), feed.next())
        assert r.status == "applied", r.message
        u = ex.undo(feed.next())
        assert u.status == "applied", u.message
        assert (g.live.memtune.hard_limit_kib, g.config.memtune.hard_limit_kib) == (20 * GIB, None), scope


def test_undo_of_a_live_and_config_move_restores_the_saved_numatune(demo):
    feed, ex = demo
    g = next(x for x in feed.source.sim.guests if x.name == "web-01")
    assert ex.run(MoveToNode("web-01", (3,), "live+config"), feed.next(), confirmed=True).status == "applied"
    assert g.config.numatune is not None and g.config.numatune.nodeset == "3"
    u = ex.undo(feed.next())
    assert u.status == "needs-confirmation"
    assert "stays bound to node(s) 3" in u.risks[0] and "restores the saved definition" in u.risks[0]
    assert ex.undo(feed.next(), u.undo_of, confirmed=True).status == "applied"
    assert g.config.numatune.nodeset == "0-3"         # every node: the saved definition is free again
    assert g.config.vcpu_pins == [None] * 4 and g.live.vcpu_pins == [None] * 4


def test_an_unset_blkio_weight_does_not_block_undo(demo):
    feed, ex = demo
    assert ex.run(BlkioTune("web-01", 300), feed.next()).status == "applied"
    u = ex.undo(feed.next())
    assert u.status == "needs-confirmation", u.message        # asked, not refused
    assert "had no blkio weight set before" in u.risks[0]
    assert ex.undo(feed.next(), u.undo_of, confirmed=True).status == "applied"
    assert ex.undoable() == []


def test_a_shrink_below_use_says_the_pages_in_use_stay(demo):
    feed, ex = demo
    r = ex.run(HugepagePool(2048, 0, 100), feed.next(), confirmed=True)   # node 0: 2048 pages held by mail-01
    assert r.status == "applied"
    assert "the pool keeps 2048 pages, not 100: pages in use cannot be freed" in r.message, r.message
    assert "contiguous" not in r.message


def test_a_bad_logged_time_is_a_question_mark_not_an_error(tmp_path):
    from kvmtune import fmt
    from kvmtune.actions import AuditLog
    assert [fmt.clock(t) for t in ("x", None, True, 1e300, float("nan"))] == ["?"] * 5
    log = tmp_path / "actions.log"
    AuditLog(log).append({"time": 1e300, "action": "ksm", "target": "host", "result": "applied"})
    AuditLog(log).append({"time": "noon", "action": "ksm", "target": "host", "result": "applied"})
    r = kvmtune("log", "--log", str(log), state=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines()[1:]] == ["?", "?"]
