"""The recording file: SQLite (WAL) holding compressed snapshots, indexed by time; its
format (docs/recording.md) and its reader, Recording. The writer is writer.py.

One file, so it can be copied to another machine and replayed there with no libvirt.
Each sample is one row committed as it is taken: a `kill -9` of the recorder loses at most
the sample in flight, and the file still opens (SQLite rolls back the unfinished write).

A sample is either a key (the v1 JSON of the snapshot, `Snapshot.to_json`) or a patch from
the sample before it (codec.py); a key starts each chain of KEY_EVERY samples, so reading
any moment decodes one key and at most KEY_EVERY - 1 small patches. Rows are zstd
frames; patches use a dictionary trained on the recording's first patches, stored in the
file, when it makes them smaller (it does on every host measured: bench/record_cost.py).

Tables: meta (format, schema, codec), sessions (one per `record` run or TUI recording:
host, source, interval, kvmtune version), samples (seq, time, key, dict, data), dicts,
events (actions from the audit log, collection errors). A newer kvmtune may add tables
and columns, never change these: an older one reads what it knows (`Recording.newer`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import zstandard

from .. import __version__
from ..errors import RecordingError
from ..model import Snapshot
from . import codec

_T = TypeVar("_T")

FORMAT = "kvmtune.recording"
SCHEMA = 1          # the tables above; a newer file is read with what this version knows
CODEC = 1           # how a sample's data is encoded; a newer codec cannot be read
KEY_EVERY = 30      # samples per chain: a key, then patches (a seek decodes at most 29)
TRAIN_AFTER = 16    # patches collected before a dictionary is trained
DICT_SIZE = 64 * 1024
LEVEL = 1           # zstd level: on the demo hosts (100 and 1000 guests) level 1 is smaller than 3, and twice as fast
PAGE_SIZE = 1024     # SQLite pages of new files: a sample row ends in a mostly empty overflow page (4096 wastes most)
# What reading a damaged file can raise (a flipped byte can land in SQLite's pages, a
# frame, the JSON, a patch): each becomes a RecordingError naming the file or sample.
_DAMAGE = (sqlite3.Error, zstandard.ZstdError, ValueError, TypeError, KeyError, IndexError,
           OverflowError, MemoryError, RecursionError)
MAX_SAMPLE = 1 << 30    # bytes a sample may decode to: a damaged frame header may claim anything

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, started REAL NOT NULL, host TEXT NOT NULL,
    source TEXT NOT NULL, interval REAL NOT NULL, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS samples (seq INTEGER PRIMARY KEY, time REAL NOT NULL, key INTEGER NOT NULL,
    dict INTEGER, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS samples_time ON samples (time);
CREATE INDEX IF NOT EXISTS samples_index ON samples (seq, time, key);   -- read on open: no data pages
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
"""


def db_error(path: Path, e: sqlite3.Error) -> RecordingError:
    text = str(e)
    if "not a database" in text:
        return RecordingError(f"{path} is not a kvmtune recording (not an SQLite file)")
    if "malformed" in text or "corrupt" in text:
        return RecordingError(f"{path} is damaged ({text})")
    return RecordingError(f"{path}: {text}")


def on_disk(path: Path) -> int:
    """Bytes a recording takes: the file and its write-ahead log (while it is being written)."""
    total = 0
    for p in (path, Path(f"{path}-wal")):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


@dataclass(frozen=True)
class Event:
    time: float
    kind: str               # "action" (an audit-log entry) or "error" (a collection error)
    data: dict[str, Any]

    @property
    def summary(self) -> str:
        d = self.data
        if self.kind == "action":
            return f"#{d.get('id', '?')} {d.get('action', '?')} {d.get('target', '?')}: {d.get('result', '?')}"
        return f"{d.get('source', '?')}: {d.get('message', '?')}"


def check_meta(path: Path, meta: dict[str, str], writing: bool = False) -> bool:
    """True when the file is of a newer schema than this kvmtune knows; RecordingError when unusable."""
    if meta.get("format") != FORMAT:
        raise RecordingError(f"{path} is an SQLite file but not a kvmtune recording")

    def num(key: str) -> int:
        v = meta.get(key, "")
        if not (v.isascii() and v.isdigit()):
            raise RecordingError(f"{path} is damaged: its {key} is {v!r}")
        return int(v)
    schema, used = num("schema"), num("codec")
    by = meta.get("created_by", "a newer kvmtune")
    if used > CODEC:
        raise RecordingError(f"{path} was made by {by} with a sample encoding this kvmtune "
                             f"({__version__}) cannot read (codec {used}); use that version or newer")
    if writing and schema > SCHEMA:
        raise RecordingError(f"{path} was made by {by} (schema {schema}): this kvmtune only adds to "
                             f"schema {SCHEMA} files; record to a new file")
    return schema > SCHEMA


def _without_cpus(doc: dict[str, Any]) -> Snapshot:
    return Snapshot.from_json({**doc, "host": {**doc["host"], "cpus": []}})


class Recording:
    """A recording opened for reading: its samples by index and time, and its events."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        try:
            st = self.path.stat()
        except OSError as e:
            raise RecordingError(f"cannot open {self.path}: {e.strerror or e}") from None
        if not self.path.is_file():
            raise RecordingError(f"{self.path} is not a file")
        if st.st_size == 0:
            raise RecordingError(f"{self.path} is empty: not a kvmtune recording")
        try:
            self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                      check_same_thread=False)
        except sqlite3.Error as e:
            raise RecordingError(f"cannot open {self.path}: {e}") from None
        # damaged text must not stop the reading: it shows as U+FFFD where it is shown at all
        self.db.text_factory = lambda b: b.decode("utf-8", "replace")
        self._dicts: dict[int, zstandard.ZstdDecompressor] = {}
        self._plain = zstandard.ZstdDecompressor()
        # the last sample read: (index, the guests read, with the host's CPUs, its parts)
        self._cache: tuple[int, frozenset[str] | None, bool, codec.Parts] | None = None
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.keys: list[int] = []
        try:
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                raise RecordingError(f"{self.path} is an SQLite file but not a kvmtune recording")
            self.meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
            self.newer = check_meta(self.path, self.meta)
            if not {"samples", "sessions"} <= tables:
                raise RecordingError(f"{self.path} is damaged: its samples table is missing")
            self.sessions = [dict(zip(("id", "started", "host", "source", "interval", "version"), r))
                             for r in self.db.execute("SELECT id, started, host, source, interval, version "
                                                      "FROM sessions ORDER BY id")]
            self.refresh()
        except RecordingError:
            self.db.close()
            raise
        except sqlite3.Error as e:
            self.db.close()
            raise db_error(self.path, e) from None
        except _DAMAGE as e:
            self.db.close()
            raise RecordingError(f"{self.path} is damaged ({type(e).__name__}: {e})") from None

    def refresh(self) -> int:
        """Read the index of samples written since (a file still being recorded); how many are new."""
        last = self.seqs[-1] if self.seqs else 0
        try:
            rows = self.db.execute("SELECT seq, time, key FROM samples WHERE seq > ? ORDER BY seq",
                                   (last,)).fetchall()
        except sqlite3.Error as e:
            raise db_error(self.path, e) from None
        except _DAMAGE as e:
            raise RecordingError(f"{self.path} is damaged ({type(e).__name__}: {e})") from None
        if rows and all(type(t) is float for _s, t, _k in rows):
            _seqs, times, keys = zip(*rows)
            if list(times) == sorted(times) and (not self.times or times[0] >= self.times[-1]):
                # (the common case, in C: a day's index opens in milliseconds.) seqs last: the
                # UI thread takes len() from it while the poll worker refreshes
                self.keys += keys
                self.times += times
                self.seqs += _seqs
                return len(rows)
        for seq, t, key in rows:
            if isinstance(t, bool) or not isinstance(t, (int, float)):
                continue   # a damaged index entry: that sample cannot be placed
            # a clock stepped back mid-recording: the sample is kept, placed at the latest time
            # so far (times stay sorted for seeking; the snapshot keeps its own time)
            self.keys.append(key)
            self.times.append(max(float(t), self.times[-1]) if self.times else float(t))
            self.seqs.append(seq)
        return len(rows)

    def __len__(self) -> int:
        return len(self.seqs)   # (filled last by refresh: every index below it is in times and keys)

    @property
    def host(self) -> str:
        return str(self.sessions[-1]["host"]) if self.sessions else "?"

    @property
    def interval(self) -> float | None:
        v = self.sessions[-1]["interval"] if self.sessions else None
        return float(v) if isinstance(v, (int, float)) else None

    def index_at(self, when: float) -> int:
        """The last sample at or before `when` (the first one when `when` is earlier)."""
        return max(0, bisect_right(self.times, when) - 1)

    def snapshot(self, i: int, guests: Collection[str] | None = None, cpus: bool = True) -> Snapshot:
        """Sample i as the Snapshot that was recorded (only the named guests, when given:
        the others are not even parsed; without the host's per-CPU times with cpus=False, for
        a reader that shows guests only: on a big host they are most of a one-guest read);
        RecordingError when it cannot be read."""
        return self._read(i, guests, Snapshot.from_json if cpus else _without_cpus, cpus)

    def document(self, i: int, guests: Collection[str] | None = None) -> dict[str, Any]:
        """Sample i as its stored v1 JSON document: what `snapshot(i).to_json()` gives when the
        file's schema is this kvmtune's (`newer` False), without building the Snapshot."""
        return self._read(i, guests, lambda d: d)

    def _read(self, i: int, guests: Collection[str] | None, make: Callable[[dict[str, Any]], _T],
              cpus: bool = True) -> _T:
        if not 0 <= i < len(self.seqs):
            raise IndexError(i)
        try:
            return make(codec.document(self._parts(i, None if guests is None else frozenset(guests), cpus)))
        except _DAMAGE as e:
            self._cache = None
            raise RecordingError(f"sample {i + 1} of {self.path} is damaged: {type(e).__name__}: {e}") from None

    def _parts(self, i: int, want: frozenset[str] | None, cpus: bool = True) -> codec.Parts:
        seq, key = self.seqs[i], self.keys[i]
        c = self._cache
        if c is not None and c[:3] == (i, want, cpus):
            return c[3]
        if c is not None and c[:3] == (i - 1, want, cpus) and key != seq and self.keys[i - 1] == key:
            start, parts = seq, c[3]      # the next sample of the same chain: one patch
        else:
            start, parts = key, None
        rows = self.db.execute("SELECT seq, dict, data FROM samples WHERE seq BETWEEN ? AND ? ORDER BY seq",
                               (start, seq)).fetchall()
        if [r[0] for r in rows] != list(range(start, seq + 1)):
            raise ValueError(f"its chain from sample seq {start} has gaps")
        for _s, dict_id, data in rows:
            if not isinstance(data, bytes) or zstandard.frame_content_size(data) > MAX_SAMPLE:
                raise ValueError("its data is not a sample")
            text = self._decompressor(dict_id).decompress(data)
            parts = codec.decode_key(text, want, cpus) if parts is None else codec.decode_patch(parts, text, cpus)
        assert parts is not None
        self._cache = (i, want, cpus, parts)
        return parts

    def _decompressor(self, dict_id: int | None) -> zstandard.ZstdDecompressor:
        if dict_id is None:
            return self._plain
        d = self._dicts.get(dict_id)
        if d is None:
            row = self.db.execute("SELECT data FROM dicts WHERE id = ?", (dict_id,)).fetchone()
            if row is None:
                raise ValueError(f"its dictionary {dict_id} is missing")
            d = self._dicts[dict_id] = zstandard.ZstdDecompressor(
                dict_data=zstandard.ZstdCompressionDict(bytes(row[0])))
        return d

    def events(self, kinds: Iterable[str] = ("action", "error")) -> list[Event]:
        """Events in time order; a damaged one is left out."""
        kinds = tuple(kinds)
        out = []
        try:
            rows = self.db.execute(
                f"SELECT time, kind, data FROM events WHERE kind IN ({','.join('?' * len(kinds))}) "
                "ORDER BY time, id", kinds).fetchall()
        except _DAMAGE:
            return []
        for t, kind, data in rows:
            try:
                d = json.loads(data)
            except (TypeError, ValueError):
                continue
            if isinstance(d, dict) and isinstance(t, (int, float)):
                out.append(Event(float(t), str(kind), d))
        return out

    def iter_snapshots(self, start: int = 0, stop: int | None = None, guests: Collection[str] | None = None,
                       cpus: bool = True) -> Iterator[tuple[int, Snapshot | RecordingError]]:
        """(index, snapshot) in order; a damaged sample comes as its RecordingError, and reading goes on."""
        return self._iter(lambda i, g: self.snapshot(i, g, cpus), start, stop, guests)

    def iter_documents(self, start: int = 0, stop: int | None = None, guests: Collection[str] | None = None
                       ) -> Iterator[tuple[int, dict[str, Any] | RecordingError]]:
        """(index, document) in order, as iter_snapshots (see `document`)."""
        return self._iter(self.document, start, stop, guests)

    def _iter(self, read: Callable[[int, Collection[str] | None], _T], start: int, stop: int | None,
              guests: Collection[str] | None) -> Iterator[tuple[int, _T | RecordingError]]:
        for i in range(start, len(self.seqs) if stop is None else stop):
            try:
                yield i, read(i, guests)
            except RecordingError as e:
                yield i, e

    def close(self) -> None:
        self.db.close()
