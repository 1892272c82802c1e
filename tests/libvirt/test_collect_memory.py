"""A guest's memory now, its configured size and its RSS, through the libvirt-python code path.

The test driver's two guests over a generated /proc tree (`--root`) holding alpha's QEMU process
only: beta stands for a guest whose /proc is not on this host (no RSS from here).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kvmtune.collect import Collector
from kvmtune.source import open_live

HOST_XML = Path(__file__).parent.parent / "fixtures" / "libvirt" / "two-guests.xml"
PID = 4242


@pytest.fixture
def source(tmp_path, tree):
    xml = tmp_path / "host.xml"
    shutil.copy(HOST_XML, xml)
    f = {**tree.host_files(), **tree.guest_files(PID, "alpha", {0: (4250, 3, 150)}, {0: 10, 1: 30})}
    src = open_live(f"test://{xml}", root=str(tree.write_tree(tmp_path / "root", f)))
    yield src
    src.close()


def test_size_now_configured_and_rss(source):
    snap = Collector(source).collect()
    alpha, beta = snap.guest("alpha"), snap.guest("beta")
    # the test driver has no balloon group: info()'s memory and maxMem (its <currentMemory>, <memory>)
    assert (alpha.memory_kib, alpha.max_memory_kib) == (131072, 131072)
    assert (beta.memory_kib, beta.max_memory_kib) == (262144, 262144)
    # statm's resident pages (the tree's: its 40 anonymous pages and 512 of the binary), 4 KiB each
    assert alpha.rss_kib == (40 + 512) * 4
    assert beta.rss_kib is None and not [e for e in snap.errors if "statm" in e.source]


def test_an_unreadable_statm_is_one_error_and_the_rest_stands(source, tmp_path):
    (tmp_path / "root" / f"proc/{PID}/statm").write_text("garbage\n")
    snap = Collector(source).collect()
    alpha = snap.guest("alpha")
    assert alpha.rss_kib is None and alpha.numa_memory_kib == {0: 40, 1: 120}
    (err,) = [e for e in snap.errors if e.source == "alpha: statm"]
    assert f"/proc/{PID}/statm" in err.message
