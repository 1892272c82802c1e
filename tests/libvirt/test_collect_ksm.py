"""A guest whose pages KSM merged: its memory adds up to what it maps (RssAnon), and
kvmtune says how much of it is KSM-shared on which node.

The libvirt test driver's guests over a generated /proc + cgroup tree (`--root`): the
cgroup charges a merged page to one cgroup only, so here alpha's cgroup holds 500 pages
fewer on node 1 than alpha maps there (numa_maps) and than RssAnon counts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kvmtune.collect import Collector
from kvmtune.collect.ksm_memory import adjust, elsewhere, split
from kvmtune.model import Snapshot
from kvmtune.source import open_live

HOST_XML = Path(__file__).parent.parent / "fixtures" / "libvirt" / "two-guests.xml"
PID = 4242
CHARGED = {0: 1000, 1: 3000}           # pages in alpha's cgroup
MAPPED = {0: 1000, 1: 3500}            # pages alpha maps (numa_maps guest RAM)
MERGING = 800                          # alpha's ksm_merging_pages


def ksm_tree(tmp_path, tree, merging=MERGING):
    f = {**tree.host_files(), **tree.guest_files(PID, "alpha", {0: (4250, 3, 150)}, CHARGED,
                                                  ksm=(merging, merging * 4096))}
    f[f"proc/{PID}/numa_maps"] += ("7f0000000000 default anon=4500 dirty=4500 "
                                   + " ".join(f"N{n}={p}" for n, p in MAPPED.items()) + " kernelpagesize_kB=4\n")
    f[f"proc/{PID}/status"] = f"Name:\tqemu\nRssAnon:\t{sum(MAPPED.values()) * 4:>8} kB\nHugetlbPages:\t0 kB\n"
    return tree.write_tree(tmp_path / "root", f)


def alpha_errors(snap):
    return [e for e in snap.errors if e.source.startswith("alpha")]   # beta has no process in the tree


@pytest.fixture
def collector(tmp_path, tree):
    xml = tmp_path / "host.xml"
    shutil.copy(HOST_XML, xml)
    src = open_live(f"test://{xml}", root=str(ksm_tree(tmp_path, tree)))
    yield Collector(src, numa_maps_every=60)
    src.close()


def test_merged_guest_adds_up_to_what_it_maps(collector):
    snap = collector.collect()
    a = snap.guest("alpha")
    assert not alpha_errors(snap)
    # node 1 gets the 500 pages charged to another cgroup: the total is RssAnon
    assert a.numa_memory_kib == {0: 4000, 1: 14000}
    # 800 merged pages: 500 charged elsewhere (on node 1, where numa_maps sees them), 300 charged
    # to alpha itself, spread like its own pages (1:3 over nodes 0 and 1)
    assert a.ksm.merging_pages == MERGING
    assert a.ksm.shared_kib == {0: 300, 1: 2000 + 900}
    assert sum(a.ksm.shared_kib.values()) == MERGING * 4
    # the JSON carries it, and reads back the same
    d = next(x for x in snap.to_json()["guests"] if x["name"] == "alpha")
    assert d["ksm"]["shared_kib"] == {"0": 300, "1": 2900}
    assert Snapshot.loads(snap.dumps()).guest("alpha").ksm == a.ksm


def test_numa_maps_only_at_the_slow_cadence(collector):
    """The page-table walk is not a per-tick cost: a tick within `numa_maps_every` does not
    read numa_maps (here: gone, and no error), and still adds up with this tick's RssAnon."""
    collector.collect()
    root = Path(collector.source.fs.root)
    os.remove(root / f"proc/{PID}/numa_maps")
    (root / f"proc/{PID}/status").write_text(f"RssAnon:\t{(4500 + 100) * 4} kB\n")   # 100 more pages merged
    snap = collector.collect()
    a = snap.guest("alpha")
    assert not alpha_errors(snap)
    assert sum(a.numa_memory_kib.values()) == 4600 * 4
    assert a.numa_memory_kib == {0: 4000, 1: 14400}        # placed where the last read saw them
    collector.guests.numa_maps_every = 0                   # now due: the missing file is reported
    assert [e.source for e in alpha_errors(collector.collect())] == ["alpha: numa_maps"]


def test_no_merging_pages_no_extra_reads(tmp_path, tree):
    """A guest with no merged pages costs no numa_maps or status read: both gone, no error,
    and its memory is the cgroup's."""
    xml = tmp_path / "host.xml"
    shutil.copy(HOST_XML, xml)
    root = ksm_tree(tmp_path, tree, merging=0)
    os.remove(root / f"proc/{PID}/numa_maps")
    os.remove(root / f"proc/{PID}/status")
    src = open_live(f"test://{xml}", root=str(root))
    try:
        snap = Collector(src).collect()
    finally:
        src.close()
    a = snap.guest("alpha")
    assert not alpha_errors(snap)
    assert a.numa_memory_kib == {0: 4000, 1: 12000}
    assert a.ksm.merging_pages == 0 and a.ksm.shared_kib is None


def test_split_and_adjust():
    assert split(10, {0: 1, 1: 2}) == {0: 3, 1: 7}     # integers, adding up, remainder to the larger
    assert split(0, {0: 1}) == {} and split(5, {0: 0}) == {}
    # before any numa_maps read, the missing part goes where the guest's own pages are
    assert adjust({0: 100, 1: 300}, 480, 100, None) == ({0: 120, 1: 360}, {0: 25, 1: 75})
    # more missing than merged (another cause): memory still adds up, shared stays the merged total
    mem, shared = adjust({0: 100}, 300, 40, {1: 200})
    assert mem == {0: 100, 1: 200} and shared == {1: 40}
    assert elsewhere({0: 10, 1: 50}, {0: 12, 1: 20}) == {1: 30}
