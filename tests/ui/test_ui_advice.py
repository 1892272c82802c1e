"""The advisor in the view, on the demo host, pressing the real keys: the Advice pane (8),
the host-wide list (A), Enter on a finding (its fix's form, prefilled; or the definition
edit), mutes (!) kept across a restart, and read-only / replay refusing forms.

Findings are taken from the frame on screen, not named by code, so the tests hold whatever
the checks are; the few that need a fix with params add one to the frames (a test finding).
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static, TextArea
from uikit import demo_app, idle, ready, select, wait_for

from kvmtune import actions as act
from kvmtune import frame as frame_mod
from kvmtune.advise import Advice, Finding, Fix, worst_first
from kvmtune.ui.findings import FindingList, FindingsScreen, XmlFixScreen
from kvmtune.ui.forms import ActionForm, Choice

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

LETTER = {"critical": "C", "warning": "W", "info": "i"}


def cell(severity: str, n: int) -> str:
    """The ! column's text: the worst severity's letter and the count, "+" from 10 on."""
    return LETTER[severity] + (str(n) if n < 10 else "+")


def pane_list(app) -> FindingList:
    return app.query_one("#advice-list", FindingList)


def every(frame) -> list[Finding]:
    return [f for fs in frame.findings.values() for f in fs] + list(frame.host_findings)


def add_findings(monkeypatch, make):
    """The frames carry the advisor's findings plus `make(snap)`'s (guest -> findings)."""
    real = frame_mod.evaluate

    def evaluate(snap, prev=None, rates=None, history=None) -> Advice:
        advice = real(snap, prev, rates, history)
        extra = make(snap)
        guests = {n: tuple(worst_first([*advice.guests.get(n, ()), *extra.get(n, ())])) for n in advice.guests}
        return Advice(guests, tuple(worst_first([*advice.host, *extra.get(None, ())])))
    monkeypatch.setattr(frame_mod, "evaluate", evaluate)


async def open_finding(pilot, app, f: Finding) -> None:
    """Select its guest, Enter into the Advice pane, move to it, Enter."""
    await select(pilot, app, f.guest)
    await pilot.press("enter")
    await pilot.pause()
    lst = pane_list(app)
    assert app.focused is lst and app.pane_index == 7
    await pilot.press(*["down"] * [(x.guest, x.code) for x in lst.items].index((f.guest, f.code)))
    assert lst.current == f
    await pilot.press("enter")
    await pilot.pause()


async def test_the_advice_pane_lists_the_selected_guests_findings_worst_first():
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        name = max(app.frame.findings, key=lambda n: len(app.frame.guest_findings(n)))
        found = app.frame.guest_findings(name)
        assert found
        await select(pilot, app, name)
        await pilot.press("8")
        await pilot.pause()
        assert pane_list(app).items == worst_first(found)
        head = str(app.query_one("#pane-advice", Static).content)
        assert f"{len(found)} finding" in head and name in head
        # the ! column: the worst severity's letter and the count
        worst = worst_first(found)[0].severity
        assert app.rows[name]["warn"][0] == cell(worst, len(found))
        clean = next(g.name for g in app.snap.guests if not app.frame.guest_findings(g.name))
        await select(pilot, app, clean)
        assert pane_list(app).items == [] and "no findings" in str(app.query_one("#pane-advice", Static).content)
        assert app.rows[clean]["warn"][0] == ""


async def test_the_bang_column_sorts_worst_first():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        from kvmtune.advise import rank
        from kvmtune.ui.table import SORT_KEYS, GuestTable
        while app.sort_key != "warn":
            await pilot.press("s")
        order = app.query_one(GuestTable)._order
        assert SORT_KEYS[-1] == "warn"

        def key(n):
            fs = app.frame.guest_findings(n)
            return (min(rank(f.severity) for f in fs), -len(fs)) if fs else (9, 0)
        assert [key(n) for n in order] == sorted(key(n) for n in order)


async def test_A_lists_every_finding_on_the_host_sortable_and_escape_goes_back():
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)
        lst = app.screen.query_one(FindingList)
        want = every(app.frame)
        assert app.frame.host_findings and lst.items == worst_first(want)   # the host's own too
        await pilot.press("s")                                            # by guest
        await pilot.pause()
        assert [f.guest or "" for f in lst.items] == sorted(f.guest or "" for f in want)
        await pilot.press("S")
        await pilot.pause()
        assert [f.guest or "" for f in lst.items] == sorted((f.guest or "" for f in want), reverse=True)
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.screen_stack) == 1


async def test_enter_opens_the_fix_form_prefilled_from_the_params_and_it_applies(monkeypatch):
    def make(snap):
        g = next(g for g in snap.guests if g.running and g.name == "web-01")
        return {g.name: [Finding("test.memtune", "critical", g.name, "a test finding", "its evidence", "7.3.2",
                                 Fix("memtune", g.name, {"values": {"soft_limit_kib": 1048576}, "scope": "live"}))],
                None: [Finding("test.thp", "warning", None, "a host test finding", "", "7.3.3",
                               Fix("numa_balancing", "host", {"value": 1}))]}
    add_findings(monkeypatch, make)
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        f = next(x for x in app.frame.guest_findings("web-01") if x.code == "test.memtune")
        await open_finding(pilot, app, f)
        form = app.screen
        assert isinstance(form, ActionForm) and form.title_text.startswith("m  memtune web-01")
        assert form.query_one("#f-soft", Input).value == "1048576K"            # from the params
        assert form.query_one("#f-scope", Choice).value == "live"
        assert form.action == act.MemTune("web-01", soft=1048576, scope="live") and not form.problems
        await pilot.press("enter")
        await idle(pilot, app)
        assert app.status_text.startswith("applied: memtune web-01"), app.status_text
        from uikit import next_tick
        await next_tick(pilot, app)
        assert app.snap.guest("web-01").memtune.soft_limit_kib == 1048576
        # a kind with no key of its own: a form without fields, the rebuilt action, applied on Enter
        await pilot.press("A")
        await pilot.pause()
        lst = app.screen.query_one(FindingList)
        await pilot.press(*["down"] * [x.code for x in lst.items].index("test.thp"), "enter")
        await pilot.pause()
        assert isinstance(app.screen, ActionForm) and app.screen.action == act.NumaBalancing(1)
        assert "echo 1 > /proc/sys/kernel/numa_balancing" in str(app.screen.query_one("#command", Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)


async def test_a_fix_that_only_names_its_kind_opens_its_keys_form_with_the_current_values(monkeypatch):
    # (the advisor's own fixes all carry params: a test finding names only its kind)
    add_findings(monkeypatch, lambda snap: {"web-01": [Finding(
        "test.kind", "warning", "web-01", "a test finding", "its evidence", "7.3.2", Fix("memtune", "web-01"))]})
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        from kvmtune.ui.fixforms import KIND_FORMS
        from kvmtune.ui.keys import ACTION_KEYS
        f = next(x for x in app.frame.guest_findings("web-01") if x.code == "test.kind")
        assert f.fix is not None and f.fix.action in KIND_FORMS and not f.fix.params
        await open_finding(pilot, app, f)
        form = app.screen
        assert isinstance(form, ActionForm)
        values = form.values()
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")                       # back from the list to the table
        await pilot.pause()
        await pilot.press(ACTION_KEYS[KIND_FORMS[f.fix.action]])   # the key's own form
        await pilot.pause()
        assert isinstance(app.screen, ActionForm) and app.screen.values() == values


async def test_an_xml_fix_shows_the_snippet_and_the_virt_xml_line(monkeypatch):
    xml = "<cpu mode='host-passthrough'/>"
    argv = ("virt-xml", "web-02", "--edit", "--cpu", "host-passthrough", "--define")
    add_findings(monkeypatch, lambda snap: {"web-02": [Finding(
        "test.cpu", "warning", "web-02", "CPU model", "default model", "3.3.2",
        Fix(target="web-02", xml=xml, virt_xml=argv, note="takes effect at the next boot"))]})
    app = demo_app(read_only=True)      # (only text to copy: shown in read-only too)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        f = next(x for x in app.frame.guest_findings("web-02") if x.code == "test.cpu")
        await open_finding(pilot, app, f)
        assert isinstance(app.screen, XmlFixScreen)
        assert app.screen.query_one("#xmlfix-xml", TextArea).text == xml
        assert app.screen.query_one("#xmlfix-virtxml", TextArea).text == \
            "virt-xml web-02 --edit --cpu host-passthrough --define"
        assert "next boot" in str(app.screen.query_one("#xmlfix-note", Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.screen_stack) == 1


async def test_read_only_opens_no_form_and_says_why_and_the_list_still_shows(monkeypatch):
    add_findings(monkeypatch, lambda snap: {"web-01": [Finding(
        "test.numatune", "critical", "web-01", "a test finding", "", "8.4.1",
        Fix("numatune", "web-01", {"mode": None, "nodeset": "0", "scope": "config"}))]})
    app = demo_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        f = next(x for x in app.frame.guest_findings("web-01") if x.code == "test.numatune")
        await open_finding(pilot, app, f)
        assert len(app.screen_stack) == 1
        assert app.status_text.startswith("read-only: fixes are disabled")
        assert "virsh numatune web-01 --nodeset 0 --config" in app.status_text
        await pilot.press("escape", "A")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen) and app.screen.query_one(FindingList).items


async def test_mute_hides_it_from_the_bang_column_and_survives_a_restart(state_home):
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        name = max(app.frame.findings, key=lambda n: len(app.frame.guest_findings(n)))
        found = worst_first(app.frame.guest_findings(name))
        await select(pilot, app, name)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("exclamation_mark")                 # the first (worst) one
        await pilot.pause()
        assert app.status_text.startswith(f"muted {found[0].code} on {name}")
        rest = found[1:]
        assert app.rows[name]["warn"][0] == (cell(rest[0].severity, len(rest)) if rest else "")
        assert pane_list(app).items == found                   # still listed, dimmed
        assert "1 muted" in str(app.query_one("#pane-advice", Static).content)
    assert (state_home / "kvmtune" / "mutes.json").is_file()
    app = demo_app()                                           # a new view: the mute is kept
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert app.is_muted(found[0])
        assert app.rows[name]["warn"][0] == (cell(rest[0].severity, len(rest)) if rest else "")
        await select(pilot, app, name)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("exclamation_mark")                 # and unmuted again
        await pilot.pause()
        assert not app.is_muted(found[0]) and app.rows[name]["warn"][0] == cell(found[0].severity, len(found))


async def test_a_muted_host_finding_leaves_the_header(state_home):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        if not app.frame.host_findings:
            pytest.skip("the demo host has no host findings")
        f = app.frame.host_findings[0]
        assert f.title in str(app.query_one("#header", Static).content)
        await pilot.press("A")
        await pilot.pause()
        lst = app.screen.query_one(FindingList)
        await pilot.press(*["down"] * lst.items.index(f), "exclamation_mark", "escape")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="the main view")
        assert app.is_muted(f) and f.title not in str(app.query_one("#header", Static).content)


async def test_in_a_replay_the_list_shows_and_no_form_opens(tmp_path):
    from reckit import make_recording

    from kvmtune.record.replay import ReplayFeed
    from kvmtune.record.store import Recording
    from kvmtune.ui.app import KvmtuneApp
    path = tmp_path / "demo.kvmrec"
    make_recording(path, samples=6, action_at=None)
    app = KvmtuneApp(ReplayFeed(Recording(path)), None, interval=2.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app, ticks=1)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)
        lst = app.screen.query_one(FindingList)
        assert lst.items == worst_first(every(app.frame))
        i = next(i for i, f in enumerate(lst.items) if f.fix is not None and f.fix.action is not None)
        await pilot.press(*["down"] * i, "enter")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)                     # no form over it
        assert app.status_text.startswith("replay: fixes are disabled: this is a recording")


async def test_read_only_says_an_action_fix_bound_with_its_risks_for_advice():
    """Enter on KSM's merge_across_nodes finding in read-only: the status says the fix as apply
    would run it (run=2 first, the kernel refuses the change alone while pages are shared)
    and its risk."""
    app = demo_app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        f = next(x for x in app.frame.host_findings if x.fix is not None and x.fix.action == "ksm"
                 and "merge_across_nodes" in x.fix.params["values"])
        await pilot.press("A")
        await pilot.pause()
        lst = app.screen.query_one(FindingList)
        await pilot.press(*["down"] * lst.items.index(f))
        assert lst.current == f
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)                 # no form over it
        said = app.status_text
        assert said.startswith("read-only: fixes are disabled")
        assert ("(the fix: echo 2 > /sys/kernel/mm/ksm/run ; echo 0 > /sys/kernel/mm/ksm/merge_across_nodes ; "
                "echo 1 > /sys/kernel/mm/ksm/run)") in said
        assert "; risk: the kernel refuses merge_across_nodes" in said


async def test_muting_one_of_a_codes_findings_for_advice_leaves_the_others(state_home, monkeypatch):
    """Two findings of one code on one guest, about different devices: `!` on the second
    mutes that one only (the other stays in the `!` column) and the cursor stays on it."""
    add_findings(monkeypatch, lambda snap: {"db-primary": [
        Finding("test.unused", "info", "db-primary", "unused device", "sound ich9", "3.2.2", subject="sound"),
        Finding("test.unused", "info", "db-primary", "unused device", "tablet on USB", "3.2.2", subject="tablet/usb")]})
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        found = worst_first(app.frame.guest_findings("db-primary"))
        first, second = (x for x in found if x.code == "test.unused")
        await select(pilot, app, "db-primary")
        await pilot.press("enter")
        await pilot.pause()
        lst = pane_list(app)
        await pilot.press(*["down"] * lst.items.index(second))
        assert lst.current == second
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert app.status_text.startswith("muted test.unused on db-primary (tablet/usb)")
        assert app.is_muted(second) and not app.is_muted(first)
        # (db-primary, the clean guest, has only these two: the count is a digit, not "+")
        assert app.rows["db-primary"]["warn"][0] == cell(found[0].severity, len(found) - 1) == "i1"
        assert lst.current == second                      # the list redrew: the cursor kept its finding
        await pilot.press("exclamation_mark")             # so `!` again unmutes that one
        await pilot.pause()
        assert not app.is_muted(second) and not app.is_muted(first)
