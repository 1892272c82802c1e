"""Dataclasses to and from JSON dicts field by field: the v1 contract's helpers (model.py, xmlfacts.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

NAMES_OF: dict[type, tuple[str, ...]] = {}


def names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, in order (cached: `dataclasses.fields` is slow for a hot loop)."""
    got = NAMES_OF.get(cls)
    if got is None:
        got = NAMES_OF[cls] = tuple(f.name for f in fields(cls))
    return got


def plain(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict of its fields (values must already be JSON-ready)."""
    # (the model's dataclasses have no slots: their fields are their __dict__, in order)
    d = obj.__dict__
    return {n: d[n] for n in NAMES_OF.get(type(obj)) or names(type(obj))}


FIELDS_OF: dict[type, frozenset[str]] = {}


def known(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `d` that are fields of `cls` (a newer writer's extra keys are dropped)."""
    names = FIELDS_OF.get(cls)
    if names is None:
        names = FIELDS_OF[cls] = frozenset(f.name for f in fields(cls))
    return dict(d) if names.issuperset(d) else {k: v for k, v in d.items() if k in names}


def opt_list(v: Any) -> list[Any] | None:
    return None if v is None else list(v)


def opt_tuple(v: Any) -> tuple[Any, ...] | None:
    return None if v is None else tuple(v)
