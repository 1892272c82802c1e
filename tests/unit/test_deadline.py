"""virt/deadline.py: calls that miss their deadline are left running, and their key stays busy."""

from __future__ import annotations

import threading
import time

import pytest

from kvmtune.errors import Stalled, VirtError
from kvmtune.virt.deadline import Deadlines


def test_a_call_on_time_gives_its_value_or_raises_its_error():
    dl = Deadlines()
    assert dl.run("a", lambda: 42, timeout=1) == 42

    def fails() -> int:
        raise VirtError("refused")
    with pytest.raises(VirtError, match="refused"):
        dl.run("a", fails, timeout=1)
    assert not dl.busy("a")


def test_a_stuck_call_raises_stalled_in_time_and_its_key_stays_busy_until_it_returns():
    dl = Deadlines()
    release = threading.Event()
    calls = []

    def stuck() -> str:
        calls.append(1)
        release.wait(10)
        return "late"
    t = time.monotonic()
    with pytest.raises(Stalled):
        dl.run("g", stuck, timeout=0.2)
    assert time.monotonic() - t < 1.0
    assert dl.busy("g")
    # while it waits, no second call is made for the key: it is refused at once
    t = time.monotonic()
    with pytest.raises(Stalled, match="still waiting"):
        dl.run("g", stuck, timeout=5)
    assert time.monotonic() - t < 0.1 and calls == [1]
    release.set()
    deadline = time.monotonic() + 5
    while dl.busy("g") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not dl.busy("g")
    assert dl.run("g", lambda: "again", timeout=1) == "again"


def test_one_stuck_call_among_many_does_not_hold_up_the_others():
    dl = Deadlines()
    release = threading.Event()

    def call(key: str):
        def f() -> str:
            if key == "k3":
                release.wait(10)
            time.sleep(0.01)
            return key
        return f
    try:
        t = time.monotonic()
        got = dl.run_many({f"k{i}": call(f"k{i}") for i in range(20)}, timeout=0.5, workers=4)
        took = time.monotonic() - t
    finally:
        release.set()
    assert isinstance(got["k3"], Stalled)
    assert {k: v for k, v in got.items() if k != "k3"} == {f"k{i}": f"k{i}" for i in range(20) if i != 3}
    assert took < 1.0
