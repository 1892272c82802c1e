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
