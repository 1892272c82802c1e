"""The collector's freeze after start-up: once per process, and what exists then is frozen."""

from __future__ import annotations

import gc
import subprocess
import sys


def test_frozen_once_and_later_objects_still_collected() -> None:
    # in a fresh interpreter: a freeze in this one would stay for every later test
    code = (
        "import gc\n"
        "from kvmtune import gcfreeze\n"
        "assert gc.get_freeze_count() == 0\n"
        "before = gc.get_threshold()\n"
        "gcfreeze.after_startup()\n"
        "n = gc.get_freeze_count()\n"
        "assert gc.get_threshold() == (*before[:2], gcfreeze.FULL_EVERY) != before   # full scans 10x rarer\n"
        "assert n > 1000, n\n"
        "gcfreeze.after_startup()\n"
        "assert gc.get_freeze_count() == n\n"
        "class Cycle:\n"
        "    pass\n"
        "a = Cycle(); a.me = a; del a\n"
        "assert gc.collect() >= 1   # garbage made after the freeze is still reclaimed\n"

        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert gc.isenabled()
