"""Themes: shipped as package data, loadable, selectable by short name."""

from __future__ import annotations

import pytest
from uikit import demo_app, ready

from kvmtune.ui.themes import DEFAULT, load_themes, resolve


def test_three_themes_ship_and_default_first():
    themes = load_themes()
    names = [t.name for t in themes]
    assert names[0] == DEFAULT
    assert {"kvmtune-dark", "kvmtune-light", "kvmtune-high-contrast"} <= set(names)
    light = next(t for t in themes if t.name == "kvmtune-light")
    assert light.dark is False and light.background and light.primary


def test_resolve_short_and_full_names():
    names = [t.name for t in load_themes()]
    assert resolve("light", names) == "kvmtune-light"
    assert resolve("kvmtune-high-contrast", names) == "kvmtune-high-contrast"
    assert resolve(None, names) == DEFAULT
    assert resolve("nope", names) is None


@pytest.mark.asyncio
async def test_theme_option_and_unknown_theme_is_one_line():
    app = demo_app(theme="high-contrast")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app, ticks=1)
        assert app.theme == "kvmtune-high-contrast"
    app = demo_app(theme="neon")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app, ticks=1)
        assert app.theme == DEFAULT
        assert "no theme 'neon'" in app.status_text


@pytest.mark.asyncio
async def test_the_tables_colours_follow_the_theme_at_once():
    """`t`: the table's warning and error cells take the new theme's colours on the switch,
    not at the next poll (the table had repainted before the new theme's variables were in)."""
    from kvmtune.ui.table import GuestTable
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        t = app.query_one(GuestTable)
        before_colours = None
        for _ in range(2):
            before = app.theme
            await pilot.press("t")
            await pilot.pause()
            await pilot.pause()
            assert app.theme != before
            v = app.theme_variables
            assert dict(t.colours) == {"warning": v["warning"], "error": v["error"], "muted": v["text-muted"]}
            want = {app.console.get_style(v[k]).color for k in ("warning", "error")}
            painted = {seg.style.color for y in range(t.size.height) for seg in t.render_line(y)
                       if seg.style is not None}
            assert want & painted, (want, painted)
            old = {app.console.get_style(before_colours[k]).color
                   for k in ("warning", "error") if before_colours} - want
            assert not old & painted
            before_colours = dict(t.colours)
