"""The guest collector through the real libvirt-python code path, on the libvirt test driver.

Each test gets its own copy of the host XML (test:///<abs path>), so state never leaks.
"""

from __future__ import annotations

import pytest

from kvmtune.collect import Collector
from kvmtune.model import Snapshot
from kvmtune.source import open_live
from kvmtune.virt.interface import GuestGone


def test_every_guest_with_its_settings(two_guests):
    snap = Collector(two_guests).collect()
    assert not snap.disconnected
    by = {g.name: g for g in snap.guests}
    assert set(by) == {"alpha", "beta"}
    a = by["alpha"]
    assert a.uuid == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert a.state == "running" and a.id is not None
    assert a.memory_kib == 131072
    assert [v.affinity for v in a.vcpus] == [(1,), tuple(range(8))]
    assert a.vcpus[0].pinned
    assert a.emulator_affinity == (2, 3)
    assert a.numatune is not None and (a.numatune.mode, a.numatune.nodeset) == ("strict", "0")
    assert a.memtune.hard_limit_kib == 1048576 and a.memtune.soft_limit_kib is None
    assert a.blkio_weight == 500
    (disk,) = a.disks
    assert (disk.target, disk.source, disk.cache, disk.io) == ("vda", "/guest/alpha.img", "none", "native")
    assert disk.iotune["total_bytes_sec"] == 1048576 and disk.iotune["read_iops_sec"] == 0
    b = by["beta"]
    assert b.numatune is None          # no <numatune> in its XML
    assert b.memtune.hard_limit_kib is None
    assert b.blkio_weight is None and b.disks == ()


def test_settings_follow_our_own_changes(two_guests):
    c = Collector(two_guests)
    c.collect()
    two_guests.hv.pin_vcpu("alpha", 1, (4, 5), scope="current")  # the test driver takes flags 0 only
    two_guests.hv.set_memtune("alpha", {"hard_limit_kib": None, "soft_limit_kib": 524288})
    two_guests.hv.set_block_iotune("alpha", "vda",
                               {"total_bytes_sec": 0, "total_iops_sec": 500, "total_iops_sec_max": 1000})
    a = c.collect().guest("alpha")
    assert a.vcpus[1].affinity == (4, 5)
    assert a.memtune.hard_limit_kib is None and a.memtune.soft_limit_kib == 524288
    assert a.disks[0].iotune["total_iops_sec"] == 500 and a.disks[0].iotune["total_bytes_sec"] == 0


def test_settings_are_cached_between_ticks(two_guests):
    """A change made behind kvmtune's back (no event from the test driver) shows after the refresh period."""
    c = Collector(two_guests, settings_every=3600)
    c.collect()
    # behind the collector (the test driver shares state only within one connection)
    dom = two_guests.hv._conn.lookupByName("alpha")
    dom.pinVcpuFlags(1, (False, False, False, False, False, False, True, False), 0)
    assert c.collect().guest("alpha").vcpus[1].affinity == tuple(range(8))
    c.guests.settings_every = 0
    assert c.collect().guest("alpha").vcpus[1].affinity == (6,)


def test_guest_destroyed_between_ticks(two_guests):
    c = Collector(two_guests)
    c.collect()
    two_guests.hv._conn.lookupByName("beta").destroy()
    beta = c.collect().guest("beta")
    assert beta is not None and beta.state == "shut off" and beta.id is None and beta.pid is None


def test_vanished_guest_raises_guest_gone(two_guests):
    with pytest.raises(GuestGone):
        two_guests.hv.vcpu_affinity("no-such-guest")


def test_settings_reads_use_the_listed_handles(two_guests, monkeypatch):
    """A settings read made eight lookups by name (a round trip each) and a blockIoTune per
    disk; the listing's handles and the live XML's <iotune> serve now. A handle names its
    guest by UUID: it holds across a restart, and a namesake defined since is not taken for
    the guest that was listed (the next listing has it)."""
    hv = two_guests.hv
    c = Collector(two_guests)
    c.collect()
    conn = hv._conn
    lookups: list[str] = []
    real = conn.lookupByName
    monkeypatch.setattr(conn, "lookupByName", lambda n: lookups.append(n) or real(n))
    asked: list[str] = []   # blockIoTune, a QEMU monitor query per disk: the live XML has the throttles
    monkeypatch.setattr(hv, "block_iotune", lambda name, disk, *a: asked.append(disk))
    c.guests.settings_every = 0
    a = c.collect().guest("alpha")
    assert lookups == [] and a.emulator_affinity == (2, 3) and a.disks[0].iotune["total_bytes_sec"] == 1048576
    assert asked == []
    n = len(hv.vcpu_affinity("beta"))
    dom = real("beta")
    dom.destroy()
    dom.create()
    assert len(hv.vcpu_affinity("beta")) == n and lookups == []   # restarted: the same handle
    xml = dom.XMLDesc(0)
    dom.destroy()
    dom.undefine()
    conn.defineXML(xml.replace(dom.UUIDString(), "8a5c2a6e-0f1b-4bde-9a41-0d1f6cbb00ff"))
    with pytest.raises(GuestGone):
        hv.vcpu_affinity("beta")   # the listed beta is gone: its namesake is another guest
    conn.defineXML(xml.replace(dom.UUIDString(), "8a5c2a6e-0f1b-4bde-9a41-0d1f6cbb00fe")
                   .replace("<name>beta</name>", "<name>gamma</name>"))
    assert len(hv.vcpu_affinity("gamma")) == n and lookups == ["gamma"]   # not listed: by name
    assert {g.name: g.uuid for g in hv.list_guests()}["beta"] == "8a5c2a6e-0f1b-4bde-9a41-0d1f6cbb00ff"
    assert len(hv.vcpu_affinity("beta")) == n and lookups == ["gamma"]


def test_a_periodic_re_read_asks_the_getters_only_when_the_xml_changed(two_guests, monkeypatch):
    """libvirt writes each pin, numatune, memtune, blkiotune and throttle it makes into the live
    XML: when a guest's period is up and its XML is as it was, its seven getters are not asked
    again, except every settings_full_every s (a change made around libvirt shows then)."""
    hv = two_guests.hv
    c = Collector(two_guests)
    c.collect()
    asked: list[str] = []
    real = hv.vcpu_affinity
    monkeypatch.setattr(hv, "vcpu_affinity", lambda name, *a: asked.append(name) or real(name, *a))
    c.guests.settings_every = 0   # every tick: the period is up for every guest
    c.collect()
    a = c.collect().guest("alpha")
    assert asked == [] and a.vcpus[0].affinity == (1,) and a.memtune.hard_limit_kib == 1048576
    # behind the collector, on its own connection (the test driver sends no event for it)
    hv._conn.lookupByName("alpha").pinVcpuFlags(1, (False,) * 6 + (True, False), 0)
    assert c.collect().guest("alpha").vcpus[1].affinity == (6,) and asked == ["alpha"]
    c.guests.settings_full_every = 0
    c.collect()
    assert sorted(asked) == ["alpha", "alpha", "beta"]


def test_json_round_trip_of_a_collected_snapshot(two_guests):
    snap = Collector(two_guests).collect()
    assert Snapshot.loads(snap.dumps()) == snap


def test_unreachable_uri_gives_a_snapshot_with_an_error(tmp_path):
    src = open_live(f"test://{tmp_path}/missing.xml")
    snap = Collector(src).collect()
    assert snap.disconnected and snap.guests == ()
    assert any(e.source == "libvirt" for e in snap.errors)
    assert snap.host.hostname  # host figures still come


def test_a_guest_list_that_fails_once_keeps_the_last_guests(two_guests, monkeypatch):
    """A libvirt error that is not a lost connection (a stats call failing) made the guests
    vanish for a tick: the TUI's table emptied, the exporter dropped every guest series and
    a recording started a new chain. The last guests stay, marked stale, with the error."""
    from kvmtune.frame import Framer
    from kvmtune.virt.interface import VirtError
    c, framer = Collector(two_guests), Framer()
    before = framer.push(c.collect())
    real = two_guests.hv.list_guests

    def failing():
        monkeypatch.setattr(two_guests.hv, "list_guests", real)
        raise VirtError("internal error: the stats call failed")
    monkeypatch.setattr(two_guests.hv, "list_guests", failing)   # an error the test driver cannot be made to give
    raw = c.collect()
    stale = framer.push(raw)
    assert raw.disconnected and stale.stale
    assert [g.name for g in stale.snap.guests] == [g.name for g in before.snap.guests]
    assert {g.name for g in stale.snap.guests} == {"alpha", "beta"}
    assert any("the stats call failed" in e.message for e in raw.errors)
    again = c.collect()
    assert not again.disconnected and {g.name for g in again.guests} == {"alpha", "beta"}
