"""Every guest action through the real libvirt-python code path (test driver): applied, read back
through the getters, undone, read back again equal to the start."""

from __future__ import annotations

import pytest

from kvmtune.actions import (
    BlkDevIoTune,
    BlkioTune,
    EmulatorPin,
    Executor,
    IoThreadPin,
    MemTune,
    MoveToNode,
    NumaTune,
    VcpuPin,
)
from kvmtune.collect import Collector

# The test driver takes vcpupin with flags 0 only, i.e. --current.
S = "current"


def settings(hv, name: str) -> dict:
    """Everything the guest actions can change, read through the interface's getters."""
    return {
        "vcpus": hv.vcpu_affinity(name),
        "emulator": hv.emulator_affinity(name),
        "iothreads": [(t.id, t.affinity) for t in hv.iothreads(name)],
        # libvirt reports defaults for a domain without <numatune>: only a declared one counts
        "numatune": hv.numatune(name) if hv.domain_config(name).has_numatune else None,
        "memtune": hv.memtune(name),
        "blkio": hv.blkio(name),
        "iotune": {d.target: hv.block_iotune(name, d.target) for d in hv.domain_config(name).disks},
    }


CASES = [
    (VcpuPin("alpha", 1, (4, 5), S), lambda s: s["vcpus"][1] == (4, 5) and s["vcpus"][0] == (1,)),
    (VcpuPin("alpha", None, (6, 7), S), lambda s: s["vcpus"] == [(6, 7), (6, 7)]),
    (VcpuPin("alpha", 0, None, S), lambda s: s["vcpus"][0] == tuple(range(8))),
    (EmulatorPin("alpha", (5,), S), lambda s: s["emulator"] == (5,)),
    (EmulatorPin("alpha", None, S), lambda s: s["emulator"] == tuple(range(8))),
    (IoThreadPin("alpha", 1, (6, 7), S), lambda s: dict(s["iothreads"])[1] == (6, 7)),
    (NumaTune("alpha", None, "1", S), lambda s: s["numatune"].nodeset == "1"),
    (MemTune("alpha", hard=524288, soft=262144, swap_hard=1048576, scope=S),
     lambda s: (s["memtune"].hard_limit_kib, s["memtune"].soft_limit_kib,
                s["memtune"].swap_hard_limit_kib) == (524288, 262144, 1048576)),
    (MemTune("alpha", swap_hard=None, scope=S), lambda s: s["memtune"].swap_hard_limit_kib is None),
    (BlkioTune("alpha", weight=800, scope=S), lambda s: s["blkio"]["weight"] == 800),
    (BlkioTune("alpha", device_weights={"/dev/sda": 900, "/dev/sdb": 300}, scope=S),
     lambda s: s["blkio"]["device_weight"] in ("/dev/sda,900,/dev/sdb,300", "/dev/sdb,300,/dev/sda,900")),
    (BlkDevIoTune("alpha", "vda", {"total_bytes_sec": 2097152, "total_bytes_sec_max": 4194304}, S),
     lambda s: (s["iotune"]["vda"]["total_bytes_sec"], s["iotune"]["vda"]["total_bytes_sec_max"],
                s["iotune"]["vda"]["read_iops_sec"]) == (2097152, 4194304, 100)),
    (BlkDevIoTune("alpha", "vda", {"read_bytes_sec": 5000, "write_bytes_sec": 6000,
                                   "read_bytes_sec_max": 9000, "write_bytes_sec_max": 9000}, S),
     lambda s: (s["iotune"]["vda"]["total_bytes_sec"], s["iotune"]["vda"]["read_bytes_sec"]) == (0, 5000)),
    (BlkDevIoTune("alpha", "vdb", {"total_iops_sec": 500, "total_iops_sec_max": 1000, "group_name": "shared"}, S),
     lambda s: s["iotune"]["vdb"]["total_iops_sec"] == 500 and s["iotune"]["vdb"]["group_name"] == "shared"),
    (MoveToNode("alpha", (1,), S),
     lambda s: s["vcpus"] == [(4, 5, 6, 7)] * 2 and s["emulator"] == (4, 5, 6, 7)
     and (s["numatune"].mode, s["numatune"].nodeset) == ("restrictive", "1")),
    (MoveToNode("beta", (0,), S),
     lambda s: s["vcpus"] == [(0, 1, 2, 3)] * 4 and s["emulator"] == (0, 1, 2, 3)
     and s["numatune"].nodeset == "0"),
]


@pytest.mark.parametrize("action,changed", CASES, ids=[f"{a.kind}-{i}" for i, (a, _) in enumerate(CASES)])
def test_apply_read_back_undo(source, tmp_path, action, changed):
    hv = source.hv
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    start = settings(hv, action.target)
    snap = Collector(source).collect()
    r = ex.run(action, snap, confirmed=True)
    assert r.status == "applied", r.message
    now = settings(hv, action.target)
    assert changed(now), now
    assert now != start
    entry = ex.entries()[-1]
    assert entry["result"] == "applied" and entry["after"] != entry["before"]

    u = ex.undo(Collector(source).collect())
    if action.target == "beta" and action.kind == "move":
        # what stays is said before the undo runs, and it asks
        assert u.status == "needs-confirmation", u.message
        assert "stays bound to node(s) 0 (numatune strict" in u.risks[0]
        assert "of which 50% are on node(s) 0: memory locality would fall to about 50%" in u.risks[0]
        assert settings(hv, action.target) == now
        u = ex.undo(Collector(source).collect(), u.undo_of, confirmed=True)
    assert u.status == "applied", u.message
    back = settings(hv, action.target)
    if action.target == "beta" and action.kind == "move":
        # beta had no <numatune>: libvirt can neither drop the new one live nor change it
        # (not restrictive), so undo restores the pins and leaves the memory where it is
        assert start["numatune"] is None and back["numatune"].nodeset == "0"
        back["numatune"] = None
    assert back == start


def test_numatune_without_one_can_be_set_live_once_and_not_undone(source, tmp_path):
    """libvirt 9 sets a nodeset live on a guest without <numatune>, but the result is strict:
    undo cannot change it back while the guest runs, and says so instead of trying."""
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    assert ex.run(NumaTune("beta", None, "1", S), Collector(source).collect()).status == "applied"
    assert source.hv.numatune("beta").nodeset == "1"
    u = ex.undo(Collector(source).collect())
    assert u.status == "invalid" and "only in restrictive mode" in u.message
    assert source.hv.numatune("beta").nodeset == "1"


def test_invalid_changes_nothing(source, tmp_path):
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    start = settings(source.hv, "alpha")
    snap = Collector(source).collect()
    for action in (VcpuPin("alpha", 2, (1,), S), VcpuPin("alpha", 0, (8,), S), EmulatorPin("alpha", (), S),
                   IoThreadPin("alpha", 9, (1,), S), NumaTune("alpha", None, "3", S),
                   MemTune("alpha", hard=4194304, scope=S), BlkioTune("alpha", weight=50, scope=S),
                   BlkDevIoTune("alpha", "vdz", {"total_iops_sec": 1}, S),
                   BlkDevIoTune("alpha", "vda", {"total_iops_sec": 1, "read_iops_sec": 1}, S),
                   MoveToNode("alpha", (5,), S), VcpuPin("nosuch", 0, (1,), S)):
        r = ex.run(action, snap, confirmed=True)
        assert r.status == "invalid" and r.exit_code == 2, (action, r)
    assert settings(source.hv, "alpha") == start


def test_dry_run_changes_nothing(source, tmp_path):
    ex = Executor(source, log_path=str(tmp_path / "actions.log"), dry_run=True)
    start = settings(source.hv, "alpha")
    r = ex.run(MoveToNode("alpha", (1,), S), Collector(source).collect())
    assert r.status == "dry-run"
    assert [" ".join(c) for c in r.commands][:2] == ["virsh numatune alpha --nodeset 1 --current",
                                                     "virsh emulatorpin alpha 4-7 --current"]
    assert settings(source.hv, "alpha") == start


def test_hypervisor_refusal_is_failed_with_its_message(source, tmp_path):
    """The test driver refuses a throttle above its *_max when *_max is not set too
    (a real refusal, not a mock): status failed, exit 1, libvirt's message, nothing changed."""
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    source.hv.set_block_iotune("alpha", "vda", {"total_bytes_sec": 1000, "total_bytes_sec_max": 2000}, S)
    start = settings(source.hv, "alpha")
    r = ex.run(BlkDevIoTune("alpha", "vda", {"total_bytes_sec": 5000}, S), Collector(source).collect())
    assert (r.status, r.exit_code) == ("failed", 1), r
    assert "max" in r.message
    assert settings(source.hv, "alpha") == start
    assert ex.entries()[-1]["result"] == "failed"


def test_overcommit_needs_confirmation(source, tmp_path):
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    start = settings(source.hv, "beta")
    r = ex.run(VcpuPin("beta", None, (2, 3), S), Collector(source).collect())
    assert r.status == "needs-confirmation" and "4 vCPUs (beta 4) would share 2 CPU(s) (2-3), 2:1" in r.risks[0]
    assert settings(source.hv, "beta") == start


def test_cli_apply_and_undo(source, tmp_path, capsys):
    """The CLI opens its own connection; the test driver keeps state per connection, so each
    command starts from the XML again — which also shows undo noticing a changed value."""
    import json

    from kvmtune.cli import main
    log = tmp_path / "cli.log"
    base = ["--connect", source.hv.uri, "--root", str(source.fs.root), "--log", str(log)]
    assert main(["apply", "emulatorpin", "alpha", "6-7", "--current", *base]) == 0
    out = capsys.readouterr().out
    assert "virsh emulatorpin alpha 6-7 --current" in out and "applied: emulatorpin alpha (current) (#1" in out
    e = json.loads(log.read_text().splitlines()[0])
    assert (e["before"], e["after"], e["source"]) == ({"cpus": [2, 3]}, {"cpus": [6, 7]}, source.hv.uri)
    assert main(["apply", "vcpupin", "alpha", "5", "1", "--current", *base]) == 2
    assert capsys.readouterr().err.strip() == \
        "kvmtune: vcpupin alpha: guest 'alpha' has vCPUs 0-1; there is no vCPU 5"
    assert main(["apply", "emulatorpin", "alpha", "6-7", "--current", "--dry-run", *base]) == 0
    assert "dry run: emulatorpin alpha (current) is valid; nothing changed" in capsys.readouterr().out
    # a fresh connection shows 2-3 again: undo sees the value changed since #1 and asks
    assert main(["undo", *base]) == 2
    assert "changed since #1" in capsys.readouterr().err
    assert main(["undo", "--yes", *base]) == 0
    assert main(["log", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "applied (undo #1)" in out and "invalid" in out and "needs-confirmation (undo #1)" in out


def test_live_and_config_together_set_both(source, tmp_path):
    """libvirt-python's typed-parameter setters read the parameters first with the same flags,
    and a read takes live or config, not both: live+config must still land in both."""
    import libvirt
    ex = Executor(source, log_path=str(tmp_path / "actions.log"))
    r = ex.run(MemTune("alpha", soft=262144, scope="live+config"), Collector(source).collect())
    assert r.status == "applied", r.message
    dom = source.hv._dom("alpha")
    for flag in (libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG):
        assert dom.memoryParameters(flag)["soft_limit"] == 262144


def test_an_action_libvirt_does_not_answer_for_fails_in_time_and_is_logged(source, tmp_path, monkeypatch):
    """A setter that waits (a stopped QEMU's monitor; the test driver cannot stall, so the call
    is made to wait here): the action fails within its deadline with what may still happen,
    the attempt is logged, and a second action on the guest is refused at once while the
    first still waits, while the collector reads the guest as usual. The real stall (a
    stopped QEMU) is in tests/lab/test_stall_lab.py."""
    import threading
    import time

    import libvirt
    release = threading.Event()
    real = libvirt.virDomain.setBlockIoTune

    def waits(dom, *args):
        release.wait(10)
        return real(dom, *args)
    monkeypatch.setattr(libvirt.virDomain, "setBlockIoTune", waits)
    ex = Executor(source, log_path=str(tmp_path / "actions.log"), timeout=0.5)
    col = Collector(source)
    snap = col.collect()
    try:
        t = time.monotonic()
        r = ex.run(BlkDevIoTune("alpha", "vda", {"total_iops_sec": 500}, S), snap, confirmed=True)
        assert time.monotonic() - t < 2.0
        assert (r.status, r.exit_code) == ("failed", 1), r
        assert "libvirt did not answer about alpha within 0.5 s" in r.message
        assert "may still take effect" in r.message
        entry = ex.entries()[-1]
        assert entry["result"] == "failed" and entry["before"] is not None and "error" in entry["after"]
        # while that call waits: the next action on alpha is refused before it reads anything
        r2 = ex.run(VcpuPin("alpha", 0, (2,), S), snap, confirmed=True)
        assert r2.status == "failed" and "has not answered an earlier call about alpha" in r2.message
        assert "nothing was changed" in r2.message and source.hv.vcpu_affinity("alpha")[0] != (2,)
        # the collector is not held up: alpha is read fresh, with its settings
        again = col.collect()
        assert not again.guest("alpha").stale
        assert not [e for e in again.errors if e.source in ("alpha: stats", "alpha: settings")], again.errors
    finally:
        release.set()
