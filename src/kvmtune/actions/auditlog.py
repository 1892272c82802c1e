"""The append-only audit log: one JSON line per action attempt.

Default `$XDG_STATE_HOME/kvmtune/actions.log` (else ~/.local/state/kvmtune/actions.log),
created mode 0600 in a 0700 folder. Ids are assigned under an exclusive lock, so two
kvmtune processes on one host never hand out the same id.

A crash (or a full disk) mid-write leaves a torn last line. The next append starts on a
fresh line, so only the torn entry is lost, and it never reuses the torn entry's id: ids go
up by one in file order, so every unreadable line counts as having used one more than the
ids before it (or the id its surviving `{"id":N,` prefix shows). That needs no second
file to keep in step with the log: the log alone says which ids are spent.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import AuditLogError
from ..source import state_dir

# The start of a line kvmtune wrote: the id comes first (see append), its digits ended by "," or "}".
_ID_PREFIX = re.compile(r'\s*\{\s*"id"\s*:\s*(\d+)\s*[,}]')


def default_path() -> Path:
    return state_dir() / "actions.log"


class AuditLog:
    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path is not None else default_path()

    def _open(self, flags: int) -> int:
        try:
            if flags & os.O_CREAT:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, flags | os.O_NONBLOCK, 0o600)
        except OSError as e:
            raise AuditLogError(e.errno or 0, f"cannot open the audit log {self.path}: "
                                              f"{e.strerror or e}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, /dev/zero, a FIFO...
            os.close(fd)
            raise AuditLogError(0, f"the audit log {self.path} is not a regular file")
        return fd

    def check_writable(self) -> None:
        os.close(self._open(os.O_WRONLY | os.O_APPEND | os.O_CREAT))

    def append(self, entry: dict[str, Any]) -> int:
        """Give `entry` the next id, append it as one line, and return the id."""
        fd = self._open(os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with open(fd, "rb", closefd=False) as f:
                data = f.read()
            new_id = _last_id(data) + 1
            entry = {"id": new_id, **entry}     # the id first: a torn line still shows it
            line = json.dumps(entry, sort_keys=False, separators=(",", ":")) + "\n"
            torn = bool(data) and not data.endswith(b"\n")
            _write_all(fd, (b"\n" if torn else b"") + line.encode("utf-8"))
            return new_id
        except OSError as e:
            raise AuditLogError(e.errno or 0, f"cannot write the audit log {self.path}: "
                                              f"{e.strerror or e}") from None
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first; [] when there is no log yet. Torn or foreign lines are skipped."""
        if not self.path.exists():
            return []
        fd = self._open(os.O_RDONLY)
        try:
            with open(fd, encoding="utf-8", errors="replace") as f:
                return list(_lines(f))
        except OSError as e:
            raise AuditLogError(e.errno or 0, f"cannot read the audit log {self.path}: "
                                              f"{e.strerror or e}") from None


    def size(self) -> int:
        """Bytes in the log now (0 when there is none): where `since` starts reading."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def since(self, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Entries on whole lines appended after byte `offset`, and the offset to read on from
        (a line still being written is left for the next call). A log that shrank starts
        over; one that cannot be read (or is not a regular file: a FIFO would block) gives none."""
        try:
            fd = self._open(os.O_RDONLY)
        except AuditLogError:
            return [], offset
        try:
            with open(fd, "rb") as f:
                if os.fstat(f.fileno()).st_size < offset:
                    offset = 0
                f.seek(offset)
                data = f.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n") + 1
        text = data[:end].decode("utf-8", errors="replace")
        return list(_lines(text.split("\n"))), offset + end


def _entry(line: str) -> dict[str, Any] | None:
    try:
        e = json.loads(line)
    except ValueError:
        return None
    # Entries are ours: a line without an integer id was not written by kvmtune.
    return e if isinstance(e, dict) and type(e.get("id")) is int else None


def _lines(f: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in f:
        line = line.strip()
        if line and (e := _entry(line)) is not None:
            yield e


def _last_id(data: bytes) -> int:
    """The highest id spent in the log, counting the ones on lines that cannot be read."""
    last = 0
    for line in data.decode("utf-8", errors="replace").split("\n"):
        if not line.strip():
            continue
        e = _entry(line)
        if e is not None:
            last = max(last, e["id"])
        else:   # torn (or foreign): it may have taken the next id
            m = _ID_PREFIX.match(line)
            last = max(last + 1, int(m.group(1)) if m else 0)
    return last


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less (a full disk): finish the line or raise, never report a half line as logged."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(0, "short write")
        view = view[n:]
