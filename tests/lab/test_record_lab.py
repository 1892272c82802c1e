"""Lab tier for recordings: `kvmtune record` on the real host while `kvmtune apply` changes
a lab guest from another process; the recording holds the action and the values before and
after it, as virsh showed them at the time, and the replay finds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labkit import PLAIN2, virsh, wait_for

from kvmtune.record.store import Recording

pytestmark = pytest.mark.lab


def weight(guest: str) -> int:
    for line in virsh("blkiotune", guest, "--live").splitlines():
        k, _, v = line.partition(":")
        if k.strip() == "weight":
            return int(v)
    raise AssertionError("virsh blkiotune shows no weight")


def kv(state: Path, *args: str, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    argv = [sys.executable, "-m", "kvmtune.cli", *args]
    if kw.get("background"):
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def samples(path: Path) -> int:
    try:
        rec = Recording(path)
    except Exception:
        return 0
    try:
        return len(rec)
    finally:
        rec.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):
    """A recording of the lab with one blkiotune weight change (and its undo) in it."""
    tmp = tmp_path_factory.mktemp("rec")
    path, state = tmp / "lab.kvmrec", tmp / "state"
    before = weight(PLAIN2)
    rec = kv(state, "record", str(path), "--interval", "0.5", background=True)
    try:
        wait_for(lambda: samples(path) >= 3, 60)
        applied = kv(state, "apply", "blkiotune", PLAIN2, "--weight", "321")
        assert applied.returncode == 0, applied.stderr
        during = weight(PLAIN2)
        n = samples(path)
        wait_for(lambda: samples(path) >= n + 3, 30)
        undone = kv(state, "undo")
        assert undone.returncode == 0, undone.stderr
        n = samples(path)
        wait_for(lambda: samples(path) >= n + 3, 30)
    finally:
        rec.send_signal(signal.SIGTERM)
        _out, err = rec.communicate(timeout=30)
        if weight(PLAIN2) != before:   # whatever happened: leave the guest as it was
            virsh("blkiotune", PLAIN2, "--weight", str(before), "--live")
    assert rec.returncode == 0, err
    assert during == 321 and weight(PLAIN2) == before
    return path, before


def test_the_recording_holds_the_action_and_its_effect(recorded) -> None:
    path, before = recorded
    rec = Recording(path)
    actions = [e for e in rec.events(("action",)) if e.data.get("target") == PLAIN2]
    assert [(e.data["action"], e.data["result"]) for e in actions] == [("blkiotune", "applied")] * 2
    assert actions[1].data.get("undo_of") == actions[0].data["id"]
    at = rec.index_at(actions[0].time)
    # the sample the action is filed with shows the new weight: the recorder re-read the
    # guest's settings for it (blkiotune raises no libvirt event), the first sample the old one
    assert rec.snapshot(at).guest(PLAIN2).blkio_weight == 321
    assert rec.snapshot(0).guest(PLAIN2).blkio_weight == before
    assert rec.snapshot(rec.index_at(actions[1].time)).guest(PLAIN2).blkio_weight == before
    assert rec.snapshot(len(rec) - 1).guest(PLAIN2).blkio_weight == before
    assert rec.host == os.uname().nodename and rec.sessions[0]["source"] == "qemu:///system"
    # every sample reads back, with the lab's guests in it
    for i in range(len(rec)):
        assert {g.name for g in rec.snapshot(i).guests} >= {PLAIN2}
    rec.close()


def test_samples_follow_the_interval(recorded) -> None:
    path, _ = recorded
    rec = Recording(path)
    gaps = [b - a for a, b in zip(rec.times, rec.times[1:])]
    assert gaps and all(0.3 < g < 3.0 for g in gaps), gaps
    assert rec.times[-1] - rec.times[0] <= time.time()
    rec.close()


# -- the lab recording in the view: Pilot and tmux at 80x24 ------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_the_lab_recording_replays_in_the_view(recorded) -> None:
    from uikit import ready, select, wait_for

    from kvmtune.record.replay import ReplayFeed
    from kvmtune.ui.app import KvmtuneApp
    path, before = recorded
    app = KvmtuneApp(ReplayFeed(Recording(path)), None, interval=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app, ticks=1)
        await select(pilot, app, PLAIN2)
        assert app.snap.guest(PLAIN2).blkio_weight == before
        await pilot.press("right_parenthesis")   # ")": the next recorded action
        await wait_for(pilot, lambda: f"blkiotune {PLAIN2}: applied" in app.status_text, what="next action")
        at = app.replay.position
        await wait_for(pilot, lambda: app.snap.time == app.replay.rec.times[at], what="the action's sample")
        assert app.snap.guest(PLAIN2).blkio_weight == 321
        await pilot.press("left_square_bracket")   # one sample back: before the change
        await wait_for(pilot, lambda: app.snap.time == app.replay.rec.times[at - 1], what="the sample before")
        assert app.snap.guest(PLAIN2).blkio_weight == before
        await pilot.press("p")
        assert "disabled: this is a recording" in app.status_text


def test_the_lab_recording_replays_in_tmux(recorded, tmp_path) -> None:
    from test_ui_tmux import Tmux
    path, _ = recorded
    t = Tmux(tmp_path, {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state")})
    try:
        t.start([sys.executable, "-m", "kvmtune.cli", "replay", str(path)])
        t.wait(f"1/{len(Recording(path))}")
        # the timeline is drawn a moment before the first sample's table (at 80 columns the
        # names are cut in the middle: kvmt…-plain2)
        s = t.wait(PLAIN2[-7:])
        assert "REPLAY" in s and f"1/{len(Recording(path))}" in s and all(len(line) <= 80 for line in s.splitlines())
        t.keys(")")
        t.wait(f"blkiotune {PLAIN2}: applied")
        t.keys("]")
        t.keys("q")
        assert t.exit_status() == 0
    finally:
        t.kill()
