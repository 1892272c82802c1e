"""The recording file: SQLite (WAL) holding compressed snapshots, indexed by time.

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
import socket
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from .. import __version__
from ..errors import RecordingError
from ..model import Error, Snapshot
from . import codec

FORMAT = "kvmtune.recording"
SCHEMA = 1          # the tables above; a newer file is read with what this version knows
CODEC = 1           # how a sample's data is encoded; a newer codec cannot be read
KEY_EVERY = 60      # samples per chain: a key, then patches
TRAIN_AFTER = 16    # patches collected before a dictionary is trained
DICT_SIZE = 64 * 1024
LEVEL = 3
# What reading a damaged file can raise (a flipped byte can land in SQLite's pages, a
# frame, the JSON, a patch): each becomes a RecordingError naming the file or sample.
_DAMAGE = (sqlite3.Error, zstandard.ZstdError, ValueError, TypeError, KeyError, IndexError,
           OverflowError, MemoryError, RecursionError)
MAX_SAMPLE = 1 << 30    # bytes a sample may decode to: a damaged frame header may claim anything

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, started REAL NOT NULL, host TEXT NOT NULL,
    source TEXT NOT NULL, interval REAL NOT NULL, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS samples (seq INTEGER PRIMARY KEY, time REAL NOT NULL, key INTEGER NOT NULL,
    dict INTEGER, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS samples_time ON samples (time);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
"""


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), check_circular=False).encode()


def _db_error(path: Path, e: sqlite3.Error) -> RecordingError:
    text = str(e)
    if "not a database" in text:
        return RecordingError(f"{path} is not a kvmtune recording (not an SQLite file)")
    if "malformed" in text or "corrupt" in text:
        return RecordingError(f"{path} is damaged ({text}); `kvmtune dump {path} --info` shows what is left")
    return RecordingError(f"{path}: {text}")


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


class Recorder:
    """Appends samples and events to a recording (a new file, or one kvmtune made before)."""

    def __init__(self, path: str | os.PathLike[str], *, source: str, interval: float,
                 max_size: int | None = None, host: str | None = None):
        self.path = Path(path)
        self.max_size = max_size
        self.samples = 0                 # written by this recorder
        self._host = host
        self._source, self._interval = source, interval
        self._session: int | None = None
        self._prev: Snapshot | None = None
        self._chain = 0                  # samples in the current chain
        self._key = 0
        self._errors: set[Error] = set()
        self._train: list[bytes] = []
        self._dict: tuple[int, zstandard.ZstdCompressor] | None = None
        self._plain = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True)
        if self.path.is_dir():
            raise RecordingError(f"{self.path} is a directory")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise RecordingError(f"cannot open {self.path}: {e}") from None
        try:
            self._setup()
        except sqlite3.Error as e:
            self.db.close()
            raise _db_error(self.path, e) from None

    def _setup(self) -> None:
        db = self.db
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise RecordingError(f"{self.path} is an SQLite file but not a kvmtune recording: not adding to it")
        if "meta" in tables:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            _check_meta(self.path, meta, writing=True)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: a crashed process loses nothing committed
        db.execute("BEGIN IMMEDIATE")
        for stmt in filter(str.strip, _TABLES.split(";")):
            db.execute(stmt)
        for k, v in (("format", FORMAT), ("schema", str(SCHEMA)), ("codec", str(CODEC)),
                     ("created", repr(time.time())), ("created_by", f"kvmtune {__version__}")):
            db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (k, v))
        db.execute("COMMIT")
        row = db.execute("SELECT id, data FROM dicts ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:   # appending: keep using the file's dictionary
            self._dict = (row[0], zstandard.ZstdCompressor(
                level=LEVEL, write_checksum=True, dict_data=zstandard.ZstdCompressionDict(row[1])))
        self._key = (db.execute("SELECT MAX(seq) FROM samples").fetchone()[0] or 0) + 1

    # -- writing ---------------------------------------------------------------------------
    def add(self, snap: Snapshot) -> None:
        """Store one snapshot (the feed's, as it came) and commit it."""
        try:
            self._add(snap)
        except sqlite3.Error as e:
            self._rollback()
            raise RecordingError(f"cannot write {self.path}: {e}") from None

    def _add(self, snap: Snapshot) -> None:
        db = self.db
        patch = None
        if self._prev is not None and self._chain < KEY_EVERY:
            patch = codec.snapshot_patch(self._prev, snap)
        db.execute("BEGIN IMMEDIATE")
        if self._session is None:
            host = self._host or snap.host.hostname or socket.gethostname()
            self._session = db.execute(
                "INSERT INTO sessions (started, host, source, interval, version) VALUES (?, ?, ?, ?, ?)",
                (snap.time, host, self._source, self._interval, __version__)).lastrowid
        if patch is None:
            data, dict_id = self._plain.compress(_dumps(snap.to_json())), None
            cur = db.execute("INSERT INTO samples (time, key, dict, data) VALUES (?, -1, NULL, ?)", (snap.time, data))
            self._key = int(cur.lastrowid or 0)
            db.execute("UPDATE samples SET key = seq WHERE seq = ?", (self._key,))
            self._chain = 1
        else:
            text = _dumps(patch)
            dict_id = self._learn(text)
            comp = self._dict[1] if self._dict is not None and dict_id is not None else self._plain
            db.execute("INSERT INTO samples (time, key, dict, data) VALUES (?, ?, ?, ?)",
                       (snap.time, self._key, dict_id, comp.compress(text)))
            self._chain += 1
        new = [e for e in snap.errors if e not in self._errors]
        for e in new:
            db.execute("INSERT INTO events (time, kind, data) VALUES (?, 'error', ?)",
                       (snap.time, json.dumps({"source": e.source, "message": e.message})))
        self._errors = set(snap.errors)
        db.execute("COMMIT")
        self._prev = snap
        self.samples += 1
        if self.max_size is not None and self.samples % 10 == 0:
            self._trim()

    def _learn(self, text: bytes) -> int | None:
        """The dictionary to compress a patch with, training one once enough patches are seen."""
        if self._dict is not None:
            return self._dict[0]
        self._train.append(text)
        if len(self._train) < TRAIN_AFTER:
            return None
        samples, self._train = self._train, []
        try:
            d = zstandard.train_dictionary(DICT_SIZE, list[bytes | bytearray | memoryview](samples), level=LEVEL)
        except zstandard.ZstdError:   # too little to learn from (a tiny host): no dictionary
            self._dict = (0, self._plain)
            return None
        comp = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True, dict_data=d)
        plain_size = sum(len(self._plain.compress(s)) for s in samples)
        if sum(len(comp.compress(s)) for s in samples) + len(d.as_bytes()) / KEY_EVERY >= plain_size:
            self._dict = (0, self._plain)   # it would not pay for itself
            return None
        dict_id = int(self.db.execute("INSERT INTO dicts (data) VALUES (?)", (d.as_bytes(),)).lastrowid or 0)
        self._dict = (dict_id, comp)
        return dict_id

    def add_event(self, kind: str, when: float, data: dict[str, Any]) -> None:
        try:
            self.db.execute("INSERT INTO events (time, kind, data) VALUES (?, ?, ?)",
                            (when, kind, json.dumps(data, default=str)))
        except sqlite3.Error as e:
            raise RecordingError(f"cannot write {self.path}: {e}") from None

    def _trim(self) -> None:
        """Drop the oldest chains while the file's used pages pass max_size (freed pages are reused)."""
        assert self.max_size is not None
        db = self.db
        while True:
            page, count, free = (db.execute(f"PRAGMA {p}").fetchone()[0]
                                 for p in ("page_size", "page_count", "freelist_count"))
            if (count - free) * page <= self.max_size:
                return
            oldest = db.execute("SELECT MIN(key) FROM samples").fetchone()[0]
            if oldest is None or oldest == self._key:
                return   # only the chain being written is left
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM samples WHERE key = ?", (oldest,))
            first = db.execute("SELECT MIN(time) FROM samples").fetchone()[0]
            db.execute("DELETE FROM events WHERE time < ?", (first,))
            db.execute("COMMIT")

    def _rollback(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @property
    def size(self) -> int:
        """Bytes on disk: the file and its write-ahead log."""
        total = 0
        for p in (self.path, Path(f"{self.path}-wal")):
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total

    def close(self) -> None:
        """Fold the write-ahead log into the file, so it is one file again."""
        try:
            self._rollback()
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error:
            pass   # a reader has it open: the log stays beside the file, and SQLite folds it in later
        finally:
            self.db.close()


def _check_meta(path: Path, meta: dict[str, str], writing: bool = False) -> bool:
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
        self._cache: tuple[int, Any] | None = None   # (index, JSON document) of the last sample read
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.keys: list[int] = []
        try:
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                raise RecordingError(f"{self.path} is an SQLite file but not a kvmtune recording")
            self.meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
            self.newer = _check_meta(self.path, self.meta)
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
            raise _db_error(self.path, e) from None
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
            raise _db_error(self.path, e) from None
        except _DAMAGE as e:
            raise RecordingError(f"{self.path} is damaged ({type(e).__name__}: {e})") from None
        for seq, t, key in rows:
            if not isinstance(t, (int, float)) or (self.times and t < self.times[-1]):
                continue   # a damaged or out-of-order index entry: that sample cannot be placed
            self.seqs.append(seq)
            self.times.append(float(t))
            self.keys.append(key)
        return len(rows)

    def __len__(self) -> int:
        return len(self.seqs)

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

    def snapshot(self, i: int, guests: Collection[str] | None = None) -> Snapshot:
        """Sample i as the Snapshot that was recorded (only the named guests, when given:
        the others are not decoded); RecordingError when it cannot be read."""
        if not 0 <= i < len(self.seqs):
            raise IndexError(i)
        try:
            doc = self._document(i)
            if guests is not None:
                doc = {**doc, "guests": [g for g in doc.get("guests") or ()
                                         if isinstance(g, dict) and g.get("name") in guests]}
            return Snapshot.from_json(doc)
        except _DAMAGE as e:
            self._cache = None
            raise RecordingError(f"sample {i + 1} of {self.path} is damaged: {type(e).__name__}: {e}") from None

    def _document(self, i: int) -> Any:
        seq, key = self.seqs[i], self.keys[i]
        c = self._cache
        if c is not None and c[0] == i:
            return c[1]
        if c is not None and c[0] == i - 1 and key != seq and self.keys[i - 1] == key:
            start, doc = seq, c[1]       # the next sample of the same chain: one patch
        else:
            start, doc = key, None
        rows = self.db.execute("SELECT seq, dict, data FROM samples WHERE seq BETWEEN ? AND ? ORDER BY seq",
                               (start, seq)).fetchall()
        if [r[0] for r in rows] != list(range(start, seq + 1)):
            raise ValueError(f"its chain from sample seq {start} has gaps")
        for n, (_s, dict_id, data) in enumerate(rows):
            if not isinstance(data, bytes) or zstandard.frame_content_size(data) > MAX_SAMPLE:
                raise ValueError("its data is not a sample")
            text = self._decompressor(dict_id).decompress(data)
            value = json.loads(text)
            if doc is None:
                if n != 0:
                    raise ValueError("a patch without its key")
                doc = value
            else:
                doc = codec.apply(doc, value)
        self._cache = (i, doc)
        return doc

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

    def iter_snapshots(self, start: int = 0, stop: int | None = None, guests: Collection[str] | None = None
                       ) -> Iterator[tuple[int, Snapshot | RecordingError]]:
        """(index, snapshot) in order; a damaged sample comes as its RecordingError, and reading goes on."""
        for i in range(start, len(self.seqs) if stop is None else stop):
            try:
                yield i, self.snapshot(i, guests)
            except RecordingError as e:
                yield i, e

    def close(self) -> None:
        self.db.close()
