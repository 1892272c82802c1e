"""HostFS: one error policy for every read and write under a root."""

from __future__ import annotations

import os
import subprocess

import pytest

from kvmtune.errors import FileMissing
from kvmtune.hostfs import HostFS, HostFSError


@pytest.fixture
def fs(tmp_path):
    (tmp_path / "sys/a").mkdir(parents=True)
    (tmp_path / "sys/a/n").write_text(" 42 extra\n")
    (tmp_path / "sys/a/word").write_text("hello\n")
    (tmp_path / "sys/a/empty").write_text("")
    return HostFS(tmp_path)


def test_reads(fs):
    assert fs.read_int("sys/a/n") == 42
    assert fs.read_int("/sys/a/n") == 42          # a leading slash stays under the root
    assert fs.read_str("sys/a/word") == "hello"
    assert fs.read_text("sys/a/word") == "hello\n"
    assert fs.listdir("sys/a") == ["empty", "n", "word"]
    assert fs.exists("sys/a/n") and not fs.exists("sys/a/zz")
    assert fs.show("sys/a/n") == "/sys/a/n"


@pytest.mark.parametrize("call,arg,reason,missing", [
    ("read_text", "sys/a/zz", "not found", True),
    ("listdir", "sys/zz", "not found", True),
    ("read_int", "sys/a/word", "not a number: 'hello'", False),
    ("read_int", "sys/a/empty", "not a number: ''", False),
    ("read_text", "sys/a", "Is a directory", False),
    ("listdir", "sys/a/n", "Not a directory", True),
])
def test_errors_name_the_path(fs, call, arg, reason, missing):
    with pytest.raises(HostFSError) as e:
        getattr(fs, call)(arg)
    assert str(e.value) == f"/{arg}: {reason}"
    assert isinstance(e.value, FileMissing) is missing


def test_a_default_stands_in_for_a_missing_file_only(fs):
    assert fs.read_int("sys/a/zz", None) is None
    assert fs.read_str("sys/a/zz", "x") == "x"
    assert fs.read_text("sys/a/zz", "") == ""
    assert fs.listdir("sys/zz", []) == []
    assert fs.read_int("sys/a/n", None) == 42
    with pytest.raises(HostFSError, match="not a number"):
        fs.read_int("sys/a/word", None)          # there but wrong: still an error
    with pytest.raises(HostFSError, match="Is a directory"):
        fs.read_text("sys/a", None)


def test_write(fs, tmp_path):
    fs.write_text("sys/a/word", "bye")
    assert (tmp_path / "sys/a/word").read_text() == "bye"
    with pytest.raises(HostFSError, match=r"^/sys/zz/x: not found$"):
        fs.write_text("sys/zz/x", "1")


def test_root_must_be_a_directory(tmp_path):
    with pytest.raises(HostFSError, match="not a directory"):
        HostFS(tmp_path / "nope")


# -- kept fds (read every tick): on the real /proc, a live process's files and a gone one's --

def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def host():
    fs = HostFS("/")
    yield fs
    fs.close_kept()


def test_a_kept_file_is_read_afresh_through_one_fd(host):
    first = host.read_text("proc/self/schedstat", keep=True)
    fds = _open_fds()
    sum(range(2_000_000))   # CPU time, so the run time moves
    second = host.read_text("proc/self/schedstat", keep=True)
    assert _open_fds() == fds   # the same fd, read again
    assert int(second.split()[0]) > int(first.split()[0])


def test_a_kept_file_of_a_gone_process_reads_as_missing(host):
    child = subprocess.Popen(["sleep", "30"])
    rel = f"proc/{child.pid}/statm"
    try:
        assert host.read_text(rel, keep=True).split()[0].isdigit()
    finally:
        child.kill()
        child.wait()
    fds = _open_fds()
    with pytest.raises(FileMissing) as e:
        host.read_text(rel, keep=True)
    assert f"/proc/{child.pid}/statm" in str(e.value)
    assert _open_fds() == fds - 1   # its kept fd was closed
    assert host.read_text(rel, None, keep=True) is None


def test_sweep_closes_the_fds_of_files_no_longer_read(host):
    host.read_text("proc/self/stat", keep=True)
    host.read_text("proc/self/statm", keep=True)
    host.sweep_kept()
    fds = _open_fds()
    host.read_text("proc/self/stat", keep=True)   # statm is not read this time
    host.sweep_kept()
    assert _open_fds() == fds - 1
    host.sweep_kept()   # nothing read since: the last one goes
    assert _open_fds() == fds - 2


def test_kept_fds_stop_at_the_cap_and_reads_go_on(host):
    host._kept_max = 1
    host.read_text("proc/self/stat", keep=True)
    fds = _open_fds()
    assert host.read_text("proc/self/statm", keep=True)   # read the usual way: no fd kept
    assert _open_fds() == fds


def test_a_tree_keeps_no_fd_its_files_may_be_replaced(tmp_path):
    fs = HostFS(tmp_path)
    (tmp_path / "proc").mkdir()
    f = tmp_path / "proc" / "statm"
    f.write_text("1 2\n")
    assert fs.read_text("proc/statm", keep=True) == "1 2\n"
    tmp = tmp_path / "proc" / ".statm"
    tmp.write_text("3 4\n")
    tmp.replace(f)   # as the demo writes its settings: a new file at the path
    assert fs.read_text("proc/statm", keep=True) == "3 4\n"
