"""`kvmtune advise` as a subprocess on the demo host and on a recording of it.

The expected findings are computed in this process the way every consumer computes them
(a Framer over the same demo seed's snapshots), so the tests hold whatever the checks are.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from clirun import kvmtune

from kvmtune.advise import Finding, Fix, rank
from kvmtune.advise.mutes import Mutes
from kvmtune.demo import DemoFeed, open_demo
from kvmtune.fixes import fix_lines
from kvmtune.frame import Framer
from kvmtune.record.writer import Recorder


def _frames(n: int):
    feed = DemoFeed(open_demo(seed=1))
    framer = Framer()
    try:
        snaps = [feed.next() for _ in range(n)]
    finally:
        feed.close()
    return snaps, [framer.push(s) for s in snaps]


def _all(frame) -> list[Finding]:
    return [f for fs in frame.findings.values() for f in fs] + list(frame.host_findings)


def _keys(found) -> list[tuple]:
    return sorted((f["guest"] or "", f["code"], f["severity"]) if isinstance(f, dict) else
                  (f.guest or "", f.code, f.severity) for f in found)


@pytest.fixture(scope="module")
def demo():
    """What `advise --demo` judges: the fresh demo's second snapshot (the first gives the rates)."""
    return _frames(2)[1][1]


@pytest.fixture
def kv(tmp_path):
    def run(*args: str, code: int | None = None) -> subprocess.CompletedProcess[str]:
        p = kvmtune("advise", *args, state=tmp_path)
        assert "Traceback" not in p.stderr, p.stderr
        if code is not None:
            assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr)
        return p
    run.state = tmp_path / "state"   # type: ignore[attr-defined]
    return run


def test_json_is_the_frames_findings_and_the_exit_status_says_if_there_are_any(demo, kv):
    want = _all(demo)
    assert want, "the demo host has findings"
    p = kv("--demo", "--json", code=1)
    doc = json.loads(p.stdout)
    assert doc["schema"] == "kvmtune.advise/1" and doc["host"] == "hv-demo-01" and doc["muted"] == 0
    assert _keys(doc["findings"]) == _keys(want)
    for f in doc["findings"]:
        assert set(f) >= {"code", "severity", "guest", "title", "evidence", "section", "fix", "muted"}
        assert isinstance(f["section"], str) and f["muted"] is False
    ranks = [rank(f["severity"]) for f in doc["findings"]]
    assert ranks == sorted(ranks)                       # worst first


def test_text_lists_every_finding_worst_first_with_its_section(demo, kv):
    out = kv("--demo", code=1).stdout
    assert out.startswith("hv-demo-01 at ")
    heads = [line for line in out.splitlines() if line.split(" ")[0] in ("CRITICAL", "WARNING", "INFO")]
    assert len(heads) == len(_all(demo))
    for f in _all(demo):
        assert any(h.split() == [f.severity.upper(), f.guest or "(host)", f.code, f"§{f.section}"] for h in heads)
        assert f"  {f.text}" in out
    assert [rank(h.split()[0].lower()) for h in heads] == sorted(rank(h.split()[0].lower()) for h in heads)


def test_min_severity_filters_the_list_and_the_exit_status(demo, kv):
    for sev in ("critical", "warning", "info"):
        want = [f for f in _all(demo) if rank(f.severity) <= rank(sev)]
        p = kv("--demo", "--json", "--min-severity", sev, code=1 if want else 0)
        assert _keys(json.loads(p.stdout)["findings"]) == _keys(want)
    p = kv("--demo", "--min-severity", "bad", code=2)
    assert "invalid choice" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_guest_keeps_that_guests_findings_and_an_unknown_guest_is_one_line_exit_2(demo, kv):
    name = next(n for n, fs in demo.findings.items() if fs)
    p = kv("--demo", "--json", "--guest", name, code=1)
    assert _keys(json.loads(p.stdout)["findings"]) == _keys(demo.guest_findings(name))
    clean = next(g.name for g in demo.snap.guests if not demo.guest_findings(g.name))
    assert json.loads(kv("--demo", "--json", "--guest", clean, code=0).stdout)["findings"] == []
    p = kv("--demo", "--guest", "no-such-guest", code=2)
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert "no guest named 'no-such-guest' on hv-demo-01; it has: " in p.stderr


def test_muted_findings_are_hidden_counted_and_do_not_change_the_exit_status(demo, kv, monkeypatch):
    name = next(n for n, fs in demo.findings.items() if fs)
    found = demo.guest_findings(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(kv.state))   # the state directory the CLI uses
    mutes = Mutes("hv-demo-01")
    for f in found:
        mutes.set(f, True)
    p = kv("--demo", "--json", "--guest", name, code=0)   # all its findings acknowledged
    doc = json.loads(p.stdout)
    assert doc["findings"] == [] and doc["muted"] == len(found)
    assert f"{len(found)} muted (--all lists them)" in kv("--demo", "--guest", name, code=0).stdout
    doc = json.loads(kv("--demo", "--json", "--guest", name, "--all", code=0).stdout)
    assert _keys(doc["findings"]) == _keys(found) and all(f["muted"] for f in doc["findings"])
    every = json.loads(kv("--demo", "--json").stdout)
    assert _keys(every["findings"]) == _keys(f for f in _all(demo) if f.guest != name)
    # a mute is per host: another host's guest of that name is not muted
    assert not Mutes("another-host").is_muted(found[0])


def test_a_damaged_mutes_file_is_a_warning_and_no_mutes(demo, kv):
    path = kv.state / "kvmtune" / "mutes.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    p = kv("--demo", "--json", code=1)
    assert "warning: the muted findings file" in p.stderr and "damaged" in p.stderr
    assert _keys(json.loads(p.stdout)["findings"]) == _keys(_all(demo))


def _record(path: Path, snaps) -> Path:
    r = Recorder(path, source="demo", interval=2.0)
    for s in snaps:
        r.add(s)
    r.close()
    return path


def test_a_recording_at_a_time_is_judged_with_the_samples_before_it(tmp_path, kv, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    snaps, frames = _frames(12)
    path = _record(tmp_path / "demo.kvmrec", snaps)
    # the demo's clock: sample i at T0 + 2 (i + 1); +10s after the start is sample 5
    assert snaps[5].time - snaps[0].time == 10
    doc = json.loads(kv("--from", str(path), "--at", "+10s", "--json").stdout)
    assert doc["time"] == snaps[5].time and _keys(doc["findings"]) == _keys(_all(frames[5]))
    doc = json.loads(kv("--from", str(path), "--json").stdout)          # default: the last sample
    assert doc["time"] == snaps[-1].time and _keys(doc["findings"]) == _keys(_all(frames[-1]))
    p = kv("--from", str(path), "--at", "-1h", "--json")                # before the start: said
    assert "before the recording starts" in p.stderr and json.loads(p.stdout)["time"] == snaps[0].time


def test_recording_mistakes_are_one_line_exit_2(tmp_path, kv):
    (tmp_path / "text").write_text("hello")
    for args, says in ((("--from", str(tmp_path / "missing")), "cannot open"),
                       (("--from", str(tmp_path / "text")), "not a kvmtune recording"),
                       (("--at", "10:00", "--demo"), "--at needs --from"),
                       (("--from", str(tmp_path / "text"), "--demo"), "cannot be combined")):
        p = kv(*args, code=2)
        assert says in p.stderr and p.stderr.count("\n") == 1 and p.stdout == "", (args, p.stderr)


def test_no_connection_is_one_line_exit_2(kv, tmp_path):
    p = kv("--connect", f"test://{tmp_path}/none.xml", code=2)
    assert "kvmtune: cannot connect to" in p.stderr.splitlines()[-1]


def test_help_documents_the_exit_status(kv):
    out = kv("--help", code=0).stdout
    assert "exit status:" in out and "0  no (unmuted) finding" in out and "1  at least one" in out
    for opt in ("--json", "--guest", "--min-severity", "--all", "--from", "--at", "--interval", "--demo"):
        assert opt in out


def test_a_fix_is_said_as_its_virsh_lines_or_its_definition_edit():
    snap = _frames(1)[0][0]
    g = next(g for g in snap.guests if g.running)
    lines = fix_lines(Fix(action="numatune", target=g.name, params={"mode": None, "nodeset": "0",
                                                                     "scope": "config"}), snap)
    assert lines[0] == f"$ virsh numatune {g.name} --nodeset 0 --config"
    lines = fix_lines(Fix(target=g.name, xml="<cpu mode='host-passthrough'/>",
                          virt_xml=("virt-xml", g.name, "--edit", "--cpu", "host-passthrough", "--define"),
                          note="takes effect at the next boot"), snap)
    assert lines == [f"virsh edit {g.name}, and put in the definition:", "    <cpu mode='host-passthrough'/>",
                     f"or: $ virt-xml {g.name} --edit --cpu host-passthrough --define",
                     "note: takes effect at the next boot"]
    # a fix that only names its kind: said as the action to fill in, never a bogus command
    assert fix_lines(Fix(action="move", target=g.name), snap)[0].startswith(f"the move action on {g.name}")


def test_live_takes_two_samples_an_interval_apart_and_says_nothing_on_a_pipe(kv):
    pytest.importorskip("libvirt")
    import time
    t0 = time.monotonic()
    p = kv("--connect", "test:///default", "--interval", "0.5", "--json")
    assert p.returncode in (0, 1) and time.monotonic() - t0 >= 0.5
    doc = json.loads(p.stdout)
    assert doc["schema"] == "kvmtune.advise/1" and "second sample" not in p.stderr   # not a terminal


def test_an_action_fix_is_said_as_apply_would_run_it_bound_with_its_risks(demo, kv):
    """KSM's merge_across_nodes with pages shared: `kvmtune apply` runs run=2, the change, run
    restored (the kernel refuses the change alone, EBUSY); advise says the same three lines
    (the action bound to the snapshot before its commands) and the risk apply asks about."""
    f = next(x for x in demo.host_findings
             if x.fix is not None and x.fix.action == "ksm" and "merge_across_nodes" in x.fix.params["values"])
    value = f.fix.params["values"]["merge_across_nodes"]
    applied = kvmtune("--demo", "--dry-run", "apply", "ksm", "--merge-across-nodes", str(value),
                      state=kv.state.parent)
    want = [line for line in applied.stdout.splitlines() if line.startswith("echo ")]
    assert len(want) == 3 and want[0] == "echo 2 > /sys/kernel/mm/ksm/run", applied.stdout
    out = kv("--demo", code=1).stdout
    block = out.split(f"  {f.code}  ")[1].split("\n\n")[0].splitlines()
    said = [line.split("$ ", 1)[1] for line in block if "$ " in line]
    assert said == want
    assert any(line.strip().startswith("risk: the kernel refuses merge_across_nodes") for line in block), block


# Two findings of one code on web-02, about different devices: added to every frame of the CLI
# process (a sitecustomize on its PYTHONPATH), since which checks fire several times is theirs.
TWO_OF_ONE_CODE = '''
from kvmtune import frame as frame_mod
from kvmtune.advise import Advice, Finding, worst_first
_real = frame_mod.evaluate

def _evaluate(snap, prev=None, rates=None, history=None):
    advice = _real(snap, prev, rates, history)
    extra = [Finding("test.unused", "info", "web-02", "unused device", "sound ich9", "3.2.2", subject="sound"),
             Finding("test.unused", "info", "web-02", "unused device", "tablet", "3.2.2", subject="tablet/usb")]
    return Advice({**advice.guests, "web-02": tuple(worst_first([*advice.guests.get("web-02", ()), *extra]))},
                  advice.host)

frame_mod.evaluate = _evaluate
'''


def test_a_mute_is_per_subject_one_of_two_findings_of_a_code_stays(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(TWO_OF_ONE_CODE)
    path = tmp_path / "state" / "kvmtune" / "mutes.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": "kvmtune.mutes/2", "hosts": {"hv-demo-01": {"web-02": [
        {"code": "test.unused", "subject": "tablet/usb"}]}}}))
    p = kvmtune("advise", "--demo", "--json", "--guest", "web-02", "--all", state=tmp_path, path=(str(shim),))
    assert "Traceback" not in p.stderr and "warning" not in p.stderr, p.stderr
    doc = json.loads(p.stdout)
    mine = {f["subject"]: f["muted"] for f in doc["findings"] if f["code"] == "test.unused"}
    assert mine == {"sound": False, "tablet/usb": True} and doc["muted"] == 1
    # and `!` in the TUI writes what the CLI reads: muting the other one too
    m = Mutes("hv-demo-01", path)
    m.set(Finding("test.unused", "info", "web-02", "unused device", "", "3.2.2", subject="sound"), True)
    p = kvmtune("advise", "--demo", "--json", "--guest", "web-02", state=tmp_path, path=(str(shim),))
    assert [f for f in json.loads(p.stdout)["findings"] if f["code"] == "test.unused"] == []


def test_a_mutes_file_from_before_subjects_reads_as_subject_none(tmp_path):
    path = tmp_path / "mutes.json"
    path.write_text(json.dumps({"format": "kvmtune.mutes/1", "hosts": {"h": {"g": ["a.code"], "": ["b.code"]}}}))
    m = Mutes("h", path)
    assert m.warning is None
    assert m.is_muted(Finding("a.code", "info", "g", "t", "", "1"))
    assert not m.is_muted(Finding("a.code", "info", "g", "t", "", "1", subject="vda"))
    assert m.is_muted(Finding("b.code", "info", None, "t", "", "1"))
    assert m.keys("g") == {("a.code", None)}


def test_a_guest_named_twice_is_listed_once(demo, kv):
    name = next(n for n, fs in demo.findings.items() if fs)
    doc = json.loads(kv("--demo", "--json", "--guest", name, "--guest", name, code=1).stdout)
    assert _keys(doc["findings"]) == _keys(demo.guest_findings(name))
    out = kv("--demo", "--guest", name, "--guest", name, code=1).stdout
    assert out.count(f"  {name}  ") == len(demo.guest_findings(name))
