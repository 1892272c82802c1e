"""With NO_COLOR, warnings and errors keep their emphasis as bold / reverse.

Textual honours NO_COLOR by painting every colour as its grey, so warning (amber) and
error (red) text came out dimmer than normal text. The test reads what the widgets
really paint (their rendered segments, after Textual's filters).
"""

from __future__ import annotations

import pytest
from textual.geometry import Region
from uikit import demo_app, ready

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def painted(widget) -> list:
    """Every segment the widget paints now, line by line."""
    return [seg for strip in widget.render_lines(Region(0, 0, *widget.size)) for seg in strip]


def find(segments, text: str) -> list:
    hits = [s for s in segments if text in s.text]
    assert hits, f"{text!r} is not on the screen"
    return hits


def emphasised(segments) -> bool:
    return all(s.style is not None and (s.style.bold or s.style.reverse) for s in segments)


async def test_warnings_and_errors_stand_out_without_colour(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert app.no_color
        header = painted(app.query_one("#header"))
        assert emphasised(find(header, "KSM merges across nodes"))           # a finding ($warning)
        table = app.query_one("#guests")
        painted_cells = painted(table)

        def cell(guest: str, column: str) -> list:
            """The segments of one table cell (DataTable tags them with row and column)."""
            where = {"row": table._order.index(guest), "column": [c.key for c in table._cols].index(column)}
            segs = [s for s in painted_cells if s.style is not None and s.style.meta
                    and {k: s.style.meta.get(k) for k in where} == where and s.text.strip()]
            assert segs, f"no cell {guest}/{column} on the screen"
            return segs

        assert table.selected == "analytics"          # (the cursor's row is bold anyway: skip it)
        assert app.rows["build-runner"]["local"][2] == "error"                # 40 %
        assert emphasised(cell("build-runner", "local"))
        assert app.rows["backup-01"]["warn"][2] in ("error", "warning")       # its worst finding and count
        assert emphasised(cell("backup-01", "warn"))
        # plain figures stay plain: emphasis is not everywhere
        assert not emphasised(cell("backup-01", "mem"))
        assert not emphasised(cell("build-runner", "name"))
        await pilot.press("p")                                                # read-only: a warning
        status = painted(app.query_one("#status"))
        assert emphasised(find(status, "read-only"))


async def test_with_colour_warnings_are_coloured_not_bold():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert not app.no_color
        seg = find(painted(app.query_one("#header")), "KSM merges across nodes")[0]
        assert not seg.style.bold and seg.style.color is not None
        assert seg.style.color.triplet.hex.lower() == app.theme_variables["warning"].lower()
