"""The garbage collector once a front end is up: what exists then (modules, the UI toolkit,
the demo's simulated host, the first snapshot) is moved out of its full scans.

A full collection scans every tracked object with the GIL held: in the TUI on the 1000-guest
demo that was 270 000 objects and 200 ms, every few ticks (a 50 ms refresh took 260 ms when
one fell in it, and a key pressed then waited as long). Objects made later (snapshots,
history) are collected as before, and frozen ones are still freed when nothing refers to
them; only a reference cycle that is garbage at the freeze is never reclaimed (a bounded,
one-time amount: the young generations are collected just before).
The TUI freezes once every guest's settings are read, not at its first screen: frozen there
(settings of a fifth of the guests read), 250 000 objects stayed in the full scans, and one
took 190 ms in the middle of a refresh (1000 demo guests, measured).

Then full collections come 10 times less often (after 100 collections of the middle
generation, not 10): each tick's snapshot is 25-40 000 objects that live two ticks and die
by their reference counts, so the young generations filled past Python's "a quarter more
than the last full scan" at once, and a full scan of the ~150 000 live objects (100-200 ms)
ran every 10th middle collection: 31 full scans in 20 s of 0.5 s ticks on the 1000-guest
demo, 3.5 s of the UI thread's time. With 100: 6, 0.6 s. (Freezing after every tick was
tried and dropped: Textual's rendering leaves ~1 700 objects of reference cycles a tick,
which frozen are never freed.)
"""

from __future__ import annotations

import gc

_frozen = False
FULL_EVERY = 100   # collections of the middle generation between two full ones (Python's default: 10)


def after_startup() -> None:
    """Freeze what exists now (once per process; later calls do nothing)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect(1)
    gc.freeze()
    first, middle, _ = gc.get_threshold()
    gc.set_threshold(first, middle, FULL_EVERY)
