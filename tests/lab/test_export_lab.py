"""`kvmtune export` scraped by a real Prometheus (Debian's, started here on 127.0.0.1 with a
temporary config and data directory, 1 s scrapes, the contrib alert rules loaded) against
the lab's qemu:///system. PromQL over Prometheus's HTTP API gives each lab guest's memory
per node, vCPU count and disk counters, compared with `kvmtune snapshot --json` and virsh
read around the same moment (counters bracketed by the Prometheus samples before and after).
Only reads: no guest is changed."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from labkit import GUESTS, REPO, URI, run, virsh, wait_for

PROMETHEUS = "/usr/bin/prometheus"
RULES = REPO / "contrib" / "prometheus" / "kvmtune.rules.yml"
INTERVAL = 1.0   # the exporter's collections and Prometheus's scrapes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A server started here, its output in a file; stop() leaves nothing running."""

    def __init__(self, argv: list[str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=log.open("w"), start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def start_exporter(tmp: Path, *args: str) -> tuple[Proc, str]:
    p = Proc([sys.executable, "-m", "kvmtune.cli", "export", "--listen", "127.0.0.1:0", *args],
             tmp / f"export{len(list(tmp.glob('export*')))}.log")
    m = wait_for(lambda: re.search(r"on (http://\S+)/metrics", p.text()) or p.proc.poll() is not None, 30, 0.05)
    if not isinstance(m, re.Match):
        p.stop()
        pytest.fail(f"kvmtune export did not start: {p.text()}")
    return p, m.group(1)


def get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


class Prom:
    def __init__(self, url: str):
        self.url = url

    def api(self, path: str, **params: str) -> object:
        d = json.loads(get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"))
        assert d["status"] == "success", d
        return d["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr} if at is None else {"query": expr, "time": repr(at)}
        data = self.api("query", **params)
        assert isinstance(data, dict)
        return data["result"]

    def samples(self, expr: str, seconds: int = 30) -> list[tuple[float, float]]:
        """The raw samples of one series over the last `seconds`: [(scrape time, value)]."""
        res = self.query(f"{expr}[{seconds}s]")
        assert len(res) == 1, (expr, res)
        return [(float(t), float(v)) for t, v in res[0]["values"]]


@pytest.fixture(scope="module")
def lab_prometheus(tmp_path_factory):
    if not Path(PROMETHEUS).is_file() or shutil.which("promtool") is None:
        pytest.fail(f"{PROMETHEUS} or promtool is missing: `make setup` installs Debian's prometheus package")
    tmp = tmp_path_factory.mktemp("export-lab")
    exporter, url = start_exporter(tmp, "--connect", URI, "--interval", str(INTERVAL))
    port = free_port()
    target = url.split("//", 1)[1]
    (tmp / "prometheus.yml").write_text(json.dumps({   # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "kvmtune", "static_configs": [{"targets": [target]}]}]}))
    prom = Proc([PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
                tmp / "prometheus.log")
    try:
        p = Prom(f"http://127.0.0.1:{port}")

        def ready() -> bool:
            try:
                res = p.query('count(kvmtune_guest_vcpus{job="kvmtune"})')
            except OSError:
                return prom.proc.poll() is not None
            return bool(res) and float(res[0]["value"][1]) >= len(GUESTS)
        if not wait_for(ready, 30, 0.2) or prom.proc.poll() is not None:
            pytest.fail(f"Prometheus never had the lab's guests: {prom.text()[-2000:]}\n{exporter.text()}")
        yield p, url, tmp
    finally:
        rc_prom, rc_exp = prom.stop(), exporter.stop()
        assert rc_exp == 0, exporter.text()
        assert rc_prom == 0, prom.text()[-2000:]
        left = run(["ps", "-eo", "pid,args"])
        assert str(tmp) not in left and f"127.0.0.1:{port}" not in left, left   # nothing left running


def snapshot_json() -> dict:
    return json.loads(run([sys.executable, "-m", "kvmtune.cli", "snapshot", "--json", "--connect", URI], timeout=60))


def test_the_target_is_up_and_the_rules_are_loaded(lab_prometheus):
    p, url, _tmp = lab_prometheus
    data = p.api("targets")
    assert isinstance(data, dict)
    (target,) = data["activeTargets"]
    assert target["health"] == "up" and target["lastError"] == "" and target["scrapeUrl"] == url + "/metrics"
    groups = wait_for(lambda: [g for g in p.api("rules")["groups"] if g["rules"] and g["rules"][0].get("health") == "ok"
                               and all(r.get("health") == "ok" for r in g["rules"])], 10, 0.5)
    names = {r["name"] for g in groups or [] for r in g["rules"]}
    want = {"KvmtuneGuestCriticalFinding", "KvmtuneHostCriticalFinding", "KvmtuneGuestMemoryRemote",
            "KvmtuneCollectionStale"}
    assert want <= names and {g["file"] for g in groups or []} == {str(RULES)}
    assert not p.query('ALERTS{alertname="KvmtuneHypervisorDown"}')


def test_memory_vcpus_and_disks_agree_with_snapshot_and_virsh(lab_prometheus):
    p, _url, _tmp = lab_prometheus
    before = {g: virsh("domblkstat", g, "vda") for g in GUESTS}
    t0 = time.time()
    snap = snapshot_json()
    t1 = time.time()
    time.sleep(2 * INTERVAL + 0.5)   # a collection and a scrape after the snapshot
    ta = time.time()
    after = {g: virsh("domblkstat", g, "vda") for g in GUESTS}
    # a sample scraped at t was collected in (t - INTERVAL - 0.3, t]: at most one interval and a
    # collection before, since a scrape serves the last frame
    by_name = {g["name"]: g for g in snap["guests"]}
    for name in GUESTS:
        g = by_name[name]
        sel = f'guest="{name}"'
        # memory per node: the Prometheus sample nearest the snapshot (memory moves slowly)
        nodes = {r["metric"]["node"]: float(r["value"][1])
                 for r in p.query(f"kvmtune_guest_memory_bytes{{{sel}}}", at=(t0 + t1) / 2)}
        want = {n: kib * 1024 for n, kib in g["numa_memory_kib"].items()}
        assert nodes.keys() == want.keys(), (name, nodes, want)
        for n in want:
            assert abs(nodes[n] - want[n]) <= max(2 * 2 ** 20, 0.02 * want[n]), (name, n, nodes[n], want[n])
        (mem,) = p.query(f"kvmtune_guest_memory_configured_bytes{{{sel}}}")
        dominfo = dict(line.split(":", 1) for line in virsh("dominfo", name).splitlines() if ":" in line)
        assert float(mem["value"][1]) == int(dominfo["Max memory"].split()[0]) * 1024 == g["memory_kib"] * 1024
        # vCPUs: exactly, three ways
        (vc,) = p.query(f"kvmtune_guest_vcpus{{{sel}}}")
        assert int(float(vc["value"][1])) == len(g["vcpus"]) == int(virsh("vcpucount", name, "--live", "--active"))
        assert {r["metric"]["vcpu"] for r in p.query(f"kvmtune_guest_vcpu_pinned{{{sel}}}")} == \
            {str(v["index"]) for v in g["vcpus"]}
        # disk counters: the snapshot and virsh lie between the samples scraped before and after them
        (disk,) = g["disks"]
        for key, family in (("rd_bytes", "read_bytes"), ("wr_bytes", "written_bytes"),
                            ("rd_reqs", "reads"), ("wr_reqs", "writes")):
            samples = p.samples(f'kvmtune_guest_disk_{family}_total{{{sel},disk="{disk["target"]}"}}')
            low = [v for t, v in samples if t <= t0]                      # collected before the snapshot began
            high = [v for t, v in samples if t >= t1 + INTERVAL + 0.3]   # collected after it ended
            between = [v for t, v in samples if t0 + INTERVAL + 0.3 <= t <= ta]   # within the virsh reads
            assert low and high and between, (name, key, samples, t0, t1, ta)
            vb, va = (int(dict(w.split()[-2:] for w in x[name].splitlines())[key.replace("reqs", "req")])
                      for x in (before, after))
            assert low[-1] <= disk[key] <= high[0], (name, key, low[-1], disk[key], high[0])   # Prometheus ~ snapshot
            assert vb <= disk[key] <= va, (name, key, vb, disk[key], va)                     # snapshot ~ virsh
            assert all(vb <= v <= va for v in between), (name, key, vb, between, va)         # Prometheus ~ virsh
    io = by_name["kvmtune-lab-io"]["disks"][0]
    assert io["rd_bytes"] > 0 and io["wr_bytes"] > 0   # the io guest moves data: the brackets were tested


def test_promtool_checks_the_lab_and_demo_pages(lab_prometheus):
    _p, url, tmp = lab_prometheus
    pages = {"lab": get(url + "/metrics")}
    demo, demo_url = start_exporter(tmp, "--demo", "--interval", "600")
    try:
        wait_for(lambda: b'kvmtune_guest_vcpus{' in get(demo_url + "/metrics"), 20, 0.1)
        pages["demo"] = get(demo_url + "/metrics")
    finally:
        assert demo.stop() == 0, demo.text()
    for name, page in pages.items():
        assert b"kvmtune_guest_memory_bytes{" in page, name
        c = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True, timeout=60)
        assert c.returncode == 0, (name, c.stdout + c.stderr)
    for g in GUESTS:
        assert f'kvmtune_guest_running{{guest="{g}"}} 1.0'.encode() in pages["lab"]
