"""A stalled guest does not stall a tick, on the scale lab (the lab's 5 guests + SCALE more).

The stall is the real one: the guest's QEMU is stopped (SIGSTOP), as when it blocks on
storage, so libvirt's monitor query for its block counters never returns (measured: a
stats call that reaches it waits without end, NOWAIT or not). One tick must still return
every other guest, fresh, within its deadlines, and the stalled guest stale with its last
counters: the call stuck on it misses its deadline, and the guest-by-guest round that
follows finds the guest's job held by that call, so NOWAIT skips it. The next tick
waits for no deadline at all. SIGCONT in a finally, whatever happens.

The scale guests are started here when they are not up (`lab.sh scale-up`, ~40 s for 50)
and removed after (`scale-down`), so the other lab tests see the 5-guest lab.
KVMTUNE_LAB_STALL_SCALE sets how many (0: the 5-guest lab only).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from labkit import PLAIN1, guest_pid, lab_sh, virsh, wait_for

SCALE = int(os.environ.get("KVMTUNE_LAB_STALL_SCALE", "50"))


def _running() -> set[str]:
    return set(virsh("list", "--name", "--state-running").split())


@pytest.fixture(scope="module")
def scale_lab():
    scale = {f"kvmtune-lab-scale-{i:02d}" for i in range(1, SCALE + 1)}
    started = bool(scale - _running())
    if started:
        t = time.monotonic()
        lab_sh("scale-up", str(SCALE), timeout=900)
        print(f"scale-up {SCALE}: {time.monotonic() - t:.1f} s")
    try:
        yield scale
    finally:
        if started:
            t = time.monotonic()
            lab_sh("scale-down", timeout=900)
            print(f"scale-down: {time.monotonic() - t:.1f} s")


def _tick(col, limit: float = 60.0):
    """One collection and its wall time; a tick stuck past `limit` fails the test (the thread
    is left behind: a stuck libvirt call cannot be interrupted)."""
    box = []
    t = time.monotonic()
    th = threading.Thread(target=lambda: box.append(col.collect()), daemon=True)
    th.start()
    th.join(limit)
    if not box:
        pytest.fail(f"a tick did not return within {limit:g} s")
    return box[0], time.monotonic() - t


def _counters(g):
    return [(d.target, d.rd_bytes, d.wr_bytes, d.rd_reqs, d.wr_reqs) for d in g.disks]


def test_one_stopped_guest_leaves_every_other_guest_fresh_within_the_deadlines(scale_lab, source):
    from kvmtune.collect import Collector
    stalled = max(scale_lab) if scale_lab else PLAIN1   # kvmtune-lab-scale-50: read last in no order
    col = Collector(source)
    col.collect()                        # the first tick reads every guest's settings
    before = col.collect()
    running = _running()
    assert {g.name for g in before.guests if g.running} == running and stalled in running
    assert not any(g.stale for g in before.guests)
    assert _counters(before.guest(stalled))[0][1] is not None
    deadline = source.hv.stats_timeout
    pid = guest_pid(stalled)
    os.kill(pid, signal.SIGSTOP)
    try:
        snap, took = _tick(col)
        # the parallel calls' deadline, then the guest-by-guest round's, plus the tick's own work
        assert took < 2 * deadline + 2.0, f"a tick took {took:.2f} s with {stalled} stopped"
        g = snap.guest(stalled)
        assert g is not None and g.stale and g.state == "running"
        assert _counters(g) == _counters(before.guest(stalled))   # the last counters, carried
        others = [o for o in snap.guests if o.name != stalled]
        assert {o.name for o in others if o.running} == running - {stalled}   # virsh's running guests
        assert not [o.name for o in others if o.stale]
        assert all(d.rd_reqs is not None for o in others if o.running for d in o.disks)
        # it waited out one deadline (a call stuck on the guest), then asked guest by guest: by
        # then the stuck call held the guest's job, and NOWAIT skipped it
        assert took >= deadline
        why = [e.message for e in snap.errors if e.source == f"{stalled}: stats"]
        assert why and "holds a job" in why[0], snap.errors
        # the next tick waits for no deadline: the stuck call still holds the job
        snap2, took2 = _tick(col)
        assert snap2.guest(stalled).stale and not [o.name for o in snap2.guests if o.stale and o.name != stalled]
        assert took2 < deadline, f"the second tick took {took2:.2f} s"
        print(f"{len(snap.guests)} guests; stalled tick {took:.2f} s, next {took2:.2f} s "
              f"(deadline {deadline:g} s)")
    finally:
        os.kill(pid, signal.SIGCONT)
    fresh = wait_for(lambda: not (s := col.collect()).guest(stalled).stale and s, timeout=20)
    assert fresh, f"{stalled} still stale 20 s after SIGCONT"
    assert _counters(fresh.guest(stalled))[0][1] is not None


def test_kvmtune_started_while_a_guest_is_stopped_shows_every_guest_on_its_first_tick(scale_lab, source):
    """The first tick also reads every guest's settings. With a stats call stuck on the stopped
    guest, libvirt made getters of other guests wait too (measured: vcpuPinInfo,
    memoryParameters, numaParameters, blockIoTune): the first read that misses its deadline
    ends the settings reads of the tick, so it takes one settings deadline more, not one per
    guest; the guests not read show without settings until the stall ends."""
    from kvmtune.collect import Collector
    stalled = max(scale_lab) if scale_lab else PLAIN1
    hv = source.hv
    pid = guest_pid(stalled)
    os.kill(pid, signal.SIGSTOP)
    try:
        running = _running()
        snap, took = _tick(Collector(source))
        # two stats rounds, the stopped guest's settings deadline, and every other guest's settings
        assert took < 2 * hv.stats_timeout + hv.call_timeout + 4.0, f"the first tick took {took:.2f} s"
        assert {g.name for g in snap.guests if g.running} == running
        assert [g.name for g in snap.guests if g.stale] == [stalled]
        assert any(e.source.endswith(": settings") for e in snap.errors), snap.errors
        print(f"first tick with {stalled} stopped: {took:.2f} s")
    finally:
        os.kill(pid, signal.SIGCONT)


def test_an_action_on_a_stopped_guest_fails_in_time_says_why_and_changes_nothing(tmp_path):
    """`kvmtune apply blkdeviotune` on a guest whose QEMU is stopped: libvirt waits for its
    monitor without end, so kvmtune must not. Reading the current limits misses --timeout (or,
    while an earlier call about the guest still waits, is refused at once): nothing is set,
    exit 1, the attempt logged; after SIGCONT the limit is as it was."""
    import json
    import subprocess
    import sys

    from labkit import PLAIN2
    before = virsh("blkdeviotune", PLAIN2, "vda")
    log = tmp_path / "actions.log"
    pid = guest_pid(PLAIN2)
    os.kill(pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "kvmtune.cli", "apply", "blkdeviotune", PLAIN2, "vda",
                            "--total-iops-sec", "4321", "--timeout", "3", "--yes", "--log", str(log),
                            "--connect", "qemu:///system"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        took = time.monotonic() - t
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"apply on a stopped guest: exit {p.returncode} in {took:.1f} s: {p.stderr.strip()}")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert f"about {PLAIN2}" in p.stderr and "nothing was changed" in p.stderr, p.stderr
    assert took < 30, f"{took:.1f} s"   # the snapshot's stats deadlines and this one's, not forever
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["result"] == "failed" and entry["before"] is None
    assert wait_for(lambda: virsh("blkdeviotune", PLAIN2, "vda") == before, 20), "the limit changed"
