"""The sample encoding: codec 2's short lines and float steps, and codec 1 files still read."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
import zstandard

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.errors import RecordingError
from kvmtune.model import Snapshot
from kvmtune.record import codec
from kvmtune.record.store import CODEC, PAGE_SIZE, Recording
from kvmtune.record.writer import Recorder

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "recordings" / "codec1-demo6x40.kvmrec"


@pytest.fixture(scope="module")
def snaps() -> list[Snapshot]:
    feed = DemoFeed(open_demo(seed=5, guests=12))
    try:
        return [feed.next() for _ in range(40)]
    finally:
        feed.close()


def _old_documents() -> list[dict[str, object]]:
    text = zstandard.ZstdDecompressor().decompress(OLD.with_name("codec1-demo6x40.jsonl.zst").read_bytes())
    return [json.loads(line) for line in text.splitlines()]


def test_a_chain_of_short_lines_rebuilds_every_document(snaps: list[Snapshot]) -> None:
    shapes: dict[int, str] = {}
    parts = codec.decode_key(codec.encode_key(snaps[0]))
    one = codec.decode_key(codec.encode_key(snaps[0]), {snaps[0].guests[3].name})
    short = 0
    for a, b in pairwise(snaps[:30]):
        patch = codec.encode_patch(a, b, shapes)
        assert patch is not None
        short += sum(1 for line in patch.split(b"\n") if line.partition(b" ")[2][:1] == b"=" or line[:1] == b"=")
        parts = codec.decode_patch(parts, patch)
        assert codec.document(parts) == b.to_json()
        one = codec.decode_patch(one, patch)   # one guest's lines only, its shapes kept
        assert codec.document(one) == {**b.to_json(), "guests": [b.to_json()["guests"][3]]}
    assert short > 29 * 6   # most lines keep their shape (the head among them)


def test_the_head_line_is_short_once_its_shape_is_known(snaps: list[Snapshot]) -> None:
    shapes: dict[int, str] = {}
    heads = [p.split(b"\n")[0] for p in (codec.encode_patch(a, b, shapes) or b"" for a, b in pairwise(snaps[:5]))]
    assert heads[0][:1] == b"{" and all(h[:1] == b"=" for h in heads[1:]), heads


def test_floats_off_the_hundredths_are_replaced_and_read_back_exactly(snaps: list[Snapshot]) -> None:
    a, b = snaps[0], snaps[1]
    cpus = tuple(replace(c, busy_s=(c.busy_s or 0) + 1 / 3, total_s=1e300 if i == 1 else c.total_s)
                 for i, c in enumerate(b.host.cpus))
    b = replace(b, time=a.time + 0.1 + 0.2, host=replace(b.host, cpus=cpus, loadavg=(0.1, 1 / 7, 2.0)))
    for x, y in ((a, b), (b, a), (b, b)):
        shapes: dict[int, str] = {}
        parts = codec.decode_key(codec.encode_key(x))
        prev = x
        for z in (y, x, y, x, y):   # in full, then as numbers where the shape holds
            patch = codec.encode_patch(prev, z, shapes)
            assert patch is not None
            parts = codec.decode_patch(parts, patch)
            assert Snapshot.from_json(codec.document(parts)) == z
            prev = z


def test_a_line_of_numbers_without_its_shape_is_damage(tmp_path: Path, snaps: list[Snapshot]) -> None:
    parts = codec.decode_key(codec.encode_key(snaps[0]))
    shapes: dict[int, str] = {}
    codec.encode_patch(snaps[0], snaps[1], shapes)
    patch = codec.encode_patch(snaps[1], snaps[2], shapes)
    assert patch is not None
    with pytest.raises(ValueError, match="no shape"):
        codec.decode_patch(parts, patch)   # the first patch of the chain skipped
    first = codec.decode_patch(parts, codec.encode_patch(snaps[0], snaps[1]) or b"")
    head, _, rest = patch.partition(b"\n")
    with pytest.raises(ValueError, match="does not fit"):
        codec.decode_patch(first, head + b",1\n" + rest)


def test_a_new_file_is_codec_2_in_small_pages(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "new.kvmrec"
    r = Recorder(path, source="demo", interval=2.0)
    for s in snaps:
        r.add(s)
    r.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'codec'").fetchone() == (str(CODEC),)
    assert db.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    db.close()
    rec = Recording(path)
    assert [rec.snapshot(i) for i in range(len(rec))] == snaps
    rec.close()


def test_a_codec_1_recording_reads_back_exactly() -> None:
    want = _old_documents()
    rec = Recording(OLD)
    assert rec.meta["codec"] == "1" and len(rec) == len(want) == 40
    assert [rec.document(i) for i in range(len(rec))] == want
    name = str(want[0]["guests"][2]["name"])   # type: ignore[index]
    assert [rec.document(i, {name})["guests"] for i in range(len(rec))] == [[d["guests"][2]] for d in want]  # type: ignore[index]
    rec.close()


def test_a_codec_1_file_appended_to_is_marked_codec_2(tmp_path: Path, snaps: list[Snapshot]) -> None:
    path = tmp_path / "old.kvmrec"
    shutil.copy(OLD, path)
    later = [replace(s, time=s.time + 10_000) for s in snaps[:35]]
    r = Recorder(path, source="demo", interval=2.0)
    for s in later:
        r.add(s)
    r.close()
    rec = Recording(path)
    assert rec.meta["codec"] == str(CODEC)
    assert [rec.document(i) for i in range(40)] == _old_documents()
    assert [rec.snapshot(i) for i in range(40, len(rec))] == later
    rec.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '3' WHERE key = 'codec'")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="codec 3"):
        Recording(path)


def test_values_left_out_of_a_shape_and_shapes_widened(snaps: list[Snapshot]) -> None:
    """A vCPU that keeps its CPU one tick leaves its value out of the line (empty, or null where
    the line holds text, whose ",," is no empty value); one that takes a new field widens the
    shape in a line in full; the next chain's first patch keeps the wide shape."""
    base = snaps[0]
    g = base.guests[0]
    v = g.vcpus[0]

    def tick(n: int, pcpu: int, state: str | None) -> Snapshot:
        vc = replace(v, cpu_time_ns=(v.cpu_time_ns or 0) + n * 1000, pcpu=pcpu, state=state)  # type: ignore[arg-type]
        return replace(base, time=base.time + 2 * n, guests=(replace(g, vcpus=(vc, *g.vcpus[1:])), *base.guests[1:]))
    chain = [tick(0, 1, None), tick(1, 2, None), tick(2, 2, None), tick(3, 2, "a,,b"), tick(4, 3, "a,,b"),
             tick(5, 3, "c,,d"), tick(6, 3, None), tick(7, 3, None)]
    shapes: dict[int, str] = {}
    parts = codec.decode_key(codec.encode_key(chain[0]))
    lines = []
    for n, (a, b) in enumerate(pairwise(chain)):
        patch = codec.encode_patch(a, b, shapes, fresh=n == 5)   # a new chain's first patch
        assert patch is not None
        lines.append(patch.split(b"\n")[1])
        if n == 5:
            parts = codec.decode_key(codec.encode_key(a))
        parts = codec.decode_patch(parts, patch)
        assert Snapshot.from_json(codec.document(parts)) == b
    assert lines[1] == b"0 =,1000" and lines[3] == b"0 =1,1000,", lines
    assert lines[2].startswith(b"0 {") and lines[4].startswith(b"0 =null,1000,"), lines
    assert lines[5].startswith(b"0 {") and b"null" in lines[5] and lines[6] == b"0 =,1000,", lines
