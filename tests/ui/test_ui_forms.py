"""The action forms as an admin meets them (Pilot pressing the real keys on the demo host):
the throttle form works on the disk chosen, live/config/both is chosen and said, the CPU
picker shows other guests' pins, defaults are the current values, and z previews the undo."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, Static
from uikit import demo_app, idle, next_tick, ready, select, wait_for

from kvmtune import cpuset
from kvmtune.ui.forms import ActionForm, Choice, CpuPicker
from kvmtune.ui.screens import ConfirmScreen

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def value(app, name: str) -> str:
    return app.screen.query_one(f"#f-{name}").value


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def focus(pilot, app, name: str) -> None:
    app.screen.query_one(f"#f-{name}").focus()
    await pilot.pause()


async def settle(pilot, app) -> None:
    await wait_for(pilot, lambda: not app._busy, what="the action")
    await pilot.pause()


async def test_throttle_form_works_on_the_chosen_disk_and_asks_before_removing_its_limit():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "backup-01")
        hv = app.executor.source.hv
        await pilot.press("b")
        assert isinstance(app.screen, ActionForm)
        disk = app.screen.query_one("#f-disk", Choice)
        assert disk.choices == ("vda", "vdb") and value(app, "disk") == "vda"   # a list, not free text
        assert value(app, "total_bytes_sec") == "0"
        await focus(pilot, app, "disk")
        await pilot.press("right")                      # vdb: its own limits fill the fields
        assert value(app, "disk") == "vdb" and value(app, "total_bytes_sec") == str(50 * 1048576)
        assert "change a limit of vdb" in text(app, "#problems")   # unchanged: nothing to apply
        await pilot.press("left")
        assert value(app, "total_bytes_sec") == "0"
        await pilot.press("right")
        await focus(pilot, app, "total_bytes_sec")
        app.screen.query_one("#f-total_bytes_sec", Input).value = "0"
        await pilot.pause()
        assert "removes the existing limit(s) total_bytes_sec=52.4M/s of disk vdb" in text(app, "#risks")
        assert "virsh blkdeviotune backup-01 vdb --total-bytes-sec 0 --live" in text(app, "#command")
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        assert any("total_bytes_sec=52.4M/s of disk vdb" in r for r in app.screen.risks)
        await pilot.press("n")
        await settle(pilot, app)
        assert hv.block_iotune("backup-01", "vdb")["total_bytes_sec"] == 50 * 1048576   # nothing changed
        # the other disk's limit survives a change to vda
        await pilot.press("b")
        await focus(pilot, app, "read_iops_sec")
        app.screen.query_one("#f-read_iops_sec", Input).value = "200"
        await pilot.pause()
        assert text(app, "#risks") == ""
        await pilot.press("enter")
        await settle(pilot, app)
        assert "applied: blkdeviotune backup-01 (live)" in app.status_text
        assert hv.block_iotune("backup-01", "vda")["read_iops_sec"] == 200
        assert hv.block_iotune("backup-01", "vdb")["total_bytes_sec"] == 50 * 1048576


async def test_scope_is_chosen_in_the_form_and_said_in_the_status_line():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        sim = {g.name: g for g in app.executor.source.sim.guests}
        await select(pilot, app, "web-01")
        await pilot.press("m")
        scope = app.screen.query_one("#f-scope", Choice)
        assert scope.choices == ("live", "config", "live+config") and scope.value == "live"
        assert "apply to" in [str(x.content) for x in app.screen.query(Label)]
        app.screen.query_one("#f-hard", Input).value = "12G"
        await focus(pilot, app, "scope")
        await pilot.press("right")                       # config: the saved definition only
        assert "--config" in text(app, "#command")
        await pilot.press("enter")
        await settle(pilot, app)
        assert "applied: memtune web-01 (config)" in app.status_text, app.status_text
        assert sim["web-01"].config.memtune.hard_limit_kib == 12 * 1024 * 1024
        assert sim["web-01"].live.memtune.hard_limit_kib is None
        # a stopped guest: its definition can be tuned, and only that
        await select(pilot, app, "legacy-erp")
        await pilot.press("p")
        assert app.screen.query_one("#f-scope", Choice).choices == ("config",)
        app.screen.query_one("#f-cpus", Input).value = "4-7"
        await pilot.pause()
        assert "✓ valid" in text(app, "#problems")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert "applied: vcpupin legacy-erp (config)" in app.status_text, app.status_text
        assert sim["legacy-erp"].config.vcpu_pins == [(4, 5, 6, 7)] * 4


async def test_picker_marks_cpus_other_guests_have_pinned():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "backup-01")
        await pilot.press("p")
        picker = app.screen.query_one(CpuPicker)
        assert {8, 15, 16, 23} <= picker.taken and not picker.taken & {0, 1, 2, 3}
        legend = text(app, "#picker-taken")
        assert "db-primary 8-15" in legend and "build-runner 16-23" in legend
        drawn = str(picker.content)
        assert " 8p" in drawn and " 0·" in drawn
        app.screen.query_one("#f-cpus", Input).value = "8-9"
        await pilot.pause()
        assert " 8!" in str(picker.content)             # chosen and someone else's
        assert "pinned by other guests (db-primary on 8-9)" in text(app, "#risks")


async def test_form_defaults_are_the_current_values():
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "web-01")               # no numatune, weight unknown
        await pilot.press("n")
        assert value(app, "mode") == "keep" and "✓ valid" in text(app, "#problems")
        await pilot.press("escape", "w")
        assert value(app, "weight") == ""
        await pilot.press("escape", "m")
        app.screen.query_one("#f-hard", Input).value = "0"
        await pilot.pause()
        problems = text(app, "#problems")
        assert "hard_limit must be more than 0" in problems and "--" not in problems
        await pilot.press("escape", "h")
        pools = {n.id: n.hugepages[2048].total for n in app.snap.host.nodes}
        assert value(app, "count") == str(app.snap.host.hugepages[2048].total)
        await focus(pilot, app, "node")
        await pilot.press("right", "right")              # node 1
        assert value(app, "node") == "1" and value(app, "count") == str(pools[1])
        await pilot.press("escape", "K")
        label = next(x for x in app.screen.query(Label) if str(x.content) == "merge_across_nodes")
        assert label.size.width > len("merge_across_nodes")   # the value does not run into it


async def test_z_previews_the_undo_and_asks():
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        fs = app.executor.source.fs
        await pilot.press("k", "enter")                   # KSM off
        await settle(pilot, app)
        assert fs.read_int("sys/kernel/mm/ksm/run") == 0
        await idle(pilot, app)
        await next_tick(pilot, app)
        await pilot.press("z")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.title_text.startswith("undo #1: ksm host (applied ")
        assert "puts back run 0 -> 1" in app.screen.title_text
        assert app.screen.commands == [["echo", "1", ">", "/sys/kernel/mm/ksm/run"]]
        await pilot.press("n")
        await settle(pilot, app)
        assert fs.read_int("sys/kernel/mm/ksm/run") == 0 and "undo cancelled" in app.status_text
        await pilot.press("z")
        await settle(pilot, app)
        await pilot.press("y")
        await settle(pilot, app)
        assert app.status_text.startswith("undo: applied"), app.status_text
        assert fs.read_int("sys/kernel/mm/ksm/run") == 1


async def test_undo_of_a_move_says_what_stays_before_it_runs():
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        hv = app.executor.source.hv
        await select(pilot, app, "analytics")
        await pilot.press("M")
        app.screen.query_one("#f-nodes", Input).value = "2"
        await pilot.pause()
        assert "build-runner" in text(app, "#risks")     # its pinned CPUs and the 1.5:1 ratio
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot, app)
        assert "applied: move analytics (live)" in app.status_text, app.status_text
        await idle(pilot, app)
        await next_tick(pilot, app)
        await pilot.press("z")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        gap = " ".join(app.screen.risks)
        assert "stays bound to node(s) 2" in gap and "locality would fall to about 25%" in gap
        await pilot.press("y")
        await settle(pilot, app)
        assert app.status_text.startswith("undo: applied"), app.status_text
        assert hv.vcpu_affinity("analytics")[0] == tuple(range(64)) and hv.numatune("analytics").nodeset == "2"


async def test_help_scrolls_in_read_only_mode():
    from textual.containers import VerticalScroll

    from kvmtune.ui.screens import HelpScreen
    app = demo_app(read_only=True)
    async with app.run_test(size=(80, 12)) as pilot:       # shorter than the help
        await ready(pilot, app, ticks=1)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and not app.screen.disabled
        scroll = app.screen.query_one("#help", VerticalScroll)
        assert scroll.max_scroll_y > 0
        scroll.focus()
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 0


async def test_pin_form_one_cpu_each_shows_the_map_and_its_commands_then_applies_and_undoes():
    """The one-to-one helper (3.3.4): "one CPU each" puts vCPU i on the i-th CPU of the list (a
    node's free CPUs to start with), shows the whole map and the virsh lines before Enter, says
    clearly when there are too few CPUs, and z puts the old pins back."""
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        sim = {g.name: g for g in app.executor.source.sim.guests}
        hv = app.executor.source.hv
        before = hv.vcpu_affinity("web-01")
        await select(pilot, app, "web-01")              # 4 vCPUs, none pinned
        await pilot.press("p")
        await focus(pilot, app, "map")
        await pilot.press("right")
        assert value(app, "map") == "one CPU each, in order"
        start = value(app, "cpus")                      # the free CPUs of the node it fits best
        assert len(cpuset.parse(start)) >= 4 and "✓ valid" in text(app, "#problems"), text(app, "#problems")
        app.screen.query_one("#f-cpus", Input).value = "0-2"
        await pilot.pause()
        assert "one-to-one needs a CPU per vCPU: 4 vCPUs, 3 CPU(s) (0-2); pick 1 more" in text(app, "#problems")
        assert text(app, "#preview") == "" and text(app, "#command") == ""
        app.screen.query_one("#f-cpus", Input).value = "4-7"
        await pilot.pause()
        assert text(app, "#preview") == "vCPU→CPU  0→4  1→5  2→6  3→7"
        want = [f"[b]$ virsh vcpupin web-01 {i} {4 + i} --live[/]" for i in range(4)]
        assert text(app, "#command").splitlines() == want
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        if isinstance(app.screen, ConfirmScreen):       # (a risk the demo's other pins may raise)
            await pilot.press("y")
            await settle(pilot, app)
        assert "applied: vcpupin web-01 (live)" in app.status_text, app.status_text
        assert sim["web-01"].live.vcpu_pins == [(4,), (5,), (6,), (7,)]
        await idle(pilot, app)
        await next_tick(pilot, app)
        g = app.snap.guest("web-01")
        assert [v.affinity for v in g.vcpus] == [(4,), (5,), (6,), (7,)]
        await pilot.press("z")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        back = [["virsh", "vcpupin", "web-01", str(i), "0-63"] for i in range(4)]
        assert [c[:5] for c in app.screen.commands] == back
        await pilot.press("y")
        await settle(pilot, app)
        assert app.status_text.startswith("undo: applied"), app.status_text
        assert hv.vcpu_affinity("web-01") == before
