"""Run the kvmtune CLI as a user does: a subprocess, with its own state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


ARGV = [sys.executable, "-m", "kvmtune.cli"]


def environment(state: Path, path: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment of a CLI call: XDG_STATE_HOME (the audit log, the demo's state) and
    HOME under `state`, and `path` before the package on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("KVMTUNE_DEBUG", "NO_COLOR")}
    env.update(PYTHONPATH=os.pathsep.join([*path, str(SRC)]), XDG_STATE_HOME=str(state / "state"),
               XDG_RUNTIME_DIR=str(state / "run"), HOME=str(state / "home"), TMPDIR=str(state / "tmp"))
    for d in ("state", "run", "home", "tmp"):
        (state / d).mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def kvmtune(*args: str, state: Path, path: tuple[str, ...] = (), timeout: float = 60,
            ) -> subprocess.CompletedProcess[str]:
    """`kvmtune ARGS` with its own state (see environment), and `path` before the package on
    PYTHONPATH (e.g. a module shadowing libvirt)."""
    return subprocess.run([*ARGV, *args], capture_output=True, text=True,
                          env=environment(state, path), stdin=subprocess.DEVNULL, timeout=timeout)
