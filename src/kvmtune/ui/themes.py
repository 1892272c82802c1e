"""kvmtune's colour themes: the TOML files in ui/themes/, shipped with the package, and
the emphasis that stands in for colour under NO_COLOR."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.color import Color
from textual.filter import LineFilter
from textual.theme import Theme

DEFAULT = "kvmtune-dark"
EMPHASIS = Style(bold=True)                 # NO_COLOR: warnings and highlights
ALARM = Style(bold=True, reverse=True)      # NO_COLOR: errors
_KEYS = ("primary", "secondary", "accent", "warning", "error", "success",
         "foreground", "background", "surface", "panel")


def load_themes() -> list[Theme]:
    """Every shipped theme, the default first."""
    out = []
    for f in sorted(resources.files(__package__).joinpath("themes").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".toml"):
            continue
        d = tomllib.loads(f.read_text(encoding="utf-8"))
        out.append(Theme(name=d["name"], dark=bool(d.get("dark", True)),
                         **{k: d[k] for k in _KEYS if k in d}))
    out.sort(key=lambda t: t.name != DEFAULT)
    return out


def resolve(name: str | None, names: list[str]) -> str | None:
    """A theme name as typed ("light" or "kvmtune-light"); None if there is no such theme."""
    if not name:
        return DEFAULT
    for cand in (name, f"kvmtune-{name}"):
        if cand in names:
            return cand
    return None


class NoColorEmphasis(LineFilter):
    """With NO_COLOR, Textual paints each colour as its grey, and the theme's warning and
    error colours come out dimmer than normal text. This line filter runs before that one
    and gives what the theme paints in them weight instead: bold for warnings and the
    accent (highlights), bold reverse for errors — every widget, pane and form alike."""

    def __init__(self, app: App[Any]) -> None:
        super().__init__()
        self.app = app
        self._theme: str | None = None
        self._extra: dict[tuple[int, int, int], Style] = {}

    def _emphasis(self) -> dict[tuple[int, int, int], Style]:
        if self.app.theme != self._theme:    # `t` changes the colours to look for
            v = self.app.theme_variables
            self._extra = {}
            for name, extra in (("accent", EMPHASIS), ("warning", EMPHASIS), ("error", ALARM)):
                if name in v:
                    self._extra[Color.parse(v[name]).rgb] = extra
            self._theme = self.app.theme
        return self._extra

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        extra = self._emphasis()
        out = []
        for seg in segments:
            style = seg.style
            rgb = style.color.triplet if style is not None and style.color is not None else None
            add = extra.get(rgb) if rgb is not None else None
            out.append(seg if add is None or style is None else
                       Segment(seg.text, style + add, seg.control))
        return out
