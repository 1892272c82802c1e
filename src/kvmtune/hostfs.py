"""HostFS: every read (and write) of sys/ and proc/ goes through here.

`HostFS("/")` is the real host; `HostFS(tmpdir)` reads a captured or simulated tree.
One error policy: any failure raises `HostFSError`, whose message names the path and
the reason (missing, permission denied, not a number...). Collectors catch it per area
and turn it into a `Snapshot.errors` entry.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


_CHUNK = 65536   # most sysfs/procfs files fit in one read


class HostFSError(OSError):
    def __init__(self, path: str, reason: str, err: int | None = None):
        super().__init__(err or 0, f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.err = err

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    @property
    def missing(self) -> bool:
        return self.err in (errno.ENOENT, errno.ESRCH, errno.ENOTDIR)


def _reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied (run as root to read it)"
    if isinstance(e, FileNotFoundError):
        return "not found"
    return e.strerror or str(e)


class HostFS:
    def __init__(self, root: str | os.PathLike = "/"):
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

    def read_bytes(self, rel: str) -> bytes:
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
            raise HostFSError(self.show(rel), _reason(e), e.errno) from None
        return b"".join(chunks)

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8", "replace")

    def read_str(self, rel: str) -> str:
        """A one-value file, stripped (NULs too: captured trees such as hwloc's end files in one)."""
        return self.read_text(rel).replace("\0", "").strip()

    def read_int(self, rel: str) -> int:
        text = self.read_str(rel)
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            raise HostFSError(self.show(rel), f"not a number: {text[:40]!r}") from None

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.path(rel))

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError as e:
            raise HostFSError(self.show(rel), _reason(e), e.errno) from None

    def write_text(self, rel: str, value: str) -> None:
        """Write a sysfs/procfs file (actions only). The kernel's refusal comes back as HostFSError."""
        try:
            with open(self.path(rel), "w") as f:
                f.write(value)
        except OSError as e:
            raise HostFSError(self.show(rel), _reason(e), e.errno) from None
