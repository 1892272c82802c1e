"""Pane 2 against `virsh vcpuinfo` on the test driver: the same CPU, state, CPU time and
affinity per vCPU; and the one-to-one pin helper applied, read back and undone.

The guests have no /proc here (the host tree is sysfs only), so every vCPU figure is libvirt's:
the test driver's vcpus() and vcpuPinInfo(), the two calls `virsh vcpuinfo` makes.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kvmtune.actions import ActionError, Executor, one_to_one
from kvmtune.collect import Collector
from kvmtune.frame import Framer
from kvmtune.ui import panes

S = "current"   # the test driver takes vcpupin with flags 0 only


def vcpuinfo(uri: str, name: str) -> list[dict[str, str]]:
    """`virsh vcpuinfo NAME` as one dict per vCPU ("VCPU", "CPU", "State", "CPU time", "CPU Affinity")."""
    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (apt-get install libvirt-clients)")
    out = subprocess.run(["virsh", "-c", uri, "vcpuinfo", name], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    blocks = []
    for block in out.strip().split("\n\n"):
        blocks.append({k.strip(): v.strip() for k, v in (line.split(":", 1) for line in block.splitlines())})
    return blocks


def affinity(yn: str) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(yn) if c == "y")


def pane_rows(snap, name: str) -> dict[int, list[str]]:
    from textual.markup import to_content
    g = snap.guest(name)
    lines = [to_content(x).plain.split() for x in panes.vcpu_pane(Framer().push(snap), g).splitlines()]
    return {int(w[0]): w for w in lines if len(w) >= 9 and w[0].isdigit() and w[1] in ("running", "offline")}


@pytest.mark.parametrize("name", ["alpha", "beta"])
def test_pane_2_says_what_virsh_vcpuinfo_says(source, name):
    snap = Collector(source).collect()
    virsh = vcpuinfo(source.hv.uri, name)    # its own process: the XML as written, as this connection has it
    g = snap.guest(name)
    assert len(g.vcpus) == len(virsh) > 0
    rows = pane_rows(snap, name)
    for v, want in zip(g.vcpus, virsh):
        assert v.index == int(want["VCPU"])
        assert v.pcpu == int(want["CPU"]) and v.state == want["State"] == "running"
        assert v.affinity == affinity(want["CPU Affinity"])
        # the test driver's CPU time grows with the clock: virsh read it a moment later, and
        # prints it to 0.1 s (rounded: up to 0.05 s under what kvmtune read just before)
        assert v.cpu_time_ns is not None
        assert -0.05 <= float(want["CPU time"].removesuffix("s")) - v.cpu_time_ns / 1e9 < 60
        # the pane row: vCPU, state, tid, CPU, node, time, %, pin, affinity
        row = rows[v.index]
        assert row[1] == want["State"] and row[2] == "-" and row[3] == want["CPU"]
        assert row[7] == ("yes" if len(affinity(want["CPU Affinity"])) < 8 else "-")
        assert row[8] == ("1" if (name, v.index) == ("alpha", 0) else "0-7")


def test_one_to_one_pins_vcpu_i_on_the_ith_cpu_and_undoes(source, tmp_path):
    """beta's 4 vCPUs on node 1 (CPUs 4-7) one each: the map libvirt reads back is vCPU i on
    CPU 4+i, the table's P (all pinned) and the pane say so, and undo puts every CPU back."""
    hv = source.hv
    start = hv.vcpu_affinity("beta")
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    act = one_to_one("beta", [0, 1, 2, 3], (7, 5, 4, 6), S)        # (in CPU order, whatever the typing)
    assert [c[:5] for c in act.commands()] == [["virsh", "vcpupin", "beta", str(i), str(4 + i)] for i in range(4)]
    r = ex.run(act, Collector(source).collect(), confirmed=True)
    assert r.status == "applied", r.message
    assert hv.vcpu_affinity("beta") == [(4,), (5,), (6,), (7,)]
    snap = Collector(source).collect()
    g = snap.guest("beta")
    info, _ = source.hv._dom("beta").vcpus()           # virsh vcpuinfo's call, on this connection
    assert [(v.index, v.pcpu, v.state) for v in g.vcpus] == [(n, cpu, "running") for n, _, _, cpu in info]
    assert all(v.pinned for v in g.vcpus) and [v.affinity for v in g.vcpus] == [(4,), (5,), (6,), (7,)]
    from kvmtune.ui.table import row_values
    assert row_values(g, Framer().push(snap))["pin"][0] == "P"
    assert "pinned 4 of 4" in panes.vcpu_pane(Framer().push(snap), g).splitlines()[0]
    u = ex.undo(Collector(source).collect())
    assert u.status == "applied", u.message
    assert hv.vcpu_affinity("beta") == start


def test_one_to_one_with_too_few_cpus_says_so_and_changes_nothing(source):
    start = source.hv.vcpu_affinity("beta")
    with pytest.raises(ActionError, match=r"one-to-one needs a CPU per vCPU: 4 vCPUs, 3 CPU\(s\) \(4-6\); pick 1 more"):
        one_to_one("beta", [0, 1, 2, 3], (4, 5, 6), S)
    assert source.hv.vcpu_affinity("beta") == start
