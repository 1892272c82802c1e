"""`kvmtune snapshot` and `snapshot --json` as a user runs them: the CLI as a subprocess.

On the demo host the text report is read back line by line and compared with the JSON
of the same host at the same moment (the demo is deterministic: same seed, same first
tick) and with known demo values; on a written tree (`--root --host-only`) with the
values the tree holds. The JSON is checked against the v1 contract.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import clirun
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def kvmtune(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """One CLI call with its own empty home and state dirs (the demo and the log start fresh)."""
    return clirun.kvmtune(*args, state=tmp_path / f"call{len(list(tmp_path.glob('call*')))}")


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def cpus(ids) -> str:
    """Ranges as the report writes them ("0-7,32-39"), computed here, not by kvmtune.cpuset."""
    ids, out, i = sorted(ids), [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        out.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(out)


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    text, js = kvmtune(tmp, "snapshot", "--demo"), kvmtune(tmp, "snapshot", "--demo", "--json")
    assert text.returncode == 0 and js.returncode == 0, (text.stderr, js.stderr)
    assert text.stderr == "" and js.stderr == ""
    return text.stdout, json.loads(js.stdout)


def test_demo_json_is_the_v1_contract(demo_outputs, snapshot_contract):
    _, doc = demo_outputs
    snapshot_contract(doc)
    assert doc["errors"] == []
    assert {g["name"] for g in doc["guests"]} >= {"web-01", "web-02", "db-primary", "analytics"}


def test_demo_report_matches_its_json(demo_outputs, read_report):
    text, doc = demo_outputs
    nodes, guests = read_report(text)
    assert text.splitlines()[0] == f"host {doc['host']['hostname']}"
    # node lines: id, CPUs, memory and free MiB, then the hugepage pools used/total
    assert [row[:4] for row in nodes] == [
        [str(n["id"]), cpus(n["cpus"]), mib(n["mem_total_kib"]), mib(n["mem_free_kib"])]
        for n in doc["host"]["nodes"]]
    for row, n in zip(nodes, doc["host"]["nodes"]):
        pools = {int(s): p for s, p in n["hugepages"].items()}
        assert row[4:] == [f"{p['total'] - p['free']}/{p['total']}" for _, p in sorted(pools.items())]
    assert list(guests) == [g["name"] for g in doc["guests"]]
    ids = [n["id"] for n in doc["host"]["nodes"]]
    for g in doc["guests"]:
        r = guests[g["name"]]
        pid = "" if g["pid"] is None else f", pid {g['pid']}"
        assert r["head"].startswith(f"{g['state']}{pid}, {g['memory_kib'] // 1024} MiB")
        # memory per node: Total row = numa_memory_kib, Huge row = the hugepages, Anon the rest
        mem = {int(n): v for n, v in (g["numa_memory_kib"] or {}).items()}
        if mem:
            assert r["mem"]["Total"] == [mib(mem.get(i, 0)) for i in ids] + [mib(sum(mem.values()))]
            huge = {i: sum(int(s) * int(per.get(str(i), 0)) for s, per in g["hugepages"].items()) for i in ids}
            assert r["mem"]["Anon"] == [mib(mem.get(i, 0) - huge[i]) for i in ids] + [
                mib(sum(mem.values()) - sum(huge.values()))]
            assert ("Huge" in r["mem"]) == any(huge.values())
        shared = (g["ksm"] or {}).get("shared_kib")
        if shared:
            parts = ", ".join(f"node {n} {mib(v)} MiB" for n, v in sorted((int(k), v) for k, v in shared.items()))
            assert r["ksm"] == f"KSM-shared {mib(sum(shared.values()))} MiB ({parts})"
        else:
            assert r["ksm"] is None
        # vCPU placement: index, the CPU it ran on, affinity, pinned
        assert r["vcpus"] == [[str(v["index"]), "-" if v["pcpu"] is None else str(v["pcpu"]),
                               cpus(v["affinity"]) or "-", "yes" if v["pinned"] else "no"] for v in g["vcpus"]]
        if g["emulator_affinity"] is not None:
            assert r["emulator"] == cpus(g["emulator_affinity"])


def test_demo_report_known_values(demo_outputs, read_report):
    """What the demo scenario sets up, independent of both outputs' code."""
    text, _ = demo_outputs
    nodes, guests = read_report(text)
    assert [row[:3] for row in nodes] == [["0", "0-7,32-39", "130432"], ["1", "8-15,40-47", "130432"],
                                          ["2", "16-23,48-55", "130432"], ["3", "24-31,56-63", "130432"]]
    db = guests["db-primary"]
    assert db["head"].endswith("32768 MiB, numatune strict 1")
    assert db["mem"]["Huge"] == ["0", "32768", "0", "0", "32768"]       # 1 GiB pages, all on node 1
    assert db["vcpus"] == [[str(i), str(8 + i), str(8 + i), "yes"] for i in range(8)]   # pinned one-to-one
    assert db["emulator"] == "40-41" and db["ksm"] is None              # hugepages: KSM skips it
    assert guests["web-02"]["ksm"].startswith("KSM-shared ") and "node 1 " in guests["web-02"]["ksm"]


def test_host_only_report_of_a_written_tree(tmp_path, tree, snapshot_contract, read_report):
    root = tree.write_tree(tmp_path / "root", tree.host_files())
    text = kvmtune(tmp_path, "snapshot", "--root", str(root), "--host-only")
    js = kvmtune(tmp_path, "snapshot", "--root", str(root), "--host-only", "--json")
    assert text.returncode == 0 and js.returncode == 0, (text.stderr, js.stderr)
    lines = text.stdout.splitlines()
    assert lines[0] == "host hv1"
    assert "KSM on" in lines[1] and "THP madvise" in lines[1] and "tuned virtual-host" in lines[1]
    nodes, guests = read_report(text.stdout)
    # the tree: node 0 CPUs 0-3 8 GiB (4 GiB free), 2 MiB pool 32 of 64 used; node 2 no CPUs, one free 1 GiB page
    assert nodes == [["0", "0-3", "8192", "4096", "32/64", "0/0"], ["2", "-", "4096", "1024", "0/0", "0/1"]]
    assert guests == {}
    doc = json.loads(js.stdout)
    snapshot_contract(doc)
    assert doc["guests"] == [] and [n["id"] for n in doc["host"]["nodes"]] == [0, 2]


def test_demo_with_host_only_is_one_line(tmp_path):
    p = kvmtune(tmp_path, "snapshot", "--demo", "--host-only")
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "--host-only" in p.stderr
