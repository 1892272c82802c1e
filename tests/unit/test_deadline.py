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



def test_workers_are_kept_between_ticks_and_a_stuck_one_is_not_counted_idle():
    d = Deadlines()
    ran: list[threading.Thread] = []   # (held, as `warm` is: no thread object freed and its id reused)

    def tick() -> dict[str, object]:
        return d.run_many({f"g{i}": (lambda i=i: ran.append(threading.current_thread()) or i)
                           for i in range(4)}, 5.0, workers=4)

    for _ in range(3):
        tick()
    time.sleep(0.05)   # (the workers the last tick did not need are idle now)
    warm = {t for t in threading.enumerate() if t.name == "kvmtune-deadline"}
    ran.clear()
    for _ in range(5):   # later ticks' calls run on the threads kept from the first ones
        assert tick() == {f"g{i}": i for i in range(4)}
    assert set(ran) <= warm
    release = threading.Event()
    out = d.run_many({"stuck": release.wait, "fine": lambda: 1}, 0.3, workers=2)
    assert isinstance(out["stuck"], Stalled) and out["fine"] == 1
    assert tick() == {f"g{i}": i for i in range(4)}   # one worker is stuck: the tick's calls still run
    release.set()
