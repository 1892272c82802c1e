"""export/openmetrics.py on demo frames: one exposition (the live exporter's) and its escaping."""

from __future__ import annotations

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.export.openmetrics import FAMILIES, escape, render
from kvmtune.frame import Framer


def test_one_exposition_has_every_family_once_and_no_timestamps():
    feed = DemoFeed(open_demo(seed=1))
    try:
        framer = Framer()
        framer.push(feed.next())
        frame = framer.push(feed.next())
    finally:
        feed.close()
    text = render(frame)
    lines = text.splitlines()
    assert lines[-1] == "# EOF" and text.count("# EOF") == 1
    assert [line.split()[2] for line in lines if line.startswith("# TYPE")] == [f.name for f, _ in FAMILIES]
    samples = [line for line in lines if not line.startswith("#")]
    values = [(line.rsplit("} ", 1)[1] if "{" in line else line.split(" ", 1)[1]) for line in samples]
    assert samples and all(len(v.split()) == 1 for v in values)   # a value, no timestamp
    g = frame.snap.guest("db-primary")
    assert f'kvmtune_guest_memory_configured_bytes{{guest="db-primary"}} {g.memory_kib * 1024}' in lines
    ratio = frame.rates["db-primary"].cpu_percent / 100
    assert f'kvmtune_guest_cpu_usage_ratio{{guest="db-primary"}} {ratio!r}' in lines
    with_ts = render(frame, timestamps=True).splitlines()
    assert (f'kvmtune_guest_memory_configured_bytes{{guest="db-primary"}} {g.memory_kib * 1024} '
            f'{frame.snap.time!r}') in with_ts


def test_label_values_are_escaped_as_the_spec_says():
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
