"""`kvmtune log` as a subprocess, on a log written by AuditLog.append (the real code path):
what the listing shows for -n 0, odd guest names, dry runs; --json prints exact entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kvmtune.actions import AuditLog

SRC = str(Path(__file__).resolve().parents[2] / "src")


def kv(*args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "kvmtune.cli", *args], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (p.stdout, p.stderr)
    return p


def entry(target: str, result: str = "applied", action: str = "vcpupin") -> dict:
    return {"time": 1735700000.0, "user": "root", "host": "hv1", "source": "qemu:///system",
            "action": action, "target": target, "parameters": {},
            "commands": [f"virsh vcpupin {target} 0 8-11 --live"], "before": None, "after": None,
            "result": result}


def test_last_0_says_how_many_there_are(tmp_path):
    log = tmp_path / "actions.log"
    for i in range(56):
        AuditLog(log).append(entry(f"web-{i:02}"))
    out = kv("log", "--log", str(log), "-n", "0").stdout
    assert out.strip() == f"0 of 56 entries shown ({log})"
    lines = kv("log", "--log", str(log), "-n", "2").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ID", "55", "56", "(2"]
    assert lines[-1] == "(2 of 56 entries shown)"
    assert kv("log", "--log", str(tmp_path / "none.log")).stdout.startswith("no actions logged yet")


def test_a_huge_or_multiline_guest_name_stays_one_short_row(tmp_path):
    log = tmp_path / "actions.log"
    huge, multi = "g" * 100_000, "evil\nname\x1b[31m\tx\u2028y"
    AuditLog(log).append(entry("web-01"))
    AuditLog(log).append(entry(huge))
    AuditLog(log).append(entry(multi))
    lines = kv("log", "--log", str(log)).stdout.splitlines()
    assert len(lines) == 4                                 # a header and one row per entry
    assert max(len(line) for line in lines) < 400
    assert lines[2].split()[6] == "g" * 31 + "…"               # TARGET: 32 characters at most
    cmd = lines[2][lines[2].index("virsh"):]
    assert len(cmd) == 200 and cmd.endswith("g…")               # COMMAND: 200 when not a terminal
    assert "\x1b" not in lines[3] and "\t" not in lines[3]
    assert r"evil\nname\x1b[31m\tx\u2028y" in lines[3]
    # the file and --json keep the exact name
    exact = [json.loads(line)["target"] for line in kv("log", "--log", str(log), "--json").stdout.splitlines()]
    assert exact == ["web-01", huge, multi]
    assert [e["target"] for e in AuditLog(log).entries()] == ["web-01", huge, multi]


def test_dry_runs_are_listed(tmp_path):
    """A dry run through the CLI is logged and listed (never offered for undo)."""
    log = tmp_path / "actions.log"
    p = kv("apply", "thp", "never", "--demo", "--dry-run", "--log", str(log))
    assert p.stdout.splitlines()[-1] == "dry run: thp host is valid; nothing changed (#1)"
    row = kv("log", "--log", str(log)).stdout.splitlines()[1].split()
    assert (row[0], row[4], row[5], row[6]) == ("1", "dry-run", "thp", "host")
    e, = AuditLog(log).entries()
    assert (e["result"], e["dry_run"], e["before"]) == ("dry-run", True, None)
    undo = subprocess.run([sys.executable, "-m", "kvmtune.cli", "undo", "--demo", "--log", str(log)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    assert undo.returncode == 2 and "nothing to undo" in undo.stderr
