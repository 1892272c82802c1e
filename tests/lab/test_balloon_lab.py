"""The balloon on a real guest: read at the settings cadence, and at once when it moves.

kvmtune asks libvirt for the balloon stats group (a QEMU monitor query per guest with a
balloon device) every 15-30 s per guest, not every tick; the ticks between carry the size.
When the balloon moves (`virsh setmem`), libvirt's BALLOON_CHANGE event makes the next tick
read it. kvmtune-lab-io has a virtio balloon and its guest driver (scripts/lab/io.xml), so
its balloon really moves; the cadence is set to an hour here, so only the event can explain
the new size. Compared with `virsh dommemstat` (actual) and `virsh dominfo` (Used memory).
The guest is started again after (the balloon's round leaves its memory unlike a run's).
"""

from __future__ import annotations

import pytest
from labkit import IO, colon_table, lab_sh, restart_guest, virsh, wait_for

import libvirt


def _actual(name: str) -> int:
    return int(dict(line.split() for line in virsh("dommemstat", name).splitlines() if line.strip())["actual"])


def _used_kib(name: str) -> int:
    return int(colon_table(virsh("dominfo", name))["Used memory"].split()[0])


@pytest.fixture
def calls(monkeypatch):
    """The stats calls kvmtune makes: (guests, balloon group asked) each."""
    real = libvirt.virConnect.domainListGetStats
    made: list[tuple[frozenset[str], bool]] = []

    def counted(conn, doms, stats=0, flags=0):
        made.append((frozenset(d.name() for d in doms), bool(stats & libvirt.VIR_DOMAIN_STATS_BALLOON)))
        return real(conn, doms, stats, flags)
    monkeypatch.setattr(libvirt.virConnect, "domainListGetStats", counted)
    return made


def test_a_balloon_that_moves_is_read_on_the_next_tick(collector, calls, monkeypatch):
    from kvmtune.virt import libvirt_stats
    monkeypatch.setattr(libvirt_stats, "BALLOON_EVERY", 3600.0)
    full = _actual(IO)
    assert "model='virtio'" in virsh("dumpxml", IO).split("<memballoon", 1)[1].split(">", 1)[0], (
        f"{IO} was defined before it had a balloon: scripts/lab.sh down, then up")
    snap = collector.collect()
    assert snap.guest(IO).memory_kib == full == _used_kib(IO)
    assert any(IO in names and balloon for names, balloon in calls)   # its first tick reads it
    calls.clear()
    snap = collector.collect()
    assert snap.guest(IO).memory_kib == full
    assert calls and not any(balloon for _names, balloon in calls)    # the ticks between do not
    target = full - 64 * 1024
    try:
        virsh("setmem", IO, f"{target}K", "--live")
        assert wait_for(lambda: _actual(IO) == target, 30), f"the balloon did not move: {_actual(IO)} KiB"
        calls.clear()
        got = wait_for(lambda: collector.collect().guest(IO).memory_kib == target, 10, step=0.5)
        assert got, f"memory_kib did not follow the balloon to {target} KiB (virsh: {_actual(IO)})"
        assert _used_kib(IO) == target
        # it alone (once per BALLOON_CHANGE: QEMU sends one a second while the balloon moves)
        reads = [names for names, balloon in calls if balloon]
        assert reads and all(names == {IO} for names in reads), reads
    finally:
        # started again, not only given its memory back: the pages the balloon took come back
        # unmapped, and the memory tests count on the guest's pages as its run made them (KSM
        # merged too little of it after a balloon round). `up` gives the new tap its address.
        restart_guest(IO)
        lab_sh("up")
    assert _actual(IO) == full
