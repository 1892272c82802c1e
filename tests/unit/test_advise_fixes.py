"""Every finding's fix is usable as it stands: a live fix rebuilds through actions.KINDS and
validates against the snapshot it was found on (on the demo host and on every test
snapshot of test_advise); an XML fix carries the virsh edit snippet and a virt-xml argv."""

from __future__ import annotations

import pytest
from test_advise import VIOLATIONS

from kvmtune.actions import KINDS
from kvmtune.advise import evaluate
from kvmtune.demo import DemoFeed, open_demo
from kvmtune.frame import Framer


def all_findings(advice):
    return [*advice.host, *(f for fs in advice.guests.values() for f in fs)]


def check_fix(f, snap):
    fix = f.fix
    if fix is None:
        return
    if fix.action is not None:
        act = KINDS[fix.action].from_params(fix.target, dict(fix.params))
        assert act.validate(snap) == [], (f.code, f.guest, dict(fix.params))
        assert fix.target == (f.guest or "host")
    if fix.virt_xml is not None:
        argv = list(fix.virt_xml)
        assert argv[:2] == ["virt-xml", f.guest] and argv[-1] == "--define" and "--config" not in argv
        assert fix.xml
    assert fix.action is not None or fix.xml is not None or fix.note, f.code


@pytest.mark.parametrize("code", sorted(VIOLATIONS))
def test_fixes_of_the_test_snapshots_rebuild_and_validate(code):
    s, rates, hist = VIOLATIONS[code]()
    for f in all_findings(evaluate(s, s if rates else None, rates, hist)):
        check_fix(f, s)


def test_fixes_on_the_demo_host_rebuild_and_validate():
    feed = DemoFeed(open_demo(seed=1))
    try:
        framer = Framer()
        frames = [framer.push(feed.next()) for _ in range(3)]
    finally:
        feed.close()
    seen = 0
    for fr in frames[1:]:
        for f in (*fr.host_findings, *(f for fs in fr.findings.values() for f in fs)):
            check_fix(f, fr.snap)
            seen += f.fix is not None and f.fix.action is not None
    assert seen


def test_the_demo_split_moves_where_the_move_form_proposes():
    """The demo's split guests: the finding's move node is analysis.best_node(g, host, snap),
    the M form's default (it named the first node whose total fits, the form another)."""
    from kvmtune import analysis
    feed = DemoFeed(open_demo(seed=1))
    try:
        framer = Framer()
        framer.push(feed.next())
        fr = framer.push(feed.next())
    finally:
        feed.close()
    split = [f for fs in fr.findings.values() for f in fs if f.code == "numa.split"]
    assert split
    for f in split:
        g = fr.snap.guest(f.guest)
        best = analysis.best_node(g, fr.snap.host, fr.snap)
        assert f.fix is not None and f.fix.params["nodes"] == [best] and f"node {best} has" in f.evidence
