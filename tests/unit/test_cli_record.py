"""`kvmtune record` as systemd or a user runs it: the CLI as a subprocess, stopped by the
clock, by signals and by `kill -9`; the files it leaves are read back with Recording."""

from __future__ import annotations

import contextlib
import itertools
import os
import pty
import random
import re
import select
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import clirun
import pytest

from kvmtune.demo.simulator import DT, T0
from kvmtune.errors import RecordingError
from kvmtune.record.store import Recording


@contextlib.contextmanager
def start(tmp_path: Path, *args: str, **kw) -> Iterator[subprocess.Popen[str]]:
    """`kvmtune record ARGS` running; killed on the way out if a failed check left it running."""
    p = subprocess.Popen([*clirun.ARGV, "record", *args], env=clirun.environment(tmp_path / "call"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, **kw)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def record(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return clirun.kvmtune("record", *args, state=tmp_path / "call", timeout=timeout)


T1 = T0 + DT    # the demo's first sample


def samples_of(path: Path) -> Recording:
    """The recording, with every sample decoded (a damaged one fails here)."""
    rec = Recording(path)
    for i in range(len(rec)):
        rec.snapshot(i)
    return rec


def on_schedule(times: list[float], step: float) -> bool:
    return all(abs(b - a - step) < 1e-6 for a, b in itertools.pairwise(times))


def test_for_writes_the_samples_of_its_duration(tmp_path):
    f = tmp_path / "demo.kvmrec"
    t = time.monotonic()
    # 100 guests: a collection takes ~0.1 s, which a schedule that drifts (sleeping the
    # interval after each one) would add to every interval: 9 samples in 5 s, not 10
    r = record(tmp_path, str(f), "--for", "5s", "--interval", "0.5", "--demo", "--demo-guests", "100")
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    slow = [x for x in lines if "longer than the interval" in x]   # a loaded machine: said once
    # not a terminal: a start line and a summary, no progress
    assert len(lines) == 2 + len(slow) and len(slow) <= 1 and "\r" not in r.stderr, r.stderr
    assert lines[0].startswith(f"kvmtune: recording demo (100 guests) to {f} every 0.5s for 5s")
    rec = samples_of(f)
    assert (len(rec) == 10 if not slow else 7 <= len(rec) <= 10) and 4.5 <= took < 30, (len(rec), r.stderr)
    assert on_schedule(rec.times, DT)          # the demo's clock: DT per sample, none lost
    assert re.search(rf"recorded {len(rec)} samples to {re.escape(str(f))}: .* on disk, \d+ bytes per "
                     r"guest-sample, .* \(\d+s\)$", lines[-1]), lines[-1]   # (after the slow line, if any)
    assert [s["source"] for s in rec.sessions] == ["demo (100 guests)"] and rec.sessions[0]["interval"] == 0.5
    assert not Path(f"{f}-wal").exists()        # closed: one file again
    assert r.stdout == ""


@pytest.mark.parametrize("sig,code,why", [(signal.SIGTERM, 0, "(SIGTERM)"), (signal.SIGINT, 0, "(interrupted)"),
                                          (signal.SIGHUP, 129, "(hangup)")])
def test_a_signal_stops_it_cleanly(tmp_path, sig, code, why):
    f = tmp_path / "demo.kvmrec"
    with start(tmp_path, str(f), "--demo", "--interval", "0.2") as p:
        time.sleep(2.0)
        p.send_signal(sig)
        _out, err = p.communicate(timeout=20)
    assert p.returncode == code, err
    summary = err.splitlines()[-1]
    m = re.fullmatch(rf"kvmtune: recorded (\d+) samples to {re.escape(str(f))} {re.escape(why)}: .*", summary)
    assert m, err
    rec = samples_of(f)
    assert len(rec) == int(m.group(1)) >= 3 and on_schedule(rec.times, DT)
    assert "Traceback" not in err and not Path(f"{f}-wal").exists()


def test_a_second_session_is_appended(tmp_path):
    f = tmp_path / "host.kvmrec"
    # the libvirt test driver on this machine's /sys and /proc: the wall clock moves on between runs
    args = (str(f), "--connect", "test:///default", "--for", "1s", "--interval", "0.25")
    assert record(tmp_path, *args).returncode == 0
    first = len(samples_of(f))
    r = record(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    assert f"(appending a new session to its {first} samples)" in r.stderr.splitlines()[0]
    rec = samples_of(f)
    assert len(rec.sessions) == 2 and len(rec) > first >= 3
    assert rec.times == sorted(rec.times)


def test_a_demo_cannot_be_appended_behind_its_own_end(tmp_path):
    """The demo's clock starts again each run: its samples would sort before the file's end
    (a reader skips them), so it says so instead of writing them."""
    f = tmp_path / "demo.kvmrec"
    assert record(tmp_path, str(f), "--demo", "--for", "1s", "--interval", "0.25").returncode == 0
    n = len(samples_of(f))
    r = record(tmp_path, str(f), "--demo", "--for", "1s", "--interval", "0.25")
    assert r.returncode == 2 and "record to a new file" in r.stderr.splitlines()[-1], r.stderr
    rec = samples_of(f)
    assert len(rec) == n and len(rec.sessions) == 1


def _one_error(r: subprocess.CompletedProcess[str], code: int, pattern: str) -> None:
    assert r.returncode == code, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]), r.stderr
    assert "Traceback" not in r.stderr


def test_bad_files_are_one_line_and_exit_2(tmp_path):
    _one_error(record(tmp_path, str(tmp_path), "--demo", "--for", "1s"), 2, "is a directory")
    _one_error(record(tmp_path, str(tmp_path / "no" / "x.kvmrec"), "--demo", "--for", "1s"), 2,
               "does not exist")
    text = tmp_path / "notes.txt"
    text.write_text("not a recording\n" * 100)
    _one_error(record(tmp_path, str(text), "--demo", "--for", "1s"), 2, "not a kvmtune recording")
    assert text.read_text() == "not a recording\n" * 100
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    _one_error(record(tmp_path, str(other), "--demo", "--for", "1s"), 2, "not a kvmtune recording")


def test_a_read_only_file_system_is_one_line(tmp_path):
    # /sys takes no new files, even from root (CI runs as root: a mode-0500 folder would not stop it)
    _one_error(record(tmp_path, "/sys/x.kvmrec", "--demo", "--for", "1s"), 2, r"^kvmtune: cannot open /sys/x\.kvmrec: ")


@pytest.mark.parametrize("args,pattern", [
    (("--for", "ten"), r"'ten' is not a duration \(e\.g\. 90s, 10m, 2h, 1d, 1h30m\)"),
    (("--for", "10x"), r"'10x' is not a duration"),
    (("--for", "0s"), r"a duration must be more than 0"),
    (("--for=-5m",), r"is not a duration"),
    (("--max-size", "100K"), r"'100K' is too small: at least 1 MiB"),
    (("--max-size", "2Q"), r"'2Q' is not a size"),
    (("--max-size=-1G",), r"a size cannot be negative"),
    (("--interval", "0"), r"more than 0"),
])
def test_bad_values_are_one_line(tmp_path, args, pattern):
    f = tmp_path / "x.kvmrec"
    r = record(tmp_path, str(f), "--demo", *args)
    _one_error(r, 2, pattern)
    assert "(see --help)" in r.stderr and not f.exists()


def test_max_size_drops_the_oldest_samples(tmp_path):
    f = tmp_path / "big.kvmrec"
    cap = 1024 ** 2
    first, sizes, deadline = None, [], time.monotonic() + 90   # ~15 s on an idle machine
    with start(tmp_path, str(f), "--demo", "--demo-guests", "100", "--interval", "0.01", "--max-size", "1M") as p:
        while time.monotonic() < deadline:  # until the first sample kept is a later one (or give up)
            time.sleep(0.5)
            try:
                rec = Recording(f)
            except RecordingError:   # not written yet
                continue
            sizes.append(f.stat().st_size)
            first = rec.times[0] if len(rec) else None
            rec.close()
            if first is not None and first > T1:
                break
        p.terminate()
        _out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    rec = samples_of(f)
    written = int(re.search(r"recorded (\d+) samples", err).group(1))
    assert len(rec) < written and rec.times[0] > T1    # the oldest were dropped ...
    assert on_schedule(rec.times, DT)                  # ... and what is kept has no gap
    assert max(sizes) <= 1.5 * cap and f.stat().st_size <= 1.5 * cap, (sizes, f.stat().st_size)


def test_a_write_error_is_one_line_exit_1_and_what_was_written_stays(tmp_path):
    """The disk filling up, provoked for real: a file size limit (RLIMIT_FSIZE) makes
    writes past it fail with EFBIG, as a full disk fails them with ENOSPC."""
    import resource
    f = tmp_path / "full.kvmrec"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
    with start(tmp_path, str(f), "--demo", "--demo-guests", "50", "--interval", "0.01", preexec_fn=limit) as p:
        _out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert re.search(rf"^kvmtune: cannot write {re.escape(str(f))}: ", err, re.M), err
    assert "Traceback" not in err
    rec = samples_of(f)
    assert len(rec) >= 2 and on_schedule(rec.times, DT)


def _read_all(fd: int, until: float | None, buf: bytearray, stop: bytes | None = None) -> None:
    """What the recorder wrote to its terminal, until `until` (None: until it is closed) or
    until `stop` shows in it."""
    while stop is None or stop not in buf:
        wait = None if until is None else max(0.0, until - time.monotonic())
        if wait == 0.0:
            return
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:   # EIO: the other end is closed
            return
        if not data:
            return
        buf += data


def test_kill_9_loses_at_most_the_sample_in_flight(tmp_path):
    """The issue's figure: kill -9 at a random moment, 20 times. Each sample's progress line
    is printed after its commit, so the file holds at least as many samples as the last line
    says (the sample in flight may or may not be in), all decodable, on schedule."""
    rnd = random.Random(12)
    f = tmp_path / "kill.kvmrec"
    env = clirun.environment(tmp_path / "call")
    with_samples = 0
    for n in range(20):
        f.unlink(missing_ok=True)
        master, slave = pty.openpty()
        p = subprocess.Popen([*clirun.ARGV, "record", str(f), "--demo", "--interval", "0.05"], env=env,
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        out = bytearray()
        # the random moment counts from the first sample: a loaded machine takes seconds to start Python
        _read_all(master, time.monotonic() + 60, out, stop=b"recording: 1 samples")
        _read_all(master, time.monotonic() + rnd.uniform(0.3, 3.0), out)
        p.kill()
        p.wait(timeout=10)
        _read_all(master, None, out)
        os.close(master)
        shown = [int(m) for m in re.findall(rb"recording: (\d+) samples", bytes(out))]
        committed = shown[-1] if shown else 0
        if not f.exists():
            assert committed == 0, f"run {n}: no file after {committed} samples"
            continue
        rec = samples_of(f)
        assert committed <= len(rec) <= committed + 1, f"run {n}: {len(rec)} samples, {committed} shown"
        assert on_schedule(rec.times, DT), f"run {n}: a gap in {rec.times}"
        with_samples += committed > 0
        rec.close()
    assert with_samples == 20     # every kill came mid-recording


def test_quiet_prints_nothing_when_all_goes_well(tmp_path):
    f = tmp_path / "q.kvmrec"
    r = record(tmp_path, str(f), "--demo", "--for", "1s", "--interval", "0.25", "--quiet")
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""
    assert len(samples_of(f)) >= 3


def test_a_collection_slower_than_the_interval_is_said_once(tmp_path):
    # 100 guests take well over 0.02 s a tick (~0.1 s): every sample is late, one line says so.
    # 3 s: a loaded machine (the other tiers running) still gets a few samples in
    f = tmp_path / "slow.kvmrec"
    r = record(tmp_path, str(f), "--demo", "--demo-guests", "100", "--for", "3s", "--interval", "0.02")
    assert r.returncode == 0, r.stderr
    slow = [x for x in r.stderr.splitlines() if "longer than the interval" in x]
    assert len(slow) == 1 and re.fullmatch(r"kvmtune: collecting took \d+\.\d\ds, longer than the interval "
                                           r"\(0\.02s\): each sample starts as the one before ends", slow[0])
    rec = samples_of(f)
    assert len(rec) >= 3 and on_schedule(rec.times, DT)
