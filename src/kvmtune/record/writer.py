"""Writing a recording (the file's format: store.py): one committed sample per `add`."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zstandard

from .. import __version__, fmt
from ..errors import RecordingError
from ..model import Error, Snapshot
from . import codec
from .store import (
    CODEC,
    DICT_SIZE,
    FORMAT,
    KEY_EVERY,
    LEVEL,
    PAGE_SIZE,
    SCHEMA,
    TABLES,
    TRAIN_AFTER,
    check_meta,
    db_error,
    on_disk,
)


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
            raise db_error(self.path, e) from None

    def _setup(self) -> None:
        db = self.db
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise RecordingError(f"{self.path} is an SQLite file but not a kvmtune recording: not adding to it")
        if "meta" in tables:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            check_meta(self.path, meta, writing=True)
        if not tables:
            # before anything is written (and WAL, which keeps the page size): a sample is a
            # row of a few KB whose last overflow page is mostly empty, so small pages waste less
            db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: a crashed process loses nothing committed
        db.execute("BEGIN IMMEDIATE")
        for stmt in filter(str.strip, TABLES.split(";")):
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
        self.ends: float | None = db.execute("SELECT MAX(time) FROM samples").fetchone()[0]

    # -- writing ---------------------------------------------------------------------------
    def add(self, snap: Snapshot, actions: Sequence[dict[str, Any]] = ()) -> None:
        """Store one snapshot (the feed's, as it came), with the audit-log entries to file at
        its time, and commit them together."""
        try:
            self._add(snap, actions)
        except sqlite3.Error as e:
            self._rollback()
            raise RecordingError(f"cannot write {self.path}: {e}") from None

    def _add(self, snap: Snapshot, actions: Sequence[dict[str, Any]]) -> None:
        if self._prev is None and self.ends is not None and snap.time <= self.ends:
            # appending from a clock behind the file's end: the demo's, which starts again each run
            raise RecordingError(f"{self.path} ends at {fmt.clock(self.ends)}, later than this host's clock "
                                 f"says now ({fmt.clock(snap.time)}; the demo's starts again each run): "
                                 "record to a new file")
        db = self.db
        text = None
        if self._prev is not None and self._chain < KEY_EVERY:
            text = codec.encode_patch(self._prev, snap)
        db.execute("BEGIN IMMEDIATE")
        if self._session is None:
            host = self._host or snap.host.hostname or socket.gethostname()
            self._session = db.execute(
                "INSERT INTO sessions (started, host, source, interval, version) VALUES (?, ?, ?, ?, ?)",
                (snap.time, host, self._source, self._interval, __version__)).lastrowid
        if text is None:
            data, dict_id = self._plain.compress(codec.encode_key(snap)), None
            cur = db.execute("INSERT INTO samples (time, key, dict, data) VALUES (?, -1, NULL, ?)", (snap.time, data))
            self._key = int(cur.lastrowid or 0)
            db.execute("UPDATE samples SET key = seq WHERE seq = ?", (self._key,))
            self._chain = 1
        else:
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
        for a in actions:
            db.execute("INSERT INTO events (time, kind, data) VALUES (?, 'action', ?)",
                       (snap.time, json.dumps(a, default=str)))
        db.execute("COMMIT")
        self._prev = snap
        self.samples += 1
        if self.max_size is not None and self.samples % 10 == 0:
            self._trim()

    def _learn(self, text: bytes) -> int | None:
        """The dictionary to compress a patch with, training one once enough patches are seen."""
        if self._dict is not None:
            return self._dict[0] or None   # 0: none pays, the patch goes without (dict NULL)
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
        return on_disk(self.path)

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
