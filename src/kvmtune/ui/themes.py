"""kvmtune's colour themes: the TOML files in ui/themes/, shipped with the package."""

from __future__ import annotations

import tomllib
from importlib import resources

from textual.theme import Theme

DEFAULT = "kvmtune-dark"
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
