"""A guest libvirt does not answer for (the test driver cannot stall, so one guest's stats call
is made to wait here, as libvirtd's does when it blocks holding the guest's lock): the other
guests come back fresh within the deadlines, the stalled one stale with its last state, and no
second call is made for it while the first still waits. The real stall (a stopped QEMU) is in
tests/lab/test_stall_lab.py."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

HOST_XML = Path(__file__).parent.parent / "fixtures" / "libvirt" / "two-guests.xml"
DEADLINE = 0.3


@pytest.fixture
def hv(tmp_path):
    from kvmtune.virt.libvirt_impl import LibvirtHypervisor
    xml = tmp_path / "host.xml"
    shutil.copy(HOST_XML, xml)
    h = LibvirtHypervisor(f"test://{xml}", stats_timeout=DEADLINE, call_timeout=DEADLINE)
    yield h
    h.close()


@pytest.fixture
def stall_beta(monkeypatch):
    """Calls about beta wait until the event is set; returns (event, calls made for beta)."""
    import libvirt
    release = threading.Event()
    calls = []
    real = libvirt.virConnect.domainListGetStats

    def waits(conn, doms, stats=0, flags=0):
        if any(d.name() == "beta" for d in doms):
            calls.append(len(doms))
            release.wait(10)
        return real(conn, doms, stats, flags)
    monkeypatch.setattr(libvirt.virConnect, "domainListGetStats", waits)
    yield release, calls
    release.set()


def _tick(hv):
    t = time.monotonic()
    infos = hv.list_guests()
    return {i.name: i for i in infos}, hv.guest_stats(), time.monotonic() - t


def test_a_guest_whose_stats_call_waits_is_stale_and_holds_up_nobody(hv, stall_beta):
    release, calls = stall_beta
    release.set()
    before, stats, _ = _tick(hv)
    assert set(before) == {"alpha", "beta"} and not any(s.stale for s in stats.values())
    release.clear()
    calls.clear()
    infos, stats, took = _tick(hv)
    # the one call (both guests: two are one chunk) misses its deadline; alone, beta misses it too
    assert took < 2 * DEADLINE + 0.5
    assert calls == [2, 1]
    assert stats["alpha"].stale is None and infos["alpha"].state == "running"
    assert infos["beta"] == before["beta"]          # its last state, as last read
    assert "no answer" in (stats["beta"].stale or "")
    # while beta's call still waits, none is added: beta is stale at once, alpha fresh
    infos, stats, took = _tick(hv)
    assert took < DEADLINE and calls == [2, 1]
    assert stats["alpha"].stale is None and "still waiting" in (stats["beta"].stale or "")
    # a settings read for it is refused at once too, not made to wait a second time
    from kvmtune.errors import Stalled
    with pytest.raises(Stalled):
        hv.guarded("beta", lambda: hv.memtune("beta"))
    release.set()
    end = time.monotonic() + 5
    while hv._reader.deadlines.busy("beta") and time.monotonic() < end:
        time.sleep(0.02)
    infos, stats, _ = _tick(hv)
    assert stats["beta"].stale is None and set(infos) == {"alpha", "beta"}


def test_the_collector_carries_a_stale_guests_block_counters_and_says_why(hv, stall_beta, tmp_path):
    """The collector: a stale guest keeps its last disk counters and settings (its getters
    are not asked), is flagged stale, and the errors say why."""
    from kvmtune.collect import Collector
    from kvmtune.hostfs import HostFS
    from kvmtune.source import Source
    release, _ = stall_beta
    release.set()
    (tmp_path / "root").mkdir()
    col = Collector(Source(HostFS(tmp_path / "root"), hv, hv.uri))
    first = col.collect()
    assert not any(g.stale for g in first.guests)
    release.clear()
    snap = col.collect()
    beta, alpha = snap.guest("beta"), snap.guest("alpha")
    assert beta is not None and beta.stale and alpha is not None and not alpha.stale
    assert beta.disks == first.guest("beta").disks and beta.memtune == first.guest("beta").memtune
    assert [e.source for e in snap.errors if "stale" in e.message] == ["beta: stats"]


def _as_qemu(st, balloon, held):
    """The test driver's record (state alone) as the QEMU driver's: a disk's block group and,
    when asked for, the balloon group; NOWAIT without the job (`held`): no monitor figures
    (the disk's name and path, balloon.current and maximum from the definition; no counters,
    no RSS). The real ones: tests/unit/test_bulk_stats.py, tests/lab/test_contention_lab.py."""
    out = {**st, "block.count": 1, "block.0.name": "vda", "block.0.path": "/guest/x.img"}
    if not held:
        out |= {"block.0.rd.reqs": 1, "block.0.rd.bytes": 512}
    if balloon:
        out |= {"balloon.current": 777, "balloon.maximum": 888} | ({} if held else {"balloon.rss": 99})
    return out


@pytest.fixture
def skip_beta(monkeypatch):
    """The stats call answers as the QEMU driver's (_as_qemu), for beta as NOWAIT does when
    another client holds its job `times` times, then in full; calls: (guests asked, balloon
    group asked) per call naming beta. The test driver has no jobs to hold; the real
    contention is in tests/lab/test_contention_lab.py."""
    import libvirt
    real = libvirt.virConnect.domainListGetStats
    left = {"times": 0}
    calls = []

    def answers(conn, doms, stats=0, flags=0):
        balloon = bool(stats & libvirt.VIR_DOMAIN_STATS_BALLOON)
        held = False
        if any(d.name() == "beta" for d in doms):
            calls.append((len(doms), balloon))
            held = left["times"] > 0
            left["times"] -= held
        return [(d, _as_qemu(st, balloon, held and d.name() == "beta"))
                for d, st in real(conn, doms, stats, flags)]
    monkeypatch.setattr(libvirt.virConnect, "domainListGetStats", answers)
    return left, calls


def test_a_guest_nowait_skipped_is_asked_once_more_and_read_fresh(hv, skip_beta):
    left, calls = skip_beta
    left["times"] = 1
    _infos, stats, _ = _tick(hv)
    assert calls == [(2, True), (1, True)]      # both guests, then beta alone (its balloon first read)
    assert stats["beta"].stale is None and stats["alpha"].stale is None
    # skipped every time: two more asks, then stale with why
    calls.clear()
    left["times"] = 3
    _infos, stats, took = _tick(hv)
    assert calls == [(2, False), (1, False), (1, False)] and took < DEADLINE
    assert "holds a job" in (stats["beta"].stale or "") and stats["alpha"].stale is None
    # still skipped the next tick while a call of ours is stuck (as on a stopped QEMU, whose job
    # that call holds): not asked again
    stuck = threading.Event()
    hv._reader.deadlines.run_many({"stuck": lambda: stuck.wait(10)}, 0.01)
    try:
        calls.clear()
        left["times"] = 1
        _infos, stats, _ = _tick(hv)
        assert calls == [(2, False)] and "holds a job" in (stats["beta"].stale or "")
    finally:
        stuck.set()
    end = time.monotonic() + 5
    while hv._reader.deadlines.any_busy() and time.monotonic() < end:
        time.sleep(0.02)
    # read in full again: asked again as before the next time it is skipped
    _infos, stats, _ = _tick(hv)
    assert stats["beta"].stale is None
    calls.clear()
    left["times"] = 1
    _infos, stats, _ = _tick(hv)
    assert calls == [(2, False), (1, False)] and stats["beta"].stale is None


def test_the_balloon_group_is_read_at_the_settings_cadence_and_carried_between(hv, skip_beta, monkeypatch):
    """The balloon group (a QEMU monitor query per guest) is asked for on a guest's first tick,
    then every 15-30 s, at once after a BALLOON_CHANGE event or a restart; the ticks between
    carry its values (the size the memory pane shows, the configured size)."""
    from kvmtune.virt import libvirt_stats
    _left, calls = skip_beta
    infos, stats, _ = _tick(hv)
    assert calls == [(2, True)] and infos["beta"].memory_kib == 777 and stats["beta"].balloon_max_kib == 888
    calls.clear()
    for _ in range(3):
        infos, stats, _ = _tick(hv)
        assert infos["beta"].memory_kib == 777 and stats["beta"].rss_kib == 99 and stats["beta"].stale is None
    assert calls == [(2, False)] * 3
    calls.clear()
    hv._reader.balloon_moved("beta")   # what the BALLOON_CHANGE event's callback does
    _tick(hv)
    assert calls == [(1, True)]        # beta alone with the group; alpha without
    calls.clear()
    monkeypatch.setattr(libvirt_stats, "BALLOON_EVERY", 0.0)   # each guest's time has come
    _tick(hv)
    assert calls == [(2, True)]


def test_a_listing_that_stalls_on_the_first_tick_says_why_and_the_next_tick_lists(hv, monkeypatch, tmp_path):
    """libvirtd blocked on a guest's lock makes even the listing wait (tests/lab/test_stall_lab.py
    has the real cases): later ticks use the last list, but the first has none, and showed an
    empty host without a word. Now the snapshot says why (and is marked disconnected: the
    guests could not be read), and once the listing answers the guests are there."""
    import libvirt
    from kvmtune.collect import Collector
    from kvmtune.hostfs import HostFS
    from kvmtune.source import Source
    release = threading.Event()
    real = libvirt.virConnect.listAllDomains

    def waits(conn, flags=0):
        release.wait(10)
        return real(conn, flags)
    monkeypatch.setattr(libvirt.virConnect, "listAllDomains", waits)
    (tmp_path / "root").mkdir()
    col = Collector(Source(HostFS(tmp_path / "root"), hv, hv.uri))
    try:
        snap = col.collect()
        assert snap.guests == () and snap.disconnected
        (err,) = [e for e in snap.errors if e.source == "libvirt"]
        assert "did not list the guests" in err.message and "asking again" in err.message
    finally:
        release.set()
    end = time.monotonic() + 5
    while hv._reader.deadlines.any_busy() and time.monotonic() < end:
        time.sleep(0.02)
    snap = col.collect()
    assert {g.name for g in snap.guests} == {"alpha", "beta"} and not snap.disconnected
