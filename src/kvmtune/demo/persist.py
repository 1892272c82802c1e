"""The demo host across processes: the settings actions changed, kept in a state file.

`kvmtune apply ... --demo`, a later `snapshot --demo`, `undo --demo` and the TUI are one
host: what an action changes (guest tunables live and persistent; KSM knobs, hugepage
pools, THP, NUMA balancing) is saved right after each change and loaded by every later
open, until `kvmtune demo-reset`. Only settings are kept: the figures (load, memory
placement, KSM progress) start again from the seed, and move toward the settings as on a
host that was rebooted with them (memory migrates to its numatune over a few steps).

Each demo (seed, and --demo-guests for scale mode) has its own folder under
$XDG_STATE_HOME/kvmtune/demo/ with `state.json` and its own audit log `actions.log`.

Several processes on one demo: a save merges under a lock (only the settings this process
changed since it last read the file go in; the rest stays as the file has it), and every
process takes what others saved at its next step. Two processes changing the same setting
at the same moment: the last save wins. The file holds only what differs from the pristine
demo; writes are atomic (temp file + rename), so a kill never leaves half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import cpuset
from ..errors import DemoStateError
from ..model import MemTune, NumaTune
from ..source import state_dir
from ..vocab import IOTUNE_INT_KEYS, MEMTUNE_KEYS, NUMA_MODES, THP_DEFRAG_MODES, THP_MODES
from . import scenario as sc
from .dynamics import HostModel
from .state import SimGuest, Tunables

SCHEMA = "kvmtune.demo-state/1"
STATE_FILE = "state.json"
LOG_FILE = "actions.log"

Key = tuple[str, ...]       # ("guest", name, "live"|"config", field) or ("host", ...)
Settings = dict[Key, Any]   # key -> JSON value


def demo_dir(seed: int = 1, guests: int | None = None) -> Path:
    """The folder of one demo's state file and audit log."""
    return state_dir() / "demo" / (f"seed-{seed}" + (f"-guests-{guests}" if guests is not None else ""))


# -- settings <-> JSON -------------------------------------------------------------------------

def _cpus(v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or not v or not all(type(c) is int and 0 <= c < sc.NCPUS for c in v):
        raise ValueError(f"{v!r} is not a list of the demo's CPUs")
    return tuple(sorted(set(v)))


def _pin(v: Any) -> tuple[int, ...] | None:
    return None if v is None else _cpus(v)


def _enc_pin(p: tuple[int, ...] | None) -> list[int] | None:
    return None if p is None else list(p)


def _vcpu_pins(v: Any, old: Any) -> list[tuple[int, ...] | None]:
    if not isinstance(v, list) or len(v) != len(old):
        raise ValueError(f"needs {len(old)} vCPU pins")
    return [_pin(x) for x in v]


def _iothread_pins(v: Any, old: Any) -> dict[int, tuple[int, ...] | None]:
    if not isinstance(v, dict) or set(v) != set(old):
        raise ValueError(f"needs the I/O threads {sorted(old)}")
    return {int(k): _pin(x) for k, x in v.items()}


def _numatune(v: Any, old: Any) -> NumaTune | None:
    if v is None:
        return None
    if not (isinstance(v, list) and len(v) == 2 and v[0] in NUMA_MODES and (v[1] is None or isinstance(v[1], str))):
        raise ValueError(f"{v!r} is not [mode, nodeset]")
    if v[1] is not None and not all(n < sc.NODES for n in cpuset.parse(v[1])):   # CpusetError is a ValueError
        raise ValueError(f"nodeset {v[1]!r} names a node the demo does not have")
    return NumaTune(v[0], v[1])


def _memtune(v: Any, old: Any) -> MemTune:
    if not (isinstance(v, list) and len(v) == 3 and all(x is None or (type(x) is int and x > 0) for x in v)):
        raise ValueError(f"{v!r} is not three limits in KiB (null: unlimited)")
    return MemTune(*v)


def _weight(v: Any, old: Any) -> int:
    if type(v) is not int or not (v == 0 or 100 <= v <= 1000):
        raise ValueError(f"{v!r} is not a blkio weight")
    return v


def _text(v: Any, old: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not text")
    return v


def _iotune(v: Any, old: Any) -> dict[str, dict[str, int]]:
    if not isinstance(v, dict) or set(v) != set(old):
        raise ValueError(f"needs the disks {sorted(old)}")
    out = {}
    for disk, t in v.items():
        if not (isinstance(t, dict) and set(t) == set(IOTUNE_INT_KEYS)
                and all(type(x) is int and x >= 0 for x in t.values())):
            raise ValueError(f"disk {disk}: not a set of throttle values")
        out[disk] = dict(t)
    return out


# field -> (Tunables -> JSON, (JSON, pristine JSON) -> value to set)
_GUEST: dict[str, tuple[Callable[[Tunables], Any], Callable[[Any, Any], Any]]] = {
    "vcpu_pins": (lambda t: [_enc_pin(p) for p in t.vcpu_pins], _vcpu_pins),
    "emulator_pin": (lambda t: _enc_pin(t.emulator_pin), lambda v, old: _pin(v)),
    "iothread_pins": (lambda t: {str(k): _enc_pin(p) for k, p in t.iothread_pins.items()}, _iothread_pins),
    "numatune": (lambda t: None if t.numatune is None else [t.numatune.mode, t.numatune.nodeset], _numatune),
    "memtune": (lambda t: [getattr(t.memtune, k) for k in MEMTUNE_KEYS], _memtune),
    "blkio_weight": (lambda t: t.blkio_weight, _weight),
    "device_weight": (lambda t: t.device_weight, _text),
    "iotune": (lambda t: {d: dict(v) for d, v in t.iotune.items()}, _iotune),
}
_SCOPES = ("live", "config")
_KSM_MAX = {"run": 2, "merge_across_nodes": 1}


def settings(model: HostModel) -> Settings:
    """What an action can change on the demo, as JSON values by key."""
    out: Settings = {}
    for g in model.guests:
        for scope in _SCOPES:
            t = getattr(g, scope)
            for name, (enc, _) in _GUEST.items():
                out[("guest", g.name, scope, name)] = enc(t)
    for k, v in model.ksm.items():
        out[("host", "ksm", k)] = v
    for k, w in model.thp.items():
        out[("host", "thp", k)] = w
    out[("host", "numa_balancing")] = model.numa_balancing
    for size, per in model.pools.items():
        for node, n in per.items():
            out[("host", "pools", str(size), str(node))] = n
    return out


def _check_host(model: HostModel, key: Key, v: Any) -> Any:
    if key[1] == "thp":
        if v not in (THP_MODES if key[2] == "enabled" else THP_DEFRAG_MODES):
            raise ValueError(f"{v!r} is not a THP mode")
        return v
    top = 3 if key[1] == "numa_balancing" else _KSM_MAX.get(key[2], 1 << 62) if key[1] == "ksm" else 1 << 62
    if type(v) is not int or not 0 <= v <= top:
        raise ValueError(f"{v!r} is not a whole number from 0 to {top}")
    if key[1] == "pools":
        used = model.huge_used().get(int(key[2]), {}).get(int(key[3]), 0)
        if v < used:
            raise ValueError(f"{v} pages is below the {used} the guests hold")
    return v


def _apply(model: HostModel, changes: Settings, pristine: Settings) -> set[str]:
    """Set the changed settings (JSON) on the model, checking each; the guests touched."""
    guests = {g.name: g for g in model.guests}
    decoded: list[tuple[Key, Any]] = []
    for key, v in changes.items():
        if key not in pristine:
            raise DemoStateError(f"unknown setting {'/'.join(key)}")
        try:
            if key[0] == "guest":
                decoded.append((key, _GUEST[key[3]][1](v, pristine[key])))
            else:
                decoded.append((key, _check_host(model, key, v)))
        except ValueError as e:
            raise DemoStateError(f"{'/'.join(key)}: {e}") from None
    touched: set[str] = set()
    for key, value in decoded:     # all checked first: a bad file changes nothing
        if key[0] == "guest":
            g: SimGuest = guests[key[1]]
            setattr(getattr(g, key[2]), key[3], value)
            touched.add(g.name)
        elif key[1] == "ksm":
            model.ksm[key[2]] = value
        elif key[1] == "thp":
            model.thp[key[2]] = value
        elif key[1] == "numa_balancing":
            model.numa_balancing = value
        else:
            model.pools[int(key[2])][int(key[3])] = value
    return touched


# -- the file ----------------------------------------------------------------------------------

class DemoState:
    """One demo's state file, and what this process last read from or wrote to it."""

    def __init__(self, path: Path, seed: int, guests: int | None):
        self.path = path
        self.seed, self.guests = seed, guests
        self._pristine: Settings = {}
        self._base: Settings = {}         # the settings as the file held them when last read/written
        self._seen: tuple[int, ...] | None = None

    def load(self, model: HostModel) -> None:
        """At open, on the pristine model: apply what the file holds. A file that cannot be
        used raises DemoStateError (one line, naming the file and the way out)."""
        self._pristine = settings(model)
        self._base = dict(self._pristine)
        try:
            self._seen = self._stat()
            if self._seen is None:
                return
            changes = self._read()
            _apply(model, changes, self._pristine)
        except OSError as e:     # not the file's content: reset would not help
            raise DemoStateError(f"the demo's saved state {self.path} cannot be read: {e.strerror or e}") from None
        except DemoStateError as e:
            raise DemoStateError(f"the demo's saved state {self.path} cannot be used ({e}); "
                                 f"`kvmtune demo-reset{self._options()}` starts the demo afresh") from None
        self._base.update(changes)

    def refresh(self, model: HostModel) -> set[str]:
        """Take what another process saved since we last looked; the guests it touched."""
        try:
            seen = self._stat()
            if seen == self._seen:
                return set()
            self._seen = seen
            theirs = {**self._pristine, **(self._read() if seen is not None else {})}
        except (DemoStateError, OSError):
            return set()     # unreadable now, or a bad file written by hand: keep ours (a save replaces it)
        return self._take(model, theirs, settings(model))

    def save(self, model: HostModel) -> set[str]:
        """Write the settings this process changed since it last read the file, merged with
        what the file holds now (under a lock); also take the others'. The guests touched."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(STATE_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                theirs = {**self._pristine, **(self._read() if self._stat() is not None else {})}
            except DemoStateError:
                theirs = dict(self._base)
            mine = settings(model)
            out = {**theirs, **{k: v for k, v in mine.items() if v != self._base.get(k)}}
            self._write({k: v for k, v in out.items() if v != self._pristine.get(k)})
            touched = self._take(model, out, mine)
            self._seen = self._stat()
            return touched
        finally:
            os.close(fd)

    def _take(self, model: HostModel, theirs: Settings, mine: Settings) -> set[str]:
        """Apply the settings another process changed (ours not yet saved stay), and remember
        `theirs` as the file's."""
        take = {k: v for k, v in theirs.items() if v != self._base.get(k) and mine.get(k) == self._base.get(k)}
        self._base = theirs
        try:
            return _apply(model, take, self._pristine) if take else set()
        except DemoStateError:
            return set()

    def _options(self) -> str:
        return (f" --seed {self.seed}" if self.seed != 1 else "") + \
               (f" --demo-guests {self.guests}" if self.guests is not None else "")

    def _stat(self) -> tuple[int, ...] | None:
        """The file's identity now (a save replaces it: a new inode), None when there is none."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _read(self) -> Settings:
        """The file's changes; DemoStateError when it is not a state file of this demo."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as e:     # (OSError: the caller's, the file cannot be read at all)
            raise DemoStateError(f"not JSON: {e}") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else None
            raise DemoStateError(f"not a {SCHEMA} file" + (f" (it is {found!r})" if found else ""))
        if (data.get("seed"), data.get("guests")) != (self.seed, self.guests):
            raise DemoStateError(f"it is the state of another demo (seed {data.get('seed')}, "
                                 f"guests {data.get('guests')})")
        changed = data.get("changed")
        if not isinstance(changed, list) or not all(
                isinstance(c, list) and len(c) == 2 and isinstance(c[0], list)
                and all(isinstance(p, str) for p in c[0]) for c in changed):
            raise DemoStateError('"changed" is not a list of [key, value] pairs')
        return {tuple(k): v for k, v in changed}

    def _write(self, changes: Settings) -> None:
        head = json.dumps({"schema": SCHEMA, "seed": self.seed, "guests": self.guests})[:-1]
        rows = ",\n".join(" " + json.dumps([list(k), v]) for k, v in sorted(changes.items()))
        text = f'{head}, "changed": [\n{rows}\n]}}\n' if rows else f'{head}, "changed": []}}\n'
        tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with open(fd, "w", encoding="utf-8", closefd=False) as f:   # one change a line: easy to read
                f.write(text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)


def reset(seed: int = 1, guests: int | None = None) -> list[str]:
    """Back to the pristine demo: remove its saved settings and move its audit log aside
    (to actions.log.old, replacing an older one). Says what it did, one line each; OSError
    (naming the path) when it cannot."""
    d = demo_dir(seed, guests)
    done: list[str] = []
    if not d.exists():
        return done
    lock = d / (STATE_FILE + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)     # not in the middle of another process's save
        state = d / STATE_FILE
        if state.exists():
            try:
                n = len(json.loads(state.read_text(encoding="utf-8")).get("changed") or [])
                what = f"{n} changed setting" + ("" if n == 1 else "s")
            except (OSError, ValueError, AttributeError, TypeError):
                what = "it was unreadable"
            state.unlink()
            done.append(f"removed the saved settings {state} ({what})")
        log = d / LOG_FILE
        if log.exists():
            old = log.with_name(LOG_FILE + ".old")
            lines = sum(1 for line in log.read_bytes().splitlines() if line.strip())
            os.replace(log, old)
            done.append(f"moved the demo's audit log ({lines} entries) to {old}")
    finally:
        os.close(fd)
    return done
