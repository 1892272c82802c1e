"""HostFS: every read (and write) of sys/ and proc/ goes through here.

`HostFS("/")` is the real host; `HostFS(tmpdir)` reads a captured or simulated tree.
One error policy: a failure raises a `HostFSError` subclass (errors.py) whose message
names the path as it is on the host and the reason. A read given a `default` returns it
when the file is missing (FileMissing), so callers never test exists() and then read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar, overload

from .errors import AccessDenied, FileMissing, HostFSError, ProcessGone

__all__ = ["AccessDenied", "FileMissing", "HostFS", "HostFSError", "ProcessGone"]

_CHUNK = 65536   # most sysfs/procfs files fit in one read
_RAISE: Any = object()
T = TypeVar("T")


class HostFS:
    def __init__(self, root: str | os.PathLike[str] = "/"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise HostFSError(str(root), "not a directory")
        # Plain string joins: building a pathlib.Path per read was a third of a tick's cost.
        self._prefix = str(self.root).rstrip("/") + "/"

    def path(self, rel: str) -> str:
        return self._prefix + rel.lstrip("/")

    def show(self, rel: str) -> str:
        """The path as a user would type it on the host: /sys/... (for messages and echo lines)."""
        return "/" + rel.lstrip("/")

    def _error(self, rel: str, e: OSError) -> HostFSError:
        return HostFSError.from_os(self.show(rel), e)

    @overload
    def read_bytes(self, rel: str) -> bytes: ...
    @overload
    def read_bytes(self, rel: str, default: T) -> bytes | T: ...

    def read_bytes(self, rel: str, default: Any = _RAISE) -> Any:
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

    @overload
    def read_text(self, rel: str) -> str: ...
    @overload
    def read_text(self, rel: str, default: T) -> str | T: ...

    def read_text(self, rel: str, default: Any = _RAISE) -> Any:
        data = self.read_bytes(rel, _RAISE if default is _RAISE else None)
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
