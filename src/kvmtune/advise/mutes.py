"""Acknowledged (muted) findings: per host, per guest, code and subject (a host finding: per
code and subject), so muting one of a guest's three unused devices leaves the other two.

Kept in `$XDG_STATE_HOME/kvmtune/mutes.json` (source.state_dir(), as the audit log), keyed
by the host's name, so a mute on the demo's web-01 does not hide a real web-01's finding.
Written whole to a temporary file and renamed over the old one under a lock, so a crash
never leaves half a file and two kvmtune processes do not lose each other's mutes. A
missing file is no mutes; an unreadable or damaged one is no mutes plus a warning (the
caller shows it), never an exception.

The file: {"format": "kvmtune.mutes/2", "hosts": {host: {guest: [{"code", "subject"}]}}}; a
bare code string (format 1, before subjects) reads as that code with subject None.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..source import state_dir
from .findings import Finding

HOST = ""   # the key of host findings (a guest's name is never empty)

Key = tuple[str, str | None]   # (code, subject)
PerHost = dict[str, set[Key]]    # guest (HOST for the host) -> muted keys


def key(f: Finding) -> Key:
    return (f.code, f.subject)


def _entry(e: Any) -> Key:
    if isinstance(e, str):
        return (e, None)   # format 1: a code alone
    subject = e.get("subject")
    return (str(e["code"]), None if subject is None else str(subject))


def _sorted(keys: set[Key]) -> list[dict[str, str | None]]:
    return [{"code": c, "subject": s} for c, s in sorted(keys, key=lambda k: (k[0], k[1] or ""))]


def default_path() -> Path:
    return state_dir() / "mutes.json"


class Mutes:
    """The muted (guest, code, subject) keys of one host; `warning` says why the file was not used."""

    def __init__(self, host: str, path: str | os.PathLike[str] | None = None):
        self.host = host
        self.path = Path(path) if path is not None else default_path()
        self.warning: str | None = None
        self._all: dict[str, PerHost] = {}
        self.load()

    # -- reading ------------------------------------------------------------------------------
    def load(self) -> None:
        self._all, self.warning = self._read()

    def _read(self) -> tuple[dict[str, PerHost], str | None]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}, None
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or e
            return {}, f"cannot read the muted findings {self.path}: {why}; none are muted"
        try:
            data = json.loads(text)
            hosts = data["hosts"]
            out = {str(h): {str(g): {_entry(e) for e in entries} for g, entries in per.items()}
                   for h, per in hosts.items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return {}, f"the muted findings file {self.path} is damaged; none are muted (muting one rewrites it)"
        return out, None

    def _mine(self) -> PerHost:
        return self._all.get(self.host, {})

    def is_muted(self, f: Finding) -> bool:
        return key(f) in self._mine().get(f.guest or HOST, ())

    def keys(self, guest: str | None) -> frozenset[Key]:
        """The muted (code, subject) keys of a guest (None: of the host)."""
        return frozenset(self._mine().get(guest or HOST, ()))

    def split(self, found: Iterable[Finding]) -> tuple[list[Finding], list[Finding]]:
        """(shown, muted), each in the order given."""
        shown: list[Finding] = []
        muted: list[Finding] = []
        for f in found:
            (muted if self.is_muted(f) else shown).append(f)
        return shown, muted

    # -- writing ------------------------------------------------------------------------------
    def set(self, f: Finding, muted: bool) -> None:
        """Mute or unmute one finding, re-reading the file under the lock first (another
        process may have muted something meanwhile). OSError when it cannot be written."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            current, _warning = self._read()   # a damaged file is replaced by what we keep
            per = current.setdefault(self.host, {})
            keys = set(per.get(f.guest or HOST, ()))
            keys = keys | {key(f)} if muted else keys - {key(f)}
            if keys:
                per[f.guest or HOST] = keys
            else:
                per.pop(f.guest or HOST, None)
            if not per:
                current.pop(self.host, None)
            self._write(current)
            self._all, self.warning = current, None

    def toggle(self, f: Finding) -> bool:
        """Flip one finding's mute; returns whether it is muted now."""
        now = not self.is_muted(f)
        self.set(f, now)
        return now

    def _write(self, data: dict[str, PerHost]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                hosts = {h: {g: _sorted(keys) for g, keys in per.items()} for h, per in data.items()}
                json.dump({"format": "kvmtune.mutes/2", "hosts": hosts}, out, indent=1, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)


__all__ = ["HOST", "Key", "Mutes", "default_path", "key"]
