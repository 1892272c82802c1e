"""`kvmtune replay FILE` as a subprocess: every bad file is one `kvmtune: ...` line and exit 2,
never a traceback; bad options are argparse's one line; --help lists the keys."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from clirun import kvmtune

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from reckit import make_recording


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "good.kvmrec"
    make_recording(path, samples=65, action_at=None)
    return path


def bad_files(d: Path, good: Path) -> dict[str, tuple[Path, str]]:
    (d / "empty.kvmrec").write_bytes(b"")
    (d / "text.kvmrec").write_text("hello\n")
    sqlite3.connect(d / "foreign.db").execute("CREATE TABLE t (x)").connection.commit()
    (d / "trunc.kvmrec").write_bytes(good.read_bytes()[:20000])
    codec = d / "codec.kvmrec"
    shutil.copy(good, codec)
    with sqlite3.connect(codec) as db:
        db.execute("UPDATE meta SET value = '9' WHERE key = 'codec'")
    db.close()
    nosamples = d / "none.kvmrec"
    shutil.copy(good, nosamples)
    with sqlite3.connect(nosamples) as db:
        db.execute("DELETE FROM samples")
    db.close()
    return {
        "missing": (d / "missing.kvmrec", "No such file or directory"),
        "empty": (d / "empty.kvmrec", "is empty: not a kvmtune recording"),
        "not sqlite": (d / "text.kvmrec", "is not a kvmtune recording (not an SQLite file)"),
        "foreign": (d / "foreign.db", "is an SQLite file but not a kvmtune recording"),
        "truncated": (d / "trunc.kvmrec", "is damaged"),
        "newer codec": (codec, "cannot read (codec 9)"),
        "no samples": (nosamples, "has no samples yet"),
    }


def test_every_bad_file_is_one_line_and_exit_2(tmp_path, good):
    for what, (path, says) in bad_files(tmp_path, good).items():
        p = kvmtune("replay", str(path), state=tmp_path)
        lines = p.stderr.splitlines()
        assert p.returncode == 2, (what, p.stderr)
        assert len(lines) == 1 and lines[0].startswith("kvmtune: ") and says in lines[0], (what, p.stderr)
        assert "Traceback" not in p.stderr and not p.stdout


def test_a_damaged_first_sample_is_one_line_too(tmp_path, good):
    path = tmp_path / "damaged.kvmrec"
    shutil.copy(good, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE samples SET data = x'00112233' WHERE seq = (SELECT MIN(seq) FROM samples)")
    db.close()
    p = kvmtune("replay", str(path), state=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("kvmtune: sample 1 of ") and "is damaged" in p.stderr
    assert len(p.stderr.splitlines()) == 1


@pytest.mark.parametrize("args, says", [
    (("--speed", "fast"), "argument --speed: 'fast' is not a speed"),
    (("--speed", "0"), "argument --speed: '0' is not a speed"),
    (("--at", "25:00"), "argument --at: '25:00' is not a time of day (HH:MM or HH:MM:SS)"),
])
def test_bad_options_are_one_line(tmp_path, good, args, says):
    p = kvmtune("replay", str(good), *args, state=tmp_path)
    assert p.returncode == 2 and says in p.stderr and len(p.stderr.splitlines()) == 1


def test_record_with_replay_is_refused(tmp_path, good):
    p = kvmtune("--record", str(tmp_path / "x.kvmrec"), "replay", str(good), state=tmp_path)
    assert p.returncode == 2 and "--record cannot be combined with replay" in p.stderr


def test_help_lists_the_time_travel_keys(tmp_path):
    p = kvmtune("replay", "--help", state=tmp_path)
    assert p.returncode == 0
    for key in ("space", "[ / ]", ", / .", "{ / }", "g ", "( / )", "x ", "--speed", "--at"):
        assert key in p.stdout, key
    assert "--record FILE" in kvmtune("--help", state=tmp_path).stdout
