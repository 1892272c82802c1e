"""Pane 1's memory line, the Mem column, the host view's distances and numastat, the header's
sample age: text made from the demo host's frames and hand-made variants of them."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from kvmtune import fmt
from kvmtune.frame import Framer
from kvmtune.model import Snapshot
from kvmtune.rates import numastat_rates
from kvmtune.ui import headertext, hostview, panes
from kvmtune.ui.table import row_values
from kvmtune.vocab import NUMASTAT_KEYS


def plain(text: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", text)


@pytest.fixture(scope="module")
def frames():
    from kvmtune.demo import DemoFeed, open_demo
    feed = DemoFeed(open_demo(seed=1))
    try:
        a, b = feed.next(), feed.next()
    finally:
        feed.close()
    framer = Framer()
    return framer.push(a), framer.push(b)


def test_pane_1_says_the_size_now_of_the_configured_one_and_the_rss(frames):
    _, frame = frames
    g = frame.snap.guest("web-02")   # ballooned: 8 GiB of its 12
    first = plain(panes.numa_pane(frame, g)).splitlines()[0]
    assert f"memory 8.0G of 12.0G  RSS {fmt.fmt_kib(g.rss_kib)}  locality" in first
    assert len(first) <= 80
    off = frame.snap.guest("legacy-erp")   # shut off: no RSS
    assert "RSS" not in plain(panes.numa_pane(frame, off)).splitlines()[0]
    bare = replace(g, max_memory_kib=None, rss_kib=None)
    assert plain(panes.numa_pane(frame, bare)).splitlines()[0].split("  ")[1] == "memory 8.0G"


def test_the_mem_column_is_the_size_now_else_the_rss(frames):
    _, frame = frames
    g = frame.snap.guest("web-02")
    assert row_values(g, frame)["mem"][:2] == ("8.0G", 8 << 20)
    # libvirt never said (a guest stalled since it was first seen: memory_kib 0): its RSS
    never = replace(g, memory_kib=0, stale=True)
    assert row_values(never, frame)["mem"][:2] == (fmt.fmt_kib(g.rss_kib), g.rss_kib)


def test_host_view_has_the_distance_matrix_and_numastat_per_second(frames):
    before, frame = frames
    text = plain(hostview.host_view(frame, 80))
    lines = text.splitlines()
    assert all(len(x) <= 80 for x in lines)
    i = lines.index("node distances (10 = local; numactl -H)")
    nodes = frame.snap.host.nodes
    assert lines[i + 1].split() == ["node", *(str(n.id) for n in nodes)]
    for n, row in zip(nodes, lines[i + 2:i + 2 + len(nodes)], strict=True):
        assert row.split() == [f"{n.id}:", *(str(d) for d in n.distances)]
    j = next(k for k, x in enumerate(lines) if x.startswith("numastat"))
    assert lines[j + 1].split() == [f"node{n.id}" for n in nodes]
    rates = numastat_rates(before.snap, frame.snap)
    for key, row in zip(NUMASTAT_KEYS, lines[j + 2:j + 8], strict=True):
        assert row.split() == [key, *(fmt.fmt_count(rates[n.id][key]) for n in nodes)]
    assert rates[3]["numa_miss"] > 0   # analytics' memory on node 3 wanted by its numatune elsewhere


def test_host_view_wraps_many_nodes_and_leaves_out_what_the_kernel_does_not_give(frames):
    _, frame = frames
    snap = frame.snap
    # eight nodes: the matrix and the table split into groups that fit 80 columns
    nodes = tuple(replace(snap.host.nodes[i % 4], id=i, cpus=(), distances=tuple(10 + 2 * abs(i - j)
                  for j in range(8))) for i in range(8))
    big = replace(snap, host=replace(snap.host, nodes=nodes))
    f = Framer()
    f.push(replace(big, time=big.time - 2))
    text = plain(hostview.host_view(f.push(big), 80))
    assert all(len(x) <= 80 for x in text.splitlines())
    assert "\n  7:  24  22  20  18  16  14  12  10\n" in text   # numactl -H's own layout
    assert text.count("numa_hit") == 2   # two groups of node columns
    # no distance files, no numastat (a captured tree, an old kernel): no section, no error
    bare = replace(snap, host=replace(snap.host, nodes=tuple(
        replace(n, distances=None, numastat=None) for n in snap.host.nodes)))
    text = plain(hostview.host_view(Framer().push(bare), 80))
    assert "node distances" not in text and "numastat" not in text


def test_header_says_the_samples_age_and_colours_it_when_late(frames):
    _, frame = frames

    def head(age, compact=False, replay=False, badges=()):
        return headertext.header(frame, view_seconds=5, interval=2, badges=list(badges), width=80,
                            compact=compact, replay=replay, age=None if replay else age)
    assert "every 2s  age 0.4s" in plain(head(0.4))
    assert "[$warning]age 4.5s[/]" in head(4.5) and "[$error]age 12s[/]" in head(12)
    assert "age 0.4s" in head(0.4) and "[$" not in head(0.4).split("every 2s")[1].split("\n")[0]
    # 80x24: the age and the interval in one piece, so the header keeps to its lines with badges on
    small = head(0.4, compact=True, badges=("READ-ONLY", "RECORDING 1.2 MiB"))
    top = [x for x in plain(small).splitlines() if not re.match(r"N\d|!", x)]
    assert len(top) == 2 and "age 0.4s/2s" in top[1] and all(len(x) <= 78 for x in top)
    assert "age " not in plain(head(None, replay=True)).split("\n")[1]
    assert [fmt.age(s) for s in (0.04, 9.94, 59.6, 185, 7800)] == ["0.0s", "9.9s", "60s", "3m05s", "2h10m"]


def test_snapshot_keys_round_trip(frames):
    _, frame = frames
    snap = frame.snap
    back = Snapshot.from_json(snap.to_json())
    assert back == snap
    d = snap.to_json()
    assert d["host"]["nodes"][0]["numastat"]["numa_hit"] == snap.host.nodes[0].numastat["numa_hit"]
    g = next(x for x in d["guests"] if x["name"] == "web-02")
    assert (g["max_memory_kib"], g["rss_kib"] > 0) == (12 << 20, True)
    # an older document has none of them: None, as "unknown"
    for n in d["host"]["nodes"]:
        del n["numastat"]
    for x in d["guests"]:
        del x["max_memory_kib"], x["rss_kib"]
    old = Snapshot.from_json(d)
    assert all(n.numastat is None for n in old.host.nodes)
    assert all(x.max_memory_kib is None and x.rss_kib is None for x in old.guests)


def test_distances_read_as_numactl_prints_them_for_this_host():
    """This machine's nodes through the collector, beside `numactl -H`'s own matrix."""
    import shutil
    import subprocess

    from kvmtune.collect.host import collect_host
    from kvmtune.hostfs import HostFS
    tool = shutil.which("numactl")
    if tool is None:
        pytest.skip("numactl is not installed")
    out = subprocess.run([tool, "-H"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0 or "node distances:" not in out.stdout:
        pytest.skip(f"numactl -H gives no distances here: {out.stderr.strip() or out.stdout[:80]}")
    theirs = [x.rstrip() for x in out.stdout.split("node distances:\n", 1)[1].splitlines() if x.strip()]
    host = collect_host(HostFS("/"), [])
    text = plain(hostview.host_view(Framer().push(Snapshot(time=0.0, host=host)), 200))
    ours = text.split("node distances (10 = local; numactl -H)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert ours == theirs
