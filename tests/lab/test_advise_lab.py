"""The advisor on real guests: `kvmtune advise --json` names what the untuned lab guest
was defined with (writeback cache, an e1000 NIC, the default CPU model) and a memtune
hard_limit set close to a guest's use; the live fix, applied from the TUI (Enter on the
finding, its form prefilled, Enter), makes that finding go away on the next tick.

The hard_limit goes on kvmtune-lab-huge: its RAM is preallocated hugepages, so its use
(146 MiB with QEMU's own) sits near its 128 MiB size, and hugetlb pages are not charged to
the memory cgroup the limit applies to, so the limit cannot kill it. The guest is
restarted afterwards (its definition carries no memtune).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from labkit import HUGE, UNTUNED, URI, restart_guest, virsh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))   # uikit: the ui tier's Pilot helpers

CLOSE_MIB = 156   # with ~146 MiB in use: 94 % of the limit, and above the guest's 128 MiB


def advise(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    return subprocess.run([sys.executable, "-m", "kvmtune.cli", "advise", "--connect", URI, "--json", *args],
                          capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def codes(doc: dict, guest: str) -> set[str]:
    return {f["code"] for f in doc["findings"] if f["guest"] == guest}


@pytest.fixture
def close_limit():
    virsh("memtune", HUGE, "--hard-limit", str(CLOSE_MIB * 1024), "--live")
    yield HUGE
    restart_guest(HUGE)


def test_advise_json_names_the_untuned_guests_definition_and_the_close_limit(close_limit, tmp_path) -> None:
    p = advise(tmp_path)
    assert p.returncode == 1, p.stderr            # findings at or above the default threshold
    doc = json.loads(p.stdout)
    untuned = codes(doc, UNTUNED)
    # its cache='writeback' honours flushes: info with 6.3's advice, not the unsafe warning
    assert {"storage.cache_writeback", "net.model", "cpu.model"} <= untuned, untuned
    f = next(f for f in doc["findings"] if f["guest"] == HUGE and f["code"] == "memtune.hard_limit_close")
    assert f["severity"] == "critical" and f["section"] == "7.3.2"
    assert f"{CLOSE_MIB}.0M" in f["evidence"] or f"{CLOSE_MIB}M" in f["evidence"], f["evidence"]
    assert f["fix"]["action"] == "memtune" and f["fix"]["target"] == HUGE
    # the XML-only ones say how: the definition's snippet and a virt-xml line
    cache = next(f for f in doc["findings"] if f["guest"] == UNTUNED and f["code"] == "storage.cache_writeback")
    assert "cache='none'" in cache["fix"]["xml"] and cache["fix"]["virt_xml"][:2] == ["virt-xml", UNTUNED]
    # --guest narrows to one guest; the tuned plain guests have no memtune finding
    only = json.loads(advise(tmp_path, "--guest", UNTUNED).stdout)
    assert {f["guest"] for f in only["findings"]} == {UNTUNED}


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_the_live_fix_applied_from_the_tui_clears_the_finding(close_limit, monkeypatch, tmp_path) -> None:
    from uikit import idle, next_tick, ready, select

    from kvmtune.actions import Executor
    from kvmtune.feed import LiveFeed
    from kvmtune.source import open_live
    from kvmtune.ui.app import KvmtuneApp
    from kvmtune.ui.findings import FindingList
    from kvmtune.ui.forms import ActionForm

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))   # the action log and mutes of this test only
    src = open_live(URI)
    app = KvmtuneApp(LiveFeed(src), Executor(src), interval=3600.0)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot, app)
            code = "memtune.hard_limit_close"
            assert code in {f.code for f in app.frame.guest_findings(HUGE)}
            await select(pilot, app, HUGE)
            await pilot.press("enter")                  # into the Advice pane's list
            await pilot.pause()
            lst = app.query_one("#advice-list", FindingList)
            await pilot.press(*["down"] * [f.code for f in lst.items].index(code))
            assert lst.current is not None and lst.current.code == code
            await pilot.press("enter")                  # its fix: the memtune form, prefilled
            await pilot.pause()
            form = app.screen
            assert isinstance(form, ActionForm) and not form.problems, getattr(form, "problems", None)
            await pilot.press("enter")
            await idle(pilot, app)
            assert app.status_text.startswith(f"applied: memtune {HUGE}"), app.status_text
            await next_tick(pilot, app)
            hard = app.snap.guest(HUGE).memtune.hard_limit_kib
            assert hard is not None and hard > CLOSE_MIB * 1024
            assert code not in {f.code for f in app.frame.guest_findings(HUGE)}
    finally:
        src.close()
    # virsh agrees with what the form applied
    live = virsh("memtune", HUGE, "--live")
    assert str(hard) in live, live
