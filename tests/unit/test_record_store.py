"""The recording store: lossless, chains, appending, and files that are not (or no longer) recordings."""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.errors import RecordingError
from kvmtune.model import Error, Snapshot
from kvmtune.perfmodel import GuestPerf, PerfCounters
from kvmtune.record import codec, store
from kvmtune.record.store import Recording
from kvmtune.record.writer import Recorder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def demo_snaps(n: int, guests: int | None = None) -> list[Snapshot]:
    feed = DemoFeed(open_demo(seed=3, guests=guests))
    try:
        return [feed.next() for _ in range(n)]
    finally:
        feed.close()


def record(path: Path, snaps: list[Snapshot]) -> None:
    r = Recorder(path, source="demo", interval=2.0)
    for s in snaps:
        r.add(s)
    r.close()


@pytest.fixture(scope="module")
def snaps() -> list[Snapshot]:
    return demo_snaps(130)


def test_plain_is_the_v1_json() -> None:
    # patches carry plain() values; the reader applies them to to_json() documents
    snap = Snapshot.loads((FIXTURES / "snapshot-2node.json").read_text())
    for s in [snap, *demo_snaps(2)]:
        assert {"schema": s.to_json()["schema"], **codec.plain(s)} == s.to_json()


def test_a_key_is_the_v1_json_line_by_line(snaps: list[Snapshot]) -> None:
    """encode_key has orjson write the dataclasses itself: byte for byte the v1 document's
    lines, also where it must build them in Python (a counter past 64 bits)."""
    def by_json(s: Snapshot) -> bytes:
        doc = s.to_json()
        guests = doc.pop("guests")
        return b"\n".join([codec.dump_json(doc), *(codec.dump_json(g) for g in guests)])
    huge = replace(snaps[1], guests=(replace(snaps[1].guests[0], cpu_time_ns=2 ** 70), *snaps[1].guests[1:]))
    counted = PerfCounters(task_clock_ns=5, cycles=7)
    perf = GuestPerf(since=1.5, vcpus={0: counted, 1: PerfCounters()}, total=counted, accel="kvm",
                     exits={"exits": 9, "halt_exits": 3}, hardware="no PMU")
    with_perf = replace(snaps[2], guests=(replace(snaps[2].guests[0], perf=perf), *snaps[2].guests[1:]))
    for s in (*snaps[:3], huge, with_perf):
        assert codec.encode_key(s) == by_json(s)
    assert b"1180591620717411303424" in codec.encode_key(huge)


def test_patches_rebuild_every_document(snaps: list[Snapshot]) -> None:
    parts = codec.decode_key(codec.encode_key(snaps[0]))
    one = codec.decode_key(codec.encode_key(snaps[0]), {snaps[0].guests[2].name})
    for a, b in pairwise(snaps[:20]):
        patch = codec.encode_patch(a, b)
        assert patch is not None
        parts = codec.decode_patch(parts, patch)
        assert codec.document(parts) == b.to_json()
        one = codec.decode_patch(one, patch)   # one guest read, the others skipped
        assert codec.document(one) == {**b.to_json(), "guests": [b.to_json()["guests"][2]]}


def test_patches_of_every_kind_of_change(snaps: list[Snapshot]) -> None:
    """The patch text is written while the objects are walked: each kind of change (a string
    needing escapes, a name that is not ASCII, a float, None to a value, a list that grows, a
    dict's keys, a counter past 64 bits, which orjson refuses, a flag, a vCPU's affinity)
    rebuilds the exact document."""
    a = snaps[0]
    g, h = a.guests[0], a.guests[1]
    disk = g.disks[0] if g.disks else None
    changed = replace(g, state='paused "by" \\ admin\n', cpu_time_ns=2 ** 70, memtune=None,
                      numa_memory_kib={**(g.numa_memory_kib or {}), 7: 1},
                      vcpus=(replace(g.vcpus[0], pinned=not g.vcpus[0].pinned, affinity=(1, 2)),
                             *g.vcpus[1:], replace(g.vcpus[0], index=99, pcpu=None)),
                      disks=tuple(replace(d, rd_bytes=None, source="/vm/dé.qcow2") for d in g.disks))
    renamed = replace(h, name="dé-01 ☃", blkio_weight=None if h.blkio_weight else 500)
    b = replace(a, time=a.time + 2.5, guests=(changed, renamed, *a.guests[2:]),
                host=replace(a.host, thp_enabled="never", mem_free_kib=(a.host.mem_free_kib or 0) + 3))
    for x, y in ((a, b), (b, a)):
        parts = codec.decode_key(codec.encode_key(x))
        patch = codec.encode_patch(x, replace(y, guests=tuple(replace(gy, name=gx.name) for gx, gy
                                                               in zip(x.guests, y.guests))))
        assert patch is not None
        want = replace(y, guests=tuple(replace(gy, name=gx.name) for gx, gy in zip(x.guests, y.guests)))
        assert codec.document(codec.decode_patch(parts, patch)) == want.to_json()
    assert disk is None or codec.patch_text(disk, disk) is None
    assert codec.encode_patch(a, b) is None   # a guest renamed: a new chain starts


def test_tuples_of_dataclasses_are_walked_item_by_item() -> None:
    """A guest's vCPUs, disks and NICs (`tuple[X, ...]`, not optional) take the generated tuple
    walk, as `tuple[X, ...] | None` does; their items' args once read as alternatives of a union
    sent them through the general path, a call per item more (bench/record_cost.py (b))."""
    import typing

    from kvmtune.model import Guest, Host
    for cls, field in ((Guest, "vcpus"), (Guest, "disks"), (Guest, "nics"), (Guest, "iothreads"), (Host, "cpus")):
        assert codec._field_code(typing.get_type_hints(cls)[field]) is codec._SEQ, field
    assert codec._field_code(typing.get_type_hints(Guest)["emulator_affinity"]) is codec._PLAIN
    assert codec._field_code(typing.get_type_hints(Guest)["ksm"]) is codec._ANY


def test_a_guest_found_however_its_name_was_written(snaps: list[Snapshot]) -> None:
    """json escapes a name that is not ASCII, orjson does not: a one-guest read finds both."""
    import json
    s = replace(snaps[0], guests=(replace(snaps[0].guests[0], name="dé-01"), *snaps[0].guests[1:]))
    doc = s.to_json()
    guests = doc.pop("guests")
    for ascii in (True, False):   # (the writer's separators: no spaces)
        text = "\n".join(json.dumps(v, separators=(",", ":"), ensure_ascii=ascii)
                         for v in (doc, *guests)).encode()
        _, got = codec.decode_key(text, {"dé-01"})
        assert [g["name"] for g in got if g is not None] == ["dé-01"]


def test_lossless_across_chains_and_breaks(tmp_path: Path, snaps: list[Snapshot]) -> None:
    """Every stored sample reads back as the snapshot recorded, also where the guest list
    changes (a disconnected tick, a guest gone) and a new chain has to start."""
    mixed = list(snaps)
    mixed[70] = replace(mixed[70], guests=(), disconnected=True,
                        errors=(Error("libvirt", "connection lost"),))
    mixed[71] = replace(mixed[71], guests=mixed[71].guests[1:])
    path = tmp_path / "r.kvmrec"
    record(path, mixed)
    assert not Path(f"{path}-wal").exists()    # closed: one file to copy
    rec = Recording(path)
    assert len(rec) == len(mixed) and rec.times == [s.time for s in mixed]
    for i in (129, 0, 64, 70, 71, 72, 128):    # random access, in any order
        rec._cache = None
        assert rec.snapshot(i).to_json() == mixed[i].to_json(), i
    assert [rec.snapshot(i).to_json() for i in range(len(mixed))] == [s.to_json() for s in mixed]
    keys = sorted(set(rec.keys))
    assert len(keys) >= 4                      # 0, 60, 70 (disconnected), 71 (a guest fewer), 120...
    errors = rec.events(("error",))
    assert [(e.time, e.data["message"]) for e in errors] == [(mixed[70].time, "connection lost")]
    assert rec.index_at(mixed[5].time + 0.5) == 5 and rec.index_at(0) == 0


def test_only_named_guests_are_decoded(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "r.kvmrec"
    record(path, snaps[:5])
    name = snaps[0].guests[1].name
    got = Recording(path).snapshot(3, guests={name})
    assert [g.name for g in got.guests] == [name] and got.guests[0] == snaps[3].guests[1]


def test_without_the_host_cpus_every_sample_reads_back(tmp_path: Path, snaps: list[Snapshot]) -> None:
    """cpus=False (dump's csv) leaves the host's per-CPU times out of the whole chain, and a
    read with them after one without (or before) is not served from the other's cache."""
    path = tmp_path / "r.kvmrec"
    record(path, snaps[:40])
    rec = Recording(path)
    name = snaps[0].guests[1].name
    for i in (*range(40), 5, 6):
        s = snaps[i]
        want = replace(s, host=replace(s.host, cpus=()), guests=tuple(g for g in s.guests if g.name == name))
        assert rec.snapshot(i, {name}, cpus=False) == want
        assert rec.snapshot(i, {name}).host == s.host
        assert rec.snapshot(i, cpus=False) == replace(s, host=replace(s.host, cpus=()))


def test_appending_starts_a_session_and_a_key(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "r.kvmrec"
    record(path, snaps[:10])
    record(path, snaps[10:15])
    rec = Recording(path)
    assert len(rec.sessions) == 2 and rec.keys[10] == rec.seqs[10]
    assert [rec.snapshot(i).to_json() for i in range(15)] == [s.to_json() for s in snaps[:15]]
    # small pages from the start (a sample's last overflow page wastes less), kept when appending
    import sqlite3
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 1024


def test_dictionary_trained_and_used(tmp_path: Path) -> None:
    path = tmp_path / "r.kvmrec"
    record(path, demo_snaps(40, guests=30))
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM dicts").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM samples WHERE dict IS NOT NULL").fetchone()[0] > 0


@pytest.mark.parametrize("content, says", [
    (b"", "is empty"),
    (b"hello, world\n" * 100, "not a kvmtune recording (not an SQLite file)"),
], ids=["empty", "text"])
def test_bad_files_one_line(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=re.escape(says)):
        Recording(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot open"):
        Recording(tmp_path / "nope")
    with pytest.raises(RecordingError, match="not a file"):
        Recording(tmp_path)
    with pytest.raises(RecordingError, match="is a directory"):
        Recorder(tmp_path, source="x", interval=1)


def test_foreign_sqlite_is_neither_read_nor_written(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="not a kvmtune recording"):
        Recording(path)
    with pytest.raises(RecordingError, match="not adding to it"):
        Recorder(path, source="x", interval=1)


def _set_meta(path: Path, key: str, value: str) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.commit()
    db.close()


def test_newer_schema_reads_what_it_knows(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "r.kvmrec"
    record(path, snaps[:3])
    _set_meta(path, "schema", str(store.SCHEMA + 1))
    db = sqlite3.connect(path)   # a newer kvmtune's extra table and column
    db.execute("CREATE TABLE perf (x)")
    db.execute("ALTER TABLE samples ADD COLUMN extra BLOB")
    db.commit()
    db.close()
    rec = Recording(path)
    assert rec.newer and rec.snapshot(2).to_json() == snaps[2].to_json()
    with pytest.raises(RecordingError, match="record to a new file"):
        Recorder(path, source="x", interval=1)


def test_newer_codec_is_refused(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "r.kvmrec"
    record(path, snaps[:3])
    _set_meta(path, "codec", str(store.CODEC + 1))
    with pytest.raises(RecordingError, match="cannot read"):
        Recording(path)


def test_truncated_file(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "r.kvmrec"
    record(path, snaps)
    data = path.read_bytes()
    for cut in (100, len(data) // 3, len(data) - 5000):
        path.write_bytes(data[:cut])
        _read_everything(path)


def _read_everything(path: Path) -> None:
    """What replay and dump do with a file: only RecordingError may come out of it."""
    try:
        rec = Recording(path)
    except RecordingError as e:
        assert "\n" not in str(e)
        return
    try:
        for _i, s in rec.iter_snapshots():
            assert isinstance(s, (Snapshot, RecordingError))
        rec.events()
        rec.refresh()
    finally:
        rec.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("rec") / "r.kvmrec"
    record(path, demo_snaps(70, guests=6))
    return path.read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_corrupted_bytes_never_crash(tmp_path: Path, recorded: bytes, flips: list[tuple[float, int]]) -> None:
    data = bytearray(recorded)
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    path = tmp_path / "c.kvmrec"
    path.write_bytes(bytes(data))
    _read_everything(path)


def test_mutation_sweep(tmp_path: Path, recorded: bytes) -> None:
    """Random byte flips (a fixed seed), in SQLite's first pages and anywhere: the first
    version of the reader failed here on a flipped byte in SQLite's schema (a
    UnicodeDecodeError out of Recording())."""
    rnd = random.Random(12)
    damaged = 0
    for _ in range(50):
        data = bytearray(recorded)
        for _ in range(rnd.randint(1, 8)):
            # half in the first pages (SQLite's header and schema), half anywhere
            where = rnd.randrange(8192) if rnd.random() < 0.5 else rnd.randrange(len(data))
            data[where] = rnd.randrange(256)
        path = tmp_path / "m.kvmrec"
        path.write_bytes(bytes(data))
        try:
            rec = Recording(path)
        except RecordingError:
            damaged += 1
            continue
        damaged += any(isinstance(s, RecordingError) for _i, s in rec.iter_snapshots())
        rec.events()
        rec.close()
    assert damaged > 25     # most flips are found (SQLite's checks, the frames' checksums)


def test_appending_from_a_clock_behind_the_file_is_refused(tmp_path: Path, snaps: list[Snapshot]) -> None:
    """The demo's clock starts again each run: a second TUI --record to the same file used to
    write samples the reader then dropped (out of order); the writer refuses the first one."""
    path = tmp_path / "r.kvmrec"
    record(path, snaps[10:15])
    r = Recorder(path, source="demo", interval=2.0)
    with pytest.raises(RecordingError, match="later than this host's clock says now"):
        r.add(snaps[0])
    r.close()
    assert len(Recording(path)) == 5


def test_a_clock_stepped_back_mid_recording_loses_nothing(tmp_path: Path, snaps: list[Snapshot]) -> None:
    stepped = [*snaps[:5], replace(snaps[5], time=snaps[2].time), *snaps[6:9]]
    path = tmp_path / "r.kvmrec"
    record(path, stepped)
    rec = Recording(path)
    assert len(rec) == 9 and rec.times == sorted(rec.times)
    assert rec.snapshot(5).time == snaps[2].time and rec.index_at(snaps[8].time) == 8


def test_without_a_dictionary_every_sample_reads_back(tmp_path: Path, snaps: list[Snapshot],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """When no dictionary can be trained (too little to learn from: zstd refuses, as here
    where it is made to), patches go without one; the first writer marked them with
    dictionary 0, which the reader could not find (every patch after the 16th was damaged)."""
    def refuse(*_a: object, **_k: object) -> None:
        raise zstandard.ZstdError("cannot train dict: Src size is incorrect")
    monkeypatch.setattr(zstandard, "train_dictionary", refuse)
    path = tmp_path / "r.kvmrec"
    record(path, snaps[:40])
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM dicts").fetchone()[0] == 0
    rec = Recording(path)
    assert [rec.snapshot(i).to_json() for i in range(40)] == [s.to_json() for s in snaps[:40]]
