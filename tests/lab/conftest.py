"""The lab tier: kvmtune against a real libvirtd and QEMU guests (scripts/lab.sh up).

Every check compares kvmtune's figure with an independent tool (virsh, numastat,
/proc, sysfs) read at the same moment. Only kvmtune-lab-* guests are touched, and every
change is undone. When the lab is not up, the whole tier skips with one line saying why.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from labkit import GUESTS, URI


@functools.cache
def _why_not_up() -> str | None:
    if os.geteuid() != 0:
        return "lab tier skipped: not root (run `make test` as root on Debian 12)"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "lab tier skipped: libvirt-python is not installed"
    if shutil.which("virsh") is None:
        return "lab tier skipped: virsh not installed (run `make lab-up`)"
    p = subprocess.run(["virsh", "-q", "-c", URI, "list", "--name", "--state-running"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        return f"lab tier skipped: no libvirtd answers on {URI} (run `make lab-up`)"
    missing = [g for g in GUESTS if g not in p.stdout.split()]
    if missing:
        return f"lab tier skipped: {', '.join(missing)} not running (run `make lab-up`)"
    return None


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.lab)


def pytest_runtest_setup(item):
    # Skipped from this one hook (not per test) so `pytest -rs` folds the tier into one line.
    why = _why_not_up()
    if why:
        pytest.skip(why)


@pytest.fixture
def source():
    from kvmtune.source import open_live
    src = open_live(URI)
    yield src
    src.close()


@pytest.fixture
def collector(source):
    """kvmtune as it runs: default caching (settings refresh on events or every 30 s)."""
    from kvmtune.collect import Collector
    return Collector(source)


@pytest.fixture
def fresh_collector(source):
    """Settings re-read on every tick: for comparing values changed behind kvmtune's back."""
    from kvmtune.collect import Collector
    return Collector(source, settings_every=0)
