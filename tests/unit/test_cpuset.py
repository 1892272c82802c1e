"""cpuset: the one cpulist parser/formatter (kernel and libvirt syntax)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kvmtune import cpuset
from kvmtune.cpuset import CpusetError


@pytest.mark.parametrize("text,ids", [
    ("0-3,8-11", (0, 1, 2, 3, 8, 9, 10, 11)),
    ("1-4,^2", (1, 3, 4)),
    ("0,2-3", (0, 2, 3)),
    (" 0-3, 8 \n", (0, 1, 2, 3, 8)),
    ("", ()),
    ("\n", ()),
    ("5", (5,)),
    ("3,1,1,2", (1, 2, 3)),
    ("0-7:2", (0, 2, 4, 6)),
    ("1-2,5-7,^6", (1, 2, 5, 7)),
    ("^1,0-2", (0, 2)),
])
def test_parse(text, ids):
    assert cpuset.parse(text) == ids


@pytest.mark.parametrize("text", ["a", "1-", "-1", "3-1", "1,,2", "1-2-3", "0-7:0", "^", "1 2", "-", "99999999", "²",
                                  None, 5])
def test_parse_errors(text):
    with pytest.raises(CpusetError) as e:
        cpuset.parse(text)
    assert "bad CPU list" in str(e.value)


def test_format():
    assert cpuset.format([0, 1, 2, 3, 8]) == "0-3,8"
    assert cpuset.format([3, 1, 2, 2]) == "1-3"
    assert cpuset.format([]) == ""
    assert cpuset.format([0, 2, 4]) == "0,2,4"


def test_bools():
    assert cpuset.from_bools((True, False, True)) == (0, 2)
    assert cpuset.to_bools((0, 2), 4) == (True, False, True, False)
    with pytest.raises(CpusetError, match="CPU 4 does not exist"):
        cpuset.to_bools((4,), 4)


@given(st.sets(st.integers(0, 300)))
def test_round_trip(ids):
    assert cpuset.parse(cpuset.format(ids)) == tuple(sorted(ids))
    assert cpuset.from_bools(cpuset.to_bools(ids, 301)) == tuple(sorted(ids))


@given(st.text(alphabet="0123456789-,^: \n\tx²٣", max_size=30) | st.text(max_size=30))
@example("²")          # isdigit() but not int(): found by this test
@example("0-٣")
def test_parse_only_raises_cpuset_error(text):
    try:
        ids = cpuset.parse(text)
    except CpusetError:
        return
    assert all(isinstance(i, int) and 0 <= i < cpuset.MAX_ID for i in ids)
    assert list(ids) == sorted(set(ids))
