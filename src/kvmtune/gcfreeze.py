"""The garbage collector once a front end is up: what exists then (modules, the UI toolkit,
the demo's simulated host, the first snapshot) is moved out of its full scans.

A full collection scans every tracked object with the GIL held: in the TUI on the 1000-guest
demo that was 270 000 objects and 200 ms, every few ticks (a 50 ms refresh took 260 ms when
one fell in it, and a key pressed then waited as long). Objects made later (snapshots,
history) are collected as before, and frozen ones are still freed when nothing refers to
them; only a reference cycle that is garbage at the freeze is never reclaimed (a bounded,
one-time amount: the young generations are collected just before).
"""

from __future__ import annotations

import gc

_frozen = False


def after_startup() -> None:
    """Freeze what exists now (once per process; later calls do nothing)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect(1)
    gc.freeze()
