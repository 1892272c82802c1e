"""`kvmtune dump` as a subprocess on recordings made by the real Recorder from the demo host.

Lossless: the jsonl of N recorded ticks is exactly the N Snapshot documents a direct
collection of the same seed gives. CSV rates are checked against the one rate function;
OpenMetrics goes through the real promtool (Debian's prometheus package; under CI it must
be there).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from clirun import SRC, kvmtune

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.model import Error
from kvmtune.rates import guest_rates
from kvmtune.record.writer import Recorder

N = 30
T0 = 1735700000.0   # the demo's clock: sample i (from 0) is at T0 + 2 (i + 1)


def _collect(n: int, seed: int = 1) -> list:
    feed = DemoFeed(open_demo(seed=seed))
    try:
        return [feed.next() for _ in range(n)]
    finally:
        feed.close()


def _record(path: Path, snaps, events=()) -> Path:
    r = Recorder(path, source="demo", interval=2.0)
    for s in snaps:
        r.add(s)
    for kind, when, data in events:
        r.add_event(kind, when, data)
    r.close()
    return path


@pytest.fixture(scope="module")
def direct():
    """The snapshots of a direct collection: seed 1, N ticks."""
    return _collect(N)


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """A recording of a separate demo host of the same seed, N ticks."""
    return _record(tmp_path_factory.mktemp("rec") / "demo.kvr", _collect(N))


@pytest.fixture
def kv(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")   # clock times in the tests are UTC

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        p = kvmtune("dump", *args, state=tmp_path)
        assert "Traceback" not in p.stderr, p.stderr
        assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr)
        return p
    return run


def _docs(p) -> list:
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_jsonl_is_lossless_and_each_line_a_v1_document(rec, direct, kv, snapshot_contract):
    docs = _docs(kv(str(rec)))
    assert len(docs) == N
    assert docs == [json.loads(json.dumps(s.to_json())) for s in direct]
    for d in docs:
        snapshot_contract(d)
    assert json.loads(kv(str(rec), "--format", "json").stdout) == docs


def test_jsonl_keeps_what_orjson_cannot_write(tmp_path, direct, kv):
    """A counter past 64 bits and a name that is not ASCII come back exact (orjson writes
    the lines; json the documents it refuses)."""
    snaps = [replace(s, guests=(replace(s.guests[0], name="dé ☃", cpu_time_ns=2 ** 70 + i), *s.guests[1:]))
             for i, s in enumerate(direct[:3])]
    docs = _docs(kv(str(_record(tmp_path / "big.kvmrec", snaps)), "--guest", "dé ☃"))
    assert [d["guests"][0]["cpu_time_ns"] for d in docs] == [2 ** 70, 2 ** 70 + 1, 2 ** 70 + 2]
    assert docs == [replace(s, guests=s.guests[:1]).to_json() for s in snaps]


def test_from_to_are_inclusive_in_every_form(rec, kv):
    def times(*args: str) -> list[float]:
        return [d["time"] for d in _docs(kv(str(rec), *args))]
    at = [T0 + 2 * (i + 1) for i in range(N)]
    assert times("--from", str(at[3]), "--to", str(at[7])) == at[3:8]
    assert times("--from", "02:53:30", "--to", "02:53:34") == [T0 + 10, T0 + 12, T0 + 14]   # TZ=UTC
    assert times("--from", "2025-01-01 02:53:50") == at[14:]
    assert times("--to", "2025-01-01T03:53:24+01:00") == at[:2]
    assert times("--from", "+50s") == at[25:]        # 50 s after the first sample
    assert times("--from=-4s") == at[-3:]         # 4 s before the last
    assert times("--from", "-4s", "--to", "-2s") == at[-3:-1]   # as typed, without "="
    between = kv(str(rec), "--from", "02:53:29", "--to", "02:53:29", code=1)   # between two samples
    assert between.stdout == "" and "nothing in that time range" in between.stderr


def test_from_to_mistakes_are_one_line(rec, kv):
    p = kv(str(rec), "--from", "25:00", code=2)
    assert p.stderr.count("\n") == 1 and "--from" in p.stderr and "not a time of day" in p.stderr
    p = kv(str(rec), "--from", "+1m", "--to", "+10s", code=2)
    assert p.stderr.startswith("kvmtune: --from (") and "is after --to" in p.stderr
    p = kv(str(rec), "--from", "2030-01-01", code=1)
    assert p.stdout == "" and "nothing in that time range" in p.stderr


def test_guest_keeps_only_those_guests(rec, direct, kv):
    docs = _docs(kv(str(rec), "--guest", "db-primary", "--guest", "web-01", "--to", "+10s"))
    assert len(docs) == 6
    for d, s in zip(docs, direct):
        assert [g["name"] for g in d["guests"]] == ["web-01", "db-primary"]   # the recording's order
        assert d["guests"] == [g for g in json.loads(json.dumps(s.to_json()))["guests"]
                               if g["name"] in ("web-01", "db-primary")]
        assert d["host"] == json.loads(json.dumps(s.to_json()))["host"]
    p = kv(str(rec), "--guest", "web-01", "--guest", "nosuch", code=2)
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert "no guest named 'nosuch'" in p.stderr and "it has: analytics, backup-01" in p.stderr


def _csv(p) -> list[dict]:
    return list(csv.DictReader(io.StringIO(p.stdout)))


HEADER = ("time,datetime,host,guest,uuid,state,vcpus,pinned_vcpus,cpu_pct,memory_kib,numa_kib,"
          "node0_kib,node1_kib,node2_kib,node3_kib,hugepages_kib,ksm_merging_pages,numatune_mode,"
          "numatune_nodeset,hard_limit_kib,soft_limit_kib,blkio_weight,disks,disk_rd_bytes_s,disk_wr_bytes_s,"
          "disk_rd_iops,disk_wr_iops,limit_total_bytes_sec,limit_read_bytes_sec,limit_write_bytes_sec,"
          "limit_total_iops_sec,limit_read_iops_sec,limit_write_iops_sec")


def test_csv_header_is_stable_and_rates_are_the_rate_functions(rec, direct, kv):
    p = kv(str(rec), "--format", "csv")
    assert p.stdout.splitlines()[0] == HEADER
    rows = _csv(p)
    assert len(rows) == sum(len(s.guests) for s in direct)
    # the same header for one guest, a short range, a range starting later
    for args in (("--guest", "web-01"), ("--from", "+20s", "--to", "+24s")):
        assert kv(str(rec), "--format", "csv", *args).stdout.splitlines()[0] == HEADER
    by = {(float(r["time"]), r["guest"]): r for r in rows}
    for i in (0, 1, 17, N - 1):
        rates = guest_rates(direct[i - 1] if i else None, direct[i])
        for g in direct[i].guests:
            r, rate = by[(direct[i].time, g.name)], rates[g.name]
            assert r["state"] == g.state and int(r["memory_kib"]) == g.memory_kib
            assert r["node1_kib"] == ("" if g.numa_memory_kib is None else str(g.numa_memory_kib.get(1, 0)))
            if rate.cpu_percent is None:
                assert r["cpu_pct"] == ""
            else:
                assert float(r["cpu_pct"]) == pytest.approx(rate.cpu_percent, abs=1e-3)
            rd = [d.rd_bytes_s for d in rate.disks.values()]
            if g.disks and None not in rd:
                assert float(r["disk_rd_bytes_s"]) == pytest.approx(sum(rd), abs=1e-3)
            else:
                assert r["disk_rd_bytes_s"] == ""
    assert any(r["cpu_pct"] for r in rows) and any(r["disk_wr_bytes_s"] for r in rows)
    # a range that starts later still has the rates from the sample before it (as the TUI shows them)
    later = _csv(kv(str(rec), "--format", "csv", "--from", str(direct[17].time), "--to", str(direct[17].time)))
    assert [(r["guest"], r["cpu_pct"]) for r in later] == \
        [(g.name, by[(direct[17].time, g.name)]["cpu_pct"]) for g in direct[17].guests]


def test_fields_pick_and_order_the_columns(rec, kv):
    p = kv(str(rec), "--format", "csv", "--fields", "guest,cpu_pct,node2_kib", "--to", "+2s")
    lines = p.stdout.splitlines()
    assert lines[0] == "guest,cpu_pct,node2_kib" and len(lines) == 1 + 2 * 10
    assert all(len(line.split(",")) == 3 for line in lines)
    p = kv(str(rec), "--format", "csv", "--fields", "guest,cpu,node9_kib", code=2)
    assert p.stderr.count("\n") == 1
    assert p.stderr.startswith("kvmtune: --fields: unknown fields cpu, node9_kib; the fields are: time, datetime,")
    assert "node3_kib" in p.stderr
    assert "--fields is for --format csv" in kv(str(rec), "--fields", "guest", code=2).stderr


def test_info(tmp_path, kv):
    snaps = _collect(12)
    snaps[5] = snaps[5].with_errors(Error("numa_maps", "vm-x: permission denied"))
    entry = {"id": 7, "action": "vcpupin", "target": "web-01", "result": "applied", "time": snaps[6].time}
    path = _record(tmp_path / "info.kvr", snaps, [("action", snaps[6].time, entry)])
    out = kv(str(path), "--info").stdout
    assert "kvmtune.recording, schema 1, codec 1, created by kvmtune" in out
    assert "session 1  2025-01-01 02:53:22  host hv-demo-01  source demo  interval 2s  kvmtune " in out
    assert "samples    12, 2025-01-01 02:53:22 to 2025-01-01 02:53:44 (22s)" in out
    size = path.stat().st_size
    assert f"size       {size} bytes" in out and f"{round(size / 120, 1):g} bytes per guest-sample (10 guests)" in out
    assert "actions    1\n  2025-01-01 02:53:34  #7  vcpupin  web-01  applied" in out
    assert "errors     1 collection error recorded" in out
    j = json.loads(kv(str(path), "--info", "--format", "json").stdout)
    assert j["samples"] == 12 and j["first"] == snaps[0].time and j["last"] == snaps[-1].time
    assert j["sessions"][0]["source"] == "demo" and j["sessions"][0]["interval"] == 2.0
    assert j["actions"] == [{"time": snaps[6].time, "id": 7, "action": "vcpupin", "target": "web-01",
                             "result": "applied"}]
    assert j["errors"] == 1 and j["meta"]["format"] == "kvmtune.recording"


def test_bad_files_are_one_line_exit_2(rec, tmp_path, kv):
    foreign = tmp_path / "foreign.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    (tmp_path / "text").write_text("hello\n")
    (tmp_path / "empty").write_bytes(b"")
    cut = tmp_path / "cut.kvr"
    cut.write_bytes(rec.read_bytes()[: rec.stat().st_size // 3])
    for name, says in (("missing", "cannot open"), ("empty", "is empty"), ("text", "not a kvmtune recording"),
                       ("foreign.db", "not a kvmtune recording"), ("cut.kvr", "is damaged")):
        for fmt in ("jsonl", "csv", "openmetrics"):
            p = kv(str(tmp_path / name), "--format", fmt, code=2)
            assert p.stdout == "" and p.stderr.startswith("kvmtune: ") and p.stderr.count("\n") == 1, p.stderr
            assert says in p.stderr
        assert kv(str(tmp_path / name), "--info", code=2).stderr.count("\n") == 1


def test_a_damaged_sample_is_named_and_the_dump_goes_on(rec, tmp_path, kv):
    bad = tmp_path / "bad.kvr"
    shutil.copy(rec, bad)
    db = sqlite3.connect(bad)
    t = db.execute("SELECT time FROM samples WHERE seq = 5").fetchone()[0]
    db.execute("UPDATE samples SET data = x'28b52ffd00' WHERE seq = 5")   # a broken zstd frame
    db.commit()
    db.close()
    p = kv(str(bad), code=1)
    docs = _docs(p)
    assert [d["time"] for d in docs[:4]] == [T0 + 2, T0 + 4, T0 + 6, T0 + 8]
    assert t not in [d["time"] for d in docs]
    first = p.stderr.splitlines()[0]
    assert first.startswith(f"kvmtune: warning: sample 5 of {bad} is damaged") and "02:53:30" in first
    assert p.stderr.splitlines()[-1].startswith("kvmtune: ") and "damaged sample" in p.stderr.splitlines()[-1]
    # csv and openmetrics go on too
    assert kv(str(bad), "--format", "csv", code=1).stdout.startswith("time,")
    assert kv(str(bad), "--format", "openmetrics", code=1).stdout.endswith("# EOF\n")


def test_a_newer_schema_dumps_what_it_knows_and_says_so_once(rec, tmp_path, kv):
    newer = tmp_path / "newer.kvr"
    shutil.copy(rec, newer)
    db = sqlite3.connect(newer)
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    p = kv(str(newer))
    assert len(_docs(p)) == N
    assert p.stderr.count("\n") == 1 and "(schema 2): showing what this kvmtune knows" in p.stderr


def test_a_closed_pipe_ends_quietly(rec, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC), "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "kvmtune.cli", "dump", str(rec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    json.loads(proc.stdout.readline())
    proc.stdout.close()          # `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0 and err == ""


# -- OpenMetrics, through the real promtool ---------------------------------------------------

def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        why = "promtool is not installed (Debian: apt-get install prometheus; `make setup` does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    return path


def _tsdb(promtool: str, om: Path, tmp: Path) -> dict[str, list[tuple[float, int]]]:
    """The series promtool backfilled from `om`: {series text: [(value, ms)]}."""
    blocks = tmp / "tsdb"
    p = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(blocks)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    (blocks / "wal").mkdir(exist_ok=True)   # promtool 2.42's dump opens the WAL
    p = subprocess.run([promtool, "tsdb", "dump", str(blocks)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    series: dict[str, list[tuple[float, int]]] = {}
    for line in p.stdout.splitlines():
        labels, value, ms = line.rsplit(" ", 2)
        series.setdefault(labels, []).append((float(value), int(ms)))
    return series


def test_openmetrics_backfills_prometheus(rec, direct, tmp_path, kv):
    promtool = _promtool()
    p = kv(str(rec), "--format", "openmetrics")
    text = p.stdout
    assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names)) and all(n.startswith("kvmtune_") for n in names)
    # OpenMetrics: a family's samples all follow its own TYPE/HELP lines (promtool 2.42 does not check it)
    family, last = None, {}
    for line in text.splitlines()[:-1]:
        if line.startswith("# TYPE "):
            family = line.split()[2]
        elif not line.startswith("#"):
            series, _value, ts = line.rsplit(" ", 2)
            assert series.split("{")[0] in (family, f"{family}_total", f"{family}_info"), line
            assert float(ts) > last.get(series, 0), line       # each series in time order
            last[series] = float(ts)
    om = tmp_path / "rec.om"
    om.write_text(text)
    series = _tsdb(promtool, om, tmp_path)
    cpu = series['{__name__="kvmtune_guest_cpu_seconds_total", guest="db-primary"}']
    want = [(s.guest("db-primary").cpu_time_ns / 1e9, round(s.time * 1000)) for s in direct]
    assert [ms for _v, ms in cpu] == [ms for _v, ms in want]
    assert [v for v, _ms in cpu] == pytest.approx([v for v, _ms in want], rel=1e-12)
    g = direct[-1].guest("db-primary")
    node = next(n for n, kib in g.numa_memory_kib.items() if kib)
    mem = series[f'{{__name__="kvmtune_guest_memory_bytes", guest="db-primary", node="{node}"}}']
    assert mem[-1] == (g.numa_memory_kib[node] * 1024, round(direct[-1].time * 1000))
    d = g.disks[0]
    wr = series[f'{{__name__="kvmtune_guest_disk_written_bytes_total", disk="{d.target}", guest="db-primary"}}']
    assert wr[-1][0] == d.wr_bytes and len(wr) == N


def test_openmetrics_escapes_label_values(tmp_path, kv):
    promtool = _promtool()
    odd = 'we"ird\\name\nx'
    snaps = [replace(s, guests=(replace(s.guests[0], name=odd),) + s.guests[1:]) for s in _collect(3)]
    path = _record(tmp_path / "odd.kvr", snaps)
    text = kv(str(path), "--format", "openmetrics").stdout
    assert 'kvmtune_guest_memory_configured_bytes{guest="we\\"ird\\\\name\\nx"} ' in text
    om = tmp_path / "odd.om"
    om.write_text(text)
    series = _tsdb(promtool, om, tmp_path)
    assert '{__name__="kvmtune_guest_memory_configured_bytes", guest="we\\"ird\\\\name\\nx"}' in series


def test_a_recording_without_samples(tmp_path, kv):
    path = tmp_path / "none.kvr"
    Recorder(path, source="demo", interval=2.0).close()
    p = kv(str(path), code=1)
    assert p.stdout == "" and p.stderr == f"kvmtune: {path} holds no samples yet\n"
    assert json.loads(kv(str(path), "--format", "json", code=1).stdout) == []
    assert "samples    0" in kv(str(path), "--info").stdout
