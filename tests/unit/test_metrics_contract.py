"""docs/metrics.md is the contract of the metric families: it lists every family the
mapping (export/families.py) and the exporter make, with its type and labels, and only
the labels the contract allows; every sample of the demo host keeps to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.export.families import FAMILIES, families
from kvmtune.export.promclient import EXPORTER
from kvmtune.frame import Framer

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ALLOWED = {"guest", "vcpu", "disk", "interface", "node", "size", "kind", "code", "severity"}
ROW = re.compile(r"^\| `(kvmtune_\w+)` \| (gauge|counter|info) \|\s*([a-z, ]*?)\s*\| .+ \|$")


def documented() -> dict[str, tuple[str, set[str]]]:
    out = {}
    for line in DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            out[m.group(1)] = (m.group(2), {x.strip() for x in m.group(3).split(",") if x.strip()})
    return out


@pytest.fixture(scope="module")
def frame():
    feed = DemoFeed(open_demo(seed=1))
    feed.collector.perf.enable(True)   # --perf: the demo simulates every counter and KVM exits
    try:
        framer = Framer()
        framer.push(feed.next())
        return framer.push(feed.next())
    finally:
        feed.close()


def test_every_family_is_documented_with_its_type_and_nothing_else_is():
    doc = documented()
    made = {f.sample_name: f.type for f, _ in (*FAMILIES, *EXPORTER)}
    assert set(doc) == set(made)
    assert {n: t for n, (t, _l) in doc.items()} == made
    assert all(labels <= ALLOWED for _t, labels in doc.values())


def test_names_follow_the_prometheus_conventions():
    for fam, _ in (*FAMILIES, *EXPORTER):
        assert fam.name.startswith("kvmtune_") and not fam.name.endswith(("_total", "_info"))
        assert fam.unit == "" or fam.name.endswith("_" + fam.unit)
        assert not re.search(r"_(kib|kb|mib|ms|millis|percent)(_|$)", fam.name), fam.name


def test_each_sample_has_the_documented_labels(frame):
    doc = documented()
    seen = set()
    for fam, samples in families(frame):
        _type, labels = doc[fam.sample_name]
        for sample_labels, value in samples:
            keys = {k for k, _v in sample_labels}
            optional = {"guest"} if fam.name == "kvmtune_finding" else set()   # host findings have none
            assert labels - optional <= keys <= labels, (fam.name, sample_labels)
            assert isinstance(value, int | float)
        if samples:
            seen.add(fam.name)
    # the demo host has every family but the limits it leaves unset and the KVM events it
    # does not simulate
    assert {f.name for f, _ in FAMILIES} - seen == {"kvmtune_guest_memtune_soft_limit_bytes",
                                                    "kvmtune_guest_kvm_events"}


def test_findings_are_the_frames_with_their_severity(frame):
    _fam, samples = next((f, s) for f, s in families(frame) if f.name == "kvmtune_finding")
    got = {tuple(labels) for labels, v in samples if v == 1}
    want = {(("code", x.code), ("severity", x.severity)) for x in frame.host_findings}
    for g, found in frame.findings.items():
        want |= {(("guest", g), ("code", x.code), ("severity", x.severity)) for x in found}
    assert got == want and len(samples) == len(got)
    assert (("guest", "analytics"), ("code", "numa.split"), ("severity", "critical")) in got
    assert (("code", "ksm.across_nodes"), ("severity", "critical")) in got


def test_vcpus_and_locality_are_the_snapshots(frame):
    from kvmtune.analysis import locality
    by = {f.name: {tuple(labels): v for labels, v in s} for f, s in families(frame)}
    host = frame.snap.host
    for g in frame.snap.guests:
        for v in g.vcpus:
            key = (("guest", g.name), ("vcpu", str(v.index)))
            assert by["kvmtune_guest_vcpu_pinned"][key] == int(v.pinned)
            assert by["kvmtune_guest_vcpu_affinity_cpus"][key] == len(v.affinity)
            if v.pcpu is not None:
                assert by["kvmtune_guest_vcpu_cpu"][key] == v.pcpu
                assert by["kvmtune_guest_vcpu_node"][key] == host.node_of_cpu(v.pcpu)
        loc = locality(g, host) if g.running else None
        assert by["kvmtune_guest_locality_ratio"].get((("guest", g.name),)) == loc
        for size, nodes in (g.hugepages or {}).items():
            for n, count in nodes.items():
                assert by["kvmtune_guest_hugepages"][(("guest", g.name), ("node", str(n)),
                                                      ("size", str(size * 1024)))] == count
    assert any(by["kvmtune_guest_hugepages"].values())


def test_the_documented_finding_codes_are_the_catalogue():
    from kvmtune.advise import CODES
    row = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \| (critical|warning|info) \| ([0-9.]+) \| (.+) \|$")
    doc = {m.group(1): (m.group(2), m.group(3), m.group(4)) for line in DOC.read_text().splitlines()
           if (m := row.match(line))}
    assert doc == {c: (v.severity, v.section, v.title) for c, v in CODES.items()}
