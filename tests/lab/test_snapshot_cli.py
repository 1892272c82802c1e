"""`kvmtune snapshot --json` and `kvmtune snapshot` (the README's headline commands) run as
a user runs them, against qemu:///system: the v1 contract holds on real output, and each
lab guest's figures agree with virsh, numastat and /proc read around the same call."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

from labkit import GUESTS, HUGE, colon_table, guest_pid, numastat_rows, numbers, run, virsh


def kvmtune(*args: str) -> str:
    return run([sys.executable, "-m", "kvmtune.cli", *args], timeout=120)


def vcpuinfo(name: str) -> dict[int, tuple[int, list[int]]]:
    """virsh vcpuinfo -> {vCPU: (CPU, affinity as CPU ids from the y/- map)}."""
    out = {}
    for block in virsh("vcpuinfo", name).strip().split("\n\n"):
        kv = colon_table(block)
        out[int(kv["VCPU"])] = (int(kv["CPU"]), [i for i, c in enumerate(kv["CPU Affinity"]) if c == "y"])
    return out


def ranges(ids: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5", as virsh prints CPU lists."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def ram_kib(pid: int) -> int:
    st = numbers(f"/proc/{pid}/status")
    return st["RssAnon"] + st.get("HugetlbPages", 0)


def vcpu_tids(pid: int) -> dict[int, str]:
    """vCPU index -> its thread's stat path (threads named "CPU N/KVM" or "CPU N/TCG")."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        m = re.match(r"CPU (\d+)/", (task / "comm").read_text())
        if m:
            out[int(m.group(1))] = str(task / "stat")
    return out


class Placements(threading.Thread):
    """Where each lab guest's vCPU threads ran while the call was made: every CPU their
    /proc stat named, read every millisecond or so (a busy TCG vCPU moves between virsh's
    reads before and after, and kvmtune may have seen it on a CPU neither of them did)."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(daemon=True)
        self.paths = {(n, i): path for n, pid in pids.items() for i, path in vcpu_tids(pid).items()}
        self.seen: dict[tuple[str, int], set[int]] = {k: set() for k in self.paths}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.001):
            for key, path in self.paths.items():
                try:
                    self.seen[key].add(int(Path(path).read_text().rsplit(")", 1)[1].split()[36]))
                except (OSError, IndexError, ValueError):
                    pass

    def __enter__(self) -> Placements:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join()


def around(call, moving):
    """(result, (virsh placement, RAM) before, after) for every lab guest, read around `call`.

    The guests' vCPU threads run and move, and a guest's memory can grow: `moving(result,
    before, after, seen)` lists what fell outside the before/after readings (`seen`: the
    CPUs each vCPU thread was on meanwhile, from Placements), and the call is made again
    (up to 10 times) until nothing did.
    """
    pids = {n: guest_pid(n) for n in GUESTS}
    bad: list[str] = []
    for _ in range(10):
        before = ({n: vcpuinfo(n) for n in GUESTS}, {n: ram_kib(p) for n, p in pids.items()})
        with Placements(pids) as placed:
            out = call()
        after = ({n: vcpuinfo(n) for n in GUESTS}, {n: ram_kib(p) for n, p in pids.items()})
        bad = moving(out, before, after, placed.seen)
        if not bad:
            return out, before, after
    raise AssertionError(f"10 tries, still: {bad}")


def on_a_seen_cpu(name: str, i: int, pcpu: int, before, after, seen) -> bool:
    return pcpu in (before[0][name][i][0], after[0][name][i][0]) or pcpu in seen.get((name, i), ())


def close(kib: int, *expected: int) -> bool:
    return any(abs(kib - e) <= max(2048, 0.05 * e) for e in expected)


def test_snapshot_json_matches_virsh_and_numastat(snapshot_contract):
    def moving(doc, before, after, seen):
        got = {g["name"]: g for g in doc["guests"]}
        bad = []
        for name in GUESTS:
            g = got.get(name)
            if g is None:
                continue   # asserted below
            for v in g["vcpus"]:
                if not on_a_seen_cpu(name, v["index"], v["pcpu"], before, after, seen):
                    bad.append(f"{name} vCPU {v['index']} on {v['pcpu']}")
            kib = sum((g["numa_memory_kib"] or {}).values())
            if not close(kib, before[1][name], after[1][name]):
                bad.append(f"{name}: {kib} KiB, /proc {before[1][name]}..{after[1][name]}")
        return bad

    doc, (vb, _), (va, _) = around(lambda: json.loads(kvmtune("snapshot", "--json")), moving)
    snapshot_contract(doc)
    got = {g["name"]: g for g in doc["guests"]}
    assert set(GUESTS) <= set(got), sorted(got)
    for name in GUESTS:
        g = got[name]
        info = colon_table(virsh("dominfo", name))
        assert (g["state"], g["id"], g["uuid"], g["pid"]) == (
            info["State"], int(info["Id"]), info["UUID"], guest_pid(name))
        assert g["memory_kib"] == int(info["Max memory"].split()[0])
        assert len(g["vcpus"]) == int(info["CPU(s)"])
        for v in g["vcpus"]:
            i = v["index"]
            assert v["affinity"] == vb[name][i][1] == va[name][i][1], (name, i)
            assert v["pinned"] is False                     # the lab guests run unpinned
        assert ranges(g["emulator_affinity"]) == virsh("emulatorpin", name).split(":")[-1].strip(), name
        # memory per node against numastat -p: never more on a node than the guest maps there
        mem = {int(n): kib for n, kib in g["numa_memory_kib"].items()}
        nodes, rows = numastat_rows(g["pid"])
        per_node = {n: sum(r[i] for r in rows.values()) * 1024 for i, n in enumerate(nodes)}
        assert all(mem.get(n, 0) <= per_node[n] + 2048 for n in nodes), (name, mem, per_node)
        huge = {n: sum(int(s) * per.get(str(n), 0) for s, per in g["hugepages"].items()) / 1024 for n in nodes}
        assert huge == dict(zip(nodes, rows["Huge"])), name
    assert sum(int(s) * c for s, per in got[HUGE]["hugepages"].items() for c in per.values()) == 128 * 1024


def test_snapshot_report_matches_virsh_and_numastat(read_report):
    def moving(text, before, after, seen):
        _, guests = read_report(text)
        bad = []
        for name in GUESTS:
            r = guests.get(name)
            if r is None or "Total" not in r["mem"]:
                continue   # asserted below
            for row in r["vcpus"]:
                i = int(row[0])
                if not on_a_seen_cpu(name, i, int(row[1]), before, after, seen):
                    bad.append(f"{name} vCPU {i} on {row[1]}")
            kib = int(r["mem"]["Total"][-1]) * 1024   # MiB, rounded: half a MiB more slack
            if not any(abs(kib - e) <= max(2048 + 512, 0.05 * e) for e in (before[1][name], after[1][name])):
                bad.append(f"{name}: {kib} KiB, /proc {before[1][name]}..{after[1][name]}")
        return bad

    text, (vb, _), _ = around(lambda: kvmtune("snapshot"), moving)
    nodes, guests = read_report(text)
    host_nodes = sorted(int(p.name[4:]) for p in Path("/sys/devices/system/node").glob("node[0-9]*"))
    assert [int(r[0]) for r in nodes] == host_nodes
    for name in GUESTS:
        r = guests[name]
        info = colon_table(virsh("dominfo", name))
        assert r["head"].startswith(f"running, pid {guest_pid(name)}, {int(info['Max memory'].split()[0]) // 1024} MiB")
        assert "Total" in r["mem"], name
        assert [int(row[0]) for row in r["vcpus"]] == list(range(int(info["CPU(s)"])))
        for row in r["vcpus"]:
            assert row[2] == ranges(vb[name][int(row[0])][1]) and row[3] == "no", (name, row)
    _, rows = numastat_rows(guest_pid(HUGE))
    assert [float(x) for x in guests[HUGE]["mem"]["Huge"][:-1]] == rows["Huge"]
