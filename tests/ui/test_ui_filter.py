"""Keys typed right after `/` go to the filter, however fast they come.

A fast typist's keys reach the app together: the terminal's input thread posts them one
after the other, before the app has handled the first. `Pilot.press` waits for the app to
be idle after every key, so it never shows that; `burst` posts the keys the way the input
thread does (all queued, then the app runs), which is how `/` then `zx` within 0.1 s ran
an undo.
"""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input
from uikit import demo_app, ready

from kvmtune.ui.table import GuestTable

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


async def burst(pilot, *keys: str) -> None:
    """Queue every key at once, as the driver's input thread delivers fast typing."""
    app = pilot.app
    for key in keys:
        char = {"slash": "/", "enter": "\r", "escape": "\x1b"}.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


def _filter(app) -> Input:
    return app.query_one("#filter", Input)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "live"])
async def test_keys_right_after_slash_go_to_the_filter_and_do_nothing_else(dry_run):
    app = demo_app(dry_run=dry_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        theme, sort_key = app.theme, app.sort_key
        entries = len(app.executor.entries())
        for combo in ("zq", "zx", "t", "q", "zt"):
            await burst(pilot, "slash", *combo)
            assert _filter(app).value == combo, (combo, _filter(app).value)
            assert app.name_filter == combo
            assert app.focused is _filter(app)
            # nothing else happened: no undo, no quit, no new theme, no form or other screen
            assert app.return_code is None, f"{combo!r} quit the app"
            assert app.theme == theme, f"{combo!r} switched the theme"
            assert "undo" not in app.status_text, app.status_text
            assert len(app.screen_stack) == 1 and not app._busy
            assert len(app.executor.entries()) == entries
            assert app.sort_key == sort_key
            await burst(pilot, "escape")
            assert _filter(app).value == "" and app.focused is app.query_one(GuestTable)


async def test_enter_and_escape_hand_the_next_keys_back_to_the_table():
    app = demo_app(dry_run=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await burst(pilot, "slash", "w", "e", "b", "enter", "s")
        # the filter kept "web" (no weight form from `w`), and `s` after Enter sorted the table
        assert app.name_filter == "web" and _filter(app).value == "web"
        assert app.sort_key == "state" and len(app.screen_stack) == 1
        assert app.focused is app.query_one(GuestTable)
        assert _filter(app).has_class("open"), "an active filter stays in sight after Enter"
        await burst(pilot, "slash", "escape", "s")
        # Esc cleared the filter at once: the `s` after it sorted, it was not typed into it
        assert app.name_filter == "" and _filter(app).value == ""
        assert not _filter(app).has_class("open")
        assert app.sort_key == "vcpus"
        await burst(pilot, "slash", "a", "slash", "b")
        assert _filter(app).value == "a/b"           # once the filter is open, '/' is typed


async def test_a_filter_with_no_match_says_so_and_clearing_it_keeps_the_selection():
    app = demo_app(dry_run=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await burst(pilot, "slash", "d", "b", "enter", "down")
        chosen = app.query_one(GuestTable).selected
        assert chosen is not None and "db" in chosen
        await burst(pilot, "slash", "escape")
        assert app.query_one(GuestTable).selected == chosen   # every guest back, the same one selected
        await burst(pilot, "slash", "z", "q", "x")
        assert app.query_one(GuestTable).row_count == 0
        assert "no guest name contains 'zqx'" in app.status_text
