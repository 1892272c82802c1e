"""contrib/prometheus (alert rules) and contrib/grafana (dashboard) against the exporter:
the rules pass `promtool check rules` and their unit tests (`promtool test rules`), and
every PromQL expression in either names only metrics kvmtune exports (docs/metrics.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from promql import metric_names

from kvmtune.advise import CODES
from kvmtune.export.families import FAMILIES
from kvmtune.export.promclient import EXPORTER

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
RULES = CONTRIB / "prometheus" / "kvmtune.rules.yml"
DASHBOARD = CONTRIB / "grafana" / "kvmtune.json"
EMITTED = {f.sample_name for f, _ in (*FAMILIES, *EXPORTER)}
PROMETHEUS = {"up"}   # what Prometheus itself records for each scrape


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; `make setup` does it)")
    return path


def test_rules_pass_promtool_check():
    p = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "SUCCESS: 8 rules found" in p.stdout, p.stdout + p.stderr


def test_rules_pass_their_unit_tests():
    p = subprocess.run([promtool(), "test", "rules", "kvmtune.rules.test.yml"], cwd=RULES.parent,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


def rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    d = json.loads(DASHBOARD.read_text())
    out = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    out += [v["query"]["query"] for v in d["templating"]["list"] if v["type"] == "query"]
    return out


@pytest.mark.parametrize("exprs", [rule_exprs, dashboard_exprs], ids=["rules", "dashboard"])
def test_every_expression_names_only_exported_metrics(exprs):
    found = exprs()
    assert found
    for expr in found:
        names = metric_names(expr)
        assert names, expr
        assert set(names) <= EMITTED | PROMETHEUS, (expr, set(names) - EMITTED - PROMETHEUS)


def test_a_full_static_hugepage_pool_is_no_warning_and_a_dead_exporter_is_alerted():
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert rules["KvmtuneNodeHugepagesExhausted"]["labels"]["severity"] == "info"
    assert rules["KvmtuneExporterDown"]["expr"] == 'up{job=~".*kvmtune.*"} == 0'


def test_every_critical_finding_is_alerted_by_its_severity():
    """The finding rules select severity="critical" (guest and host), so every critical code of
    the catalogue alerts, those added later too; and they name no code."""
    finding_exprs = [e for e in rule_exprs() if "kvmtune_finding" in e]
    assert sorted(finding_exprs) == sorted(['kvmtune_finding{severity="critical",guest!=""} == 1',
                                            'kvmtune_finding{severity="critical",guest=""} == 1'])
    assert any(c.severity == "critical" for c in CODES.values())
    assert not any(code in e for e in finding_exprs for code in CODES)


def test_the_dashboard_has_the_panels_the_issue_asks_for():
    d = json.loads(DASHBOARD.read_text())
    titles = [p["title"] for p in d["panels"]]
    for want in ("Guest memory per host node", "Locality", "vCPU → host node", "Disk bytes/s and the throttle"):
        assert want in titles
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))


def test_the_throttle_panels_draw_every_kind_of_limit():
    """total, read and write limits alike: a read_bytes_sec limit was not drawn at all."""
    d = json.loads(DASHBOARD.read_text())
    panels = [p for p in d["panels"] if p["title"].endswith("and the throttle")]
    assert len(panels) == 2
    for p in panels:
        limits = [t for t in p["targets"] if "_limit_" in t["expr"]]
        assert limits and all("kind=" not in t["expr"] and "{{kind}}" in t["legendFormat"] for t in limits)


def test_metric_names_reads_promql():
    assert metric_names('sum by (node, guest) (a_b{x="y{z}"}) / on (guest) c[5m] offset 1h > 0.8') == ["a_b", "c"]
    assert metric_names('rate(kvmtune_x_total{i=~"$instance"}[$__rate_interval]) and bool typo_metric') == \
        ["kvmtune_x_total", "typo_metric"]
    assert metric_names("label_values(kvmtune_node_cpus, instance)") == ["kvmtune_node_cpus"]
    assert metric_names("time() - m > 1e3") == ["m"]
