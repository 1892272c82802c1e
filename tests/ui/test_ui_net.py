"""The Network pane (9) and the table's network columns at 80x24 and wider, on the demo host;
and the Block pane's latency, flushes and every disk's limits."""

from __future__ import annotations

import pytest
from textual.widgets import Static, TabbedContent
from uikit import demo_app, next_tick, ready, select

from kvmtune import fmt
from kvmtune.rates import net_key
from kvmtune.ui.keys import PANES
from kvmtune.ui.table import GuestTable

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]
NET = str([k for k, _ in PANES].index("net") + 1)


def _pane(app, key: str) -> str:
    return str(app.query_one(f"#pane-{key}", Static).content)


async def test_net_pane_shows_every_interface_of_the_guest_at_80x24():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "dns-01")
        await pilot.press(NET)
        assert app.query_one(TabbedContent).active == "tab-net"
        text = _pane(app, "net")
        g = app.snap.guest("dns-01")
        tap, _user = g.nics
        r = app.frame.rates["dns-01"].nics[net_key(tap, 0)]
        lines = text.splitlines()
        head = next(ln for ln in lines if ln.startswith(f"[b]{tap.target}[/]"))
        assert "virtio" in head and "vhost on" in head and "1 queue" in head
        rx = next(ln for ln in lines if ln.lstrip().startswith("rx"))
        assert fmt.fmt_rate(r.rx_bytes_s).removesuffix("/s") in rx and fmt.fmt_bytes(tap.rx_bytes) in rx
        # the user-mode NIC: what is known, and why there are no counters
        assert any("no counters: user-mode networking" in ln for ln in lines)
        await select(pilot, app, "web-01")          # e1000: vhost off, said why
        assert "vhost off (e1000: emulated)" in _pane(app, "net")
        await select(pilot, app, "legacy-erp")      # shut off
        assert "no counters: not running" in _pane(app, "net")


async def test_the_table_shows_net_per_second_at_80_and_rx_tx_when_wide():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        t = app.query_one(GuestTable)
        keys = [str(c.value) for c in t.columns]
        assert "net" in keys and "rx" not in keys and "tx" not in keys
        r = app.frame.rates["backup-01"]
        want = fmt.fmt_rate_short(r.net_total("rx_bytes_s") + r.net_total("tx_bytes_s"))
        assert t.get_cell("backup-01", "net") == want
        assert t.get_cell("legacy-erp", "net") == "-"
        # 80 columns: every column fits and the names keep 12 characters (build-runner)
        assert sum(c.width + 2 for c in t.columns.values()) <= 80 - 2
        assert t.columns["name"].width == len("build-runner")
        await pilot.resize_terminal(160, 40)
        await next_tick(pilot, app)
        r = app.frame.rates["backup-01"]
        keys = [str(c.value) for c in app.query_one(GuestTable).columns]
        assert "rx" in keys and "tx" in keys and "net" not in keys
        assert t.get_cell("backup-01", "rx") == fmt.fmt_rate(r.net_total("rx_bytes_s")).removesuffix("/s")


async def test_sorting_by_net_puts_the_busiest_first():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        app.sort_key, app.sort_reverse = "net", True
        await pilot.pause()
        rates = app.frame.rates
        busiest = max((g.name for g in app.snap.guests if g.running),
                      key=lambda n: rates[n].net_total("rx_bytes_s") + rates[n].net_total("tx_bytes_s"))
        assert app.query_one(GuestTable).selected is not None
        assert app.query_one(GuestTable)._order[0] == busiest


async def test_block_pane_lists_every_disks_limits_first_with_latency_and_flushes():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await select(pilot, app, "backup-01")
        await pilot.press("5")
        lines = _pane(app, "block").splitlines()
        assert lines[1].startswith("[b]vda[/] limits") and "none" in lines[1]
        assert lines[2].startswith("[b]vdb[/] limits total_bytes/s=52.4M/s") and "at limit" in lines[2]
        r = app.frame.rates["backup-01"].disks["vdb"]
        write = [ln for ln in lines if ln.startswith("  write")][1]
        assert f"{r.wr_ms:.1f} ms" in write
        flush = [ln for ln in lines if ln.startswith("  flush")][1]
        assert f"{r.fl_ms:.1f} ms" in flush and "errors -" in flush
