"""Dataclasses to and from JSON dicts field by field: the v1 contract's helpers (model.py, xmlfacts.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def plain(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict of its fields (values must already be JSON-ready)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


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
