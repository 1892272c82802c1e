"""The append-only audit log: one JSON line per action attempt.

Default `$XDG_STATE_HOME/kvmtune/actions.log` (else ~/.local/state/kvmtune/actions.log),
created mode 0600 in a 0700 folder. Ids are assigned under an exclusive lock, so two
kvmtune processes on one host never hand out the same id.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import AuditLogError


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "kvmtune" / "actions.log"


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
            with open(fd, "r+", encoding="utf-8", closefd=False) as f:
                last = 0
                for e in _lines(f):
                    last = max(last, e["id"])
                new_id = last + 1
                entry = {"id": new_id, **entry}
                line = json.dumps(entry, sort_keys=False, separators=(",", ":")) + "\n"
                os.write(fd, line.encode("utf-8"))
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


def _lines(f: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        # Entries are ours: a line without an integer id was not written by kvmtune.
        if isinstance(e, dict) and type(e.get("id")) is int:
            yield e
