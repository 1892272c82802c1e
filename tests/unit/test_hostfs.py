"""HostFS: one error policy for every read and write under a root."""

from __future__ import annotations

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
