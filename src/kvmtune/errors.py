"""One exception tree: callers branch on the class, never on an errno or a message.

    KvmtuneError
     ├── HostFSError (also OSError)       a sys/proc read or write failed; names the path
     │    ├── FileMissing                  not there (ENOENT, ENOTDIR)
     │    │    └── ProcessGone             a /proc/PID that went away (ESRCH, or its dir vanished)
     │    └── AccessDenied                 permission denied (EACCES, EPERM)
     ├── ParseError (also ValueError)     text not in the expected format
     ├── VirtError                        the hypervisor refused or failed; str() fit to show
     │    ├── GuestGone                    no such guest (any more), or not running when it must be
     │    ├── Disconnected                 no connection (libvirtd down or restarting)
     │    ├── NotSupported                 this driver lacks the call (told apart from failure)
     │    └── Stalled                      no answer within the call's deadline (QEMU stopped, a long job)
     ├── ActionError                      an action cannot be carried out (not the host's answer)
     ├── AuditLogError (also OSError)     the audit log cannot be read or written
     ├── DemoStateError                   the demo's saved settings cannot be used (corrupt, or another version's)
     └── RecordingError                   a recording cannot be opened, read or written; str() fit to show

As psutil's NoSuchProcess/AccessDenied: the subclasses are what callers catch.
"""

from __future__ import annotations

import errno


class KvmtuneError(Exception):
    """The root: anything kvmtune raises on purpose."""


class HostFSError(KvmtuneError, OSError):
    def __init__(self, path: str, reason: str, err: int | None = None):
        OSError.__init__(self, err or 0, f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.err = err

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    @staticmethod
    def from_os(path: str, e: OSError) -> HostFSError:
        """The subclass that says what happened to `path`."""
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            cls: type[HostFSError] = ProcessGone if path.startswith("/proc/") and path[6:7].isdigit() \
                else FileMissing
            return cls(path, "not found" if e.errno == errno.ENOENT else e.strerror or "not a directory",
                       e.errno)
        if e.errno == errno.ESRCH:
            return ProcessGone(path, "the process exited", e.errno)
        if e.errno in (errno.EACCES, errno.EPERM):
            return AccessDenied(path, "permission denied (run as root to read it)", e.errno)
        return HostFSError(path, e.strerror or str(e), e.errno)


class FileMissing(HostFSError):
    """The file or directory is not there."""


class ProcessGone(FileMissing):
    """A /proc/PID path of a process (or thread) that has exited."""


class AccessDenied(HostFSError):
    """Permission denied."""


class ParseError(KvmtuneError, ValueError):
    """Text that is not in the expected format; the message says what and where."""


class VirtError(KvmtuneError):
    """The hypervisor refused or failed; `str()` is its message, fit to show a user."""


class GuestGone(VirtError):
    """The guest does not exist (any more), or is not running when it must be."""


class Disconnected(VirtError):
    """No connection to the hypervisor (libvirtd down or restarting)."""


class NotSupported(VirtError):
    """The hypervisor driver does not implement this call (e.g. the test driver)."""


class ActionError(KvmtuneError):
    """An action could not be carried out for a reason that is not the hypervisor's or kernel's."""


class AuditLogError(KvmtuneError, OSError):
    def __str__(self) -> str:
        return self.strerror or super().__str__()


class DemoStateError(KvmtuneError):
    pass


class RecordingError(KvmtuneError):
    """A recording file is missing, not a recording, damaged, or cannot be written."""


class Stalled(VirtError):
    """The hypervisor did not answer within the call's deadline (a guest's QEMU stopped or
    busy, a lock held by a long job); the call may still complete later."""
