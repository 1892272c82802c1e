"""HostFS: every read (and write) of sys/ and proc/ goes through here.

`HostFS("/")` is the real host; `HostFS(tmpdir)` reads a captured or simulated tree.
One error policy: a failure raises a `HostFSError` subclass (errors.py) whose message
names the path as it is on the host and the reason. A read given a `default` returns it
when the file is missing (FileMissing), so callers never test exists() and then read.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path
from typing import Any, TypeVar, overload

from .errors import AccessDenied, FileMissing, HostFSError, ProcessGone

__all__ = ["AccessDenied", "FileMissing", "HostFS", "HostFSError", "ProcessGone"]

_CHUNK = 65536   # most sysfs/procfs files fit in one read
KEPT_MAX = 8192   # fds kept open at most (and a quarter of the soft fd limit, leaving perf's counters the rest)
_RAISE: Any = object()
T = TypeVar("T")


class HostFS:
    def __init__(self, root: str | os.PathLike[str] = "/"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise HostFSError(str(root), "not a directory")
        # Plain string joins: building a pathlib.Path per read was a third of a tick's cost.
        self._prefix = str(self.root).rstrip("/") + "/"
        # Kept fds (read_bytes(keep=True)): only on the real host, where proc and cgroup
        # files are made afresh by each read at offset 0 and an fd whose process or cgroup
        # went fails instead of reading on; a tree's files are plain and may be replaced.
        self._kept: dict[str, int] | None = {} if self._prefix == "/" else None
        self._kept_read: set[str] = set()    # read since the last sweep_kept
        self._kept_lock = threading.Lock()   # a fd is never read by one thread as another closes it
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._kept_max = min(KEPT_MAX, soft // 4) if soft != resource.RLIM_INFINITY else KEPT_MAX

    def path(self, rel: str) -> str:
        return self._prefix + rel.lstrip("/")

    def show(self, rel: str) -> str:
        """The path as a user would type it on the host: /sys/... (for messages and echo lines)."""
        return "/" + rel.lstrip("/")

    def _error(self, rel: str, e: OSError) -> HostFSError:
        return HostFSError.from_os(self.show(rel), e)

    @overload
    def read_bytes(self, rel: str, *, keep: bool = False) -> bytes: ...
    @overload
    def read_bytes(self, rel: str, default: T, keep: bool = False) -> bytes | T: ...

    def read_bytes(self, rel: str, default: Any = _RAISE, keep: bool = False) -> Any:
        """The file's bytes. keep: a file read every tick (a guest's counters): its fd stays
        open and each read is one pread, not open, read, read and close (the collecting thread's
        CPU on the 55-guest lab: 8.0 -> 7.4 ms a tick, measured); the real host only (__init__)."""
        if keep and self._kept is not None:
            data = self._read_kept(rel)
            if data is not None:
                return data
        # os.open/os.read: a buffered file object per read cost more than the read itself.
        try:
            fd = os.open(self.path(rel), os.O_RDONLY)
            try:
                chunks = []
                while chunk := os.read(fd, _CHUNK):
                    chunks.append(chunk)
            finally:
                os.close(fd)
        except OSError as e:
            err = self._error(rel, e)
            if default is not _RAISE and isinstance(err, FileMissing):
                return default
            raise err from None
        return b"".join(chunks)

    def _read_kept(self, rel: str) -> bytes | None:
        """The file read through its kept fd; None: read it the usual way (too many kept, or
        it cannot be opened, or its fd failed or read nothing: its process or cgroup went, and
        the usual read opens the path afresh and says what is wrong, as without keep)."""
        kept = self._kept
        assert kept is not None
        with self._kept_lock:
            fd = kept.get(rel)
            if fd is None:
                if len(kept) >= self._kept_max:
                    return None
                try:
                    fd = kept[rel] = os.open(self.path(rel), os.O_RDONLY)
                except OSError:
                    return None
            try:
                data = os.pread(fd, _CHUNK, 0)
                if len(data) == _CHUNK:   # (a counter file is a few lines: seldom)
                    chunks = [data]
                    while chunk := os.pread(fd, _CHUNK, _CHUNK * len(chunks)):
                        chunks.append(chunk)
                    data = b"".join(chunks)
            except OSError:
                data = b""
            if not data:
                del kept[rel]
                self._kept_read.discard(rel)
                os.close(fd)
                return None
            self._kept_read.add(rel)
            return data

    def sweep_kept(self) -> None:
        """Close the kept fds not read since the last sweep (a guest that went); call once a tick.
        When every kept file was read (a steady host), that is all it finds: a length compare."""
        if self._kept is None:
            return
        with self._kept_lock:
            if len(self._kept_read) != len(self._kept):
                for rel in set(self._kept) - self._kept_read:
                    os.close(self._kept.pop(rel))
            self._kept_read.clear()

    def close_kept(self) -> None:
        """Close every kept fd (the source is closed)."""
        if self._kept is None:
            return
        with self._kept_lock:
            for fd in self._kept.values():
                os.close(fd)
            self._kept.clear()
            self._kept_read.clear()

    @overload
    def read_text(self, rel: str, *, keep: bool = False) -> str: ...
    @overload
    def read_text(self, rel: str, default: T, keep: bool = False) -> str | T: ...

    def read_text(self, rel: str, default: Any = _RAISE, keep: bool = False) -> Any:
        data = self.read_bytes(rel, _RAISE if default is _RAISE else None, keep)
        return default if data is None else data.decode("utf-8", "replace")

    @overload
    def read_str(self, rel: str) -> str: ...
    @overload
    def read_str(self, rel: str, default: T) -> str | T: ...

    def read_str(self, rel: str, default: Any = _RAISE) -> Any:
        """A one-value file, stripped (NULs too: captured trees such as hwloc's end files in one)."""
        text = self.read_text(rel, _RAISE if default is _RAISE else None)
        return default if text is None else text.replace("\0", "").strip()

    @overload
    def read_int(self, rel: str) -> int: ...
    @overload
    def read_int(self, rel: str, default: T) -> int | T: ...

    def read_int(self, rel: str, default: Any = _RAISE) -> Any:
        text = self.read_str(rel, _RAISE if default is _RAISE else None)
        if text is None:
            return default
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            raise HostFSError(self.show(rel), f"not a number: {text[:40]!r}") from None

    def open_read(self, rel: str) -> int:
        """An fd on `rel` to read again and again with `pread_str` (a counter file read every
        tick: one syscall instead of open, read, read, close). The caller closes it."""
        try:
            return os.open(self.path(rel), os.O_RDONLY)
        except OSError as e:
            raise self._error(rel, e) from None

    @staticmethod
    def pread_str(fd: int) -> str | None:
        """The one-value file behind `fd` now, stripped; None once it is gone (removed, or the fd bad)."""
        try:
            return os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.path(rel))

    @overload
    def listdir(self, rel: str) -> list[str]: ...
    @overload
    def listdir(self, rel: str, default: T) -> list[str] | T: ...

    def listdir(self, rel: str, default: Any = _RAISE) -> Any:
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError as e:
            err = self._error(rel, e)
            if default is not _RAISE and isinstance(err, FileMissing):
                return default
            raise err from None

    def write_text(self, rel: str, value: str) -> None:
        """Write a sysfs/procfs file (actions only). The kernel's refusal comes back as HostFSError."""
        try:
            with open(self.path(rel), "w") as f:
                f.write(value)
        except OSError as e:
            raise self._error(rel, e) from None
