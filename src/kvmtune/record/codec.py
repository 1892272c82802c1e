"""Snapshots as a key document and the patches that follow it.

A recording stores a chunk as its first snapshot's v1 JSON (`Snapshot.to_json`) and, for
each later snapshot, a patch from the one before. Patches are made from the model objects,
not from their JSON, so a sample costs what changed (counters, mostly), not the whole host:
building the full JSON of 1000 guests takes a third of a tick. `apply` works on the JSON
document, so a reader rebuilds the exact v1 document and reads it with `Snapshot.from_json`
like any other (an older kvmtune reads what it knows of a newer one's).

A patch is JSON:
  [v]            the new value is v (the v1 JSON of the object)
  n (an int)     an int that went up by n (counters: a small number instead of a long one)
  {key: patch}   a dict, object or list whose entries `key` changed (lists: the index as text)
An absent patch (None) means unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from ..model import Snapshot

_FIELDS: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


def plain(v: Any) -> Any:
    """The v1 JSON form of a model value (what `Snapshot.to_json` writes for it)."""
    t = type(v)
    if t is tuple or t is list:
        return [plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if is_dataclass(v) and not isinstance(v, type):
        return {f: plain(getattr(v, f)) for f in _names(t)}
    return v


def diff(a: Any, b: Any) -> Any:
    """The patch from a to b (model values), or None when they are equal."""
    if a is b:
        return None
    t = type(a)
    if t is not type(b):
        return [plain(b)]
    if t is int:
        return None if a == b else b - a
    if t is tuple:
        if len(a) != len(b):
            return [plain(b)]
        if not hasattr(a[0], "__dataclass_fields__"):
            return None if a == b else [plain(b)]
        out = {}
        for i in range(len(a)):   # dataclass elements: walked, not compared first (that costs twice)
            p = diff(a[i], b[i])
            if p is not None:
                out[str(i)] = p
        return out or None
    if t is dict:
        if a == b:
            return None
        if a.keys() != b.keys():
            return [plain(b)]
        return _items(a, b)
    if hasattr(a, "__dataclass_fields__"):
        # (the model's dataclasses have no slots: their fields are their __dict__)
        return _items(a.__dict__, b.__dict__) if type(b) is t else [plain(b)]
    return None if a == b else [plain(b)]


def _items(a: dict[Any, Any], b: dict[Any, Any]) -> dict[str, Any] | None:
    """The patch between two dicts with the same keys: the per-tick hot loop, so the
    common cases (unchanged, a counter, a scalar) are tested here without a call."""
    out: dict[str, Any] = {}
    for k, x in a.items():
        y = b[k]
        if x is y:
            continue
        tx = type(x)
        if tx is type(y) and (tx is int or tx is str or tx is float or tx is bool):
            if x != y:
                out[str(k)] = y - x if tx is int else [y]
            continue
        p = diff(x, y)
        if p is not None:
            out[str(k)] = p
    return out or None


def snapshot_patch(a: Snapshot, b: Snapshot) -> dict[str, Any] | None:
    """The patch from snapshot a to b, or None when b must be stored whole (its guests are
    not a's, in the same order: a new chunk starts there)."""
    if len(a.guests) != len(b.guests) or any(x.name != y.name for x, y in zip(a.guests, b.guests)):
        return None
    out: dict[str, Any] = {}
    if a.time != b.time:
        out["time"] = [b.time]
    for key in ("host", "errors", "disconnected"):
        p = diff(getattr(a, key), getattr(b, key))
        if p is not None:
            out[key] = p
    guests = {}
    for i, (x, y) in enumerate(zip(a.guests, b.guests)):
        p = None if x is y else _items(x.__dict__, y.__dict__)
        if p is not None:
            guests[str(i)] = p
    if guests:
        out["guests"] = guests
    return out


def apply(doc: Any, patch: Any) -> Any:
    """The JSON document `doc` with `patch` applied (doc itself is not changed).

    ValueError when the patch does not fit the document (a damaged recording)."""
    if isinstance(patch, list):
        if len(patch) != 1:
            raise ValueError("a replacement patch holds one value")
        return patch[0]
    if isinstance(patch, bool) or not isinstance(patch, (int, dict)):
        raise ValueError(f"not a patch: {type(patch).__name__}")
    if isinstance(patch, int):
        if isinstance(doc, bool) or not isinstance(doc, int):
            raise ValueError("a counter patch on a value that is not a whole number")
        return doc + patch
    if isinstance(doc, dict):
        out = dict(doc)
        for k, p in patch.items():
            if k not in out:
                raise ValueError(f"a patch for the missing key {k!r}")
            out[k] = apply(out[k], p)
        return out
    if isinstance(doc, list):
        items = list(doc)
        for k, p in patch.items():
            i = int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else -1
            if not 0 <= i < len(items):
                raise ValueError(f"a patch for the missing list item {k!r}")
            items[i] = apply(items[i], p)
        return items
    raise ValueError(f"a patch for a {type(doc).__name__}")
