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

import json
from collections.abc import Collection, Mapping
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
        if not a:
            return None
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


def snapshot_patch(a: Snapshot, b: Snapshot) -> tuple[dict[str, Any], dict[int, Any]] | None:
    """The patch from snapshot a to b: (the patch of its time, host and errors, the patch of
    each guest that changed, by index), or None when b must be stored whole (its guests are
    not a's, in the same order: a new chain starts there)."""
    if len(a.guests) != len(b.guests) or any(x.name != y.name for x, y in zip(a.guests, b.guests)):
        return None
    head: dict[str, Any] = {}
    if a.time != b.time:
        head["time"] = [b.time]
    for key in ("host", "errors", "disconnected"):
        p = diff(getattr(a, key), getattr(b, key))
        if p is not None:
            head[key] = p
    guests = {}
    for i, (x, y) in enumerate(zip(a.guests, b.guests)):
        p = None if x is y else _items(x.__dict__, y.__dict__)
        if p is not None:
            guests[i] = p
    return head, guests


# -- a sample's bytes: one JSON line for the snapshot without its guests, then one per guest,
# so a reader after one guest parses only that guest's line (`kvmtune dump --guest`) --

# one encoder for every line: json.dumps() with options builds a new one per call
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def encode_key(snap: Snapshot) -> bytes:
    doc = snap.to_json()
    guests = doc.pop("guests")
    return b"\n".join([_encode(doc).encode(), *(_encode(g).encode() for g in guests)])


def encode_patch(patch: tuple[dict[str, Any], dict[int, Any]]) -> bytes:
    head, guests = patch
    return b"\n".join([_encode(head).encode(), *(b"%d %s" % (i, _encode(p).encode()) for i, p in guests.items())])


Parts = tuple[dict[str, Any], list[Any]]   # (the document without "guests", each guest's or None: not read)


def decode_key(data: bytes, want: Collection[str] | None = None) -> Parts:
    """A key sample's parts; with `want`, only those guests are parsed (the others are None)."""
    lines = data.split(b"\n")
    head = _object_of(json.loads(lines[0]))
    if want is None:
        return head, [json.loads(line) for line in lines[1:]]
    needles = [b'"name":' + _encode(n).encode() for n in want]
    guests: list[Any] = []
    for line in lines[1:]:
        g = json.loads(line) if any(n in line for n in needles) else None
        guests.append(g if isinstance(g, dict) and g.get("name") in want else None)
    return head, guests


def decode_patch(parts: Parts, data: bytes) -> Parts:
    """The parts after a patch sample (`parts` are not changed); guests not read stay unread."""
    lines = data.split(b"\n")
    head, guests = parts
    head = _object_of(apply(head, json.loads(lines[0])))
    guests = list(guests)
    if any(g is None for g in guests):   # one guest's read: skip the others' lines unparsed
        wanted = {b"%d" % i: i for i, g in enumerate(guests) if g is not None}
        for line in lines[1:]:
            at = line.find(b" ")
            i = wanted.get(line[:at], -1) if at > 0 else -1
            if i >= 0:
                guests[i] = apply(guests[i], json.loads(line[at + 1:]))
        return head, guests
    for line in lines[1:]:
        index, _, text = line.partition(b" ")
        i = int(index) if index.isdigit() else -1
        if not 0 <= i < len(guests):
            raise ValueError(f"a patch for guest {index[:20]!r}, which the sample does not have")
        guests[i] = apply(guests[i], json.loads(text))
    return head, guests


def document(parts: Parts) -> dict[str, Any]:
    head, guests = parts
    return {**head, "guests": [g for g in guests if g is not None]}


def _object_of(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError("a sample that is not a JSON object")
    return v


def apply(doc: Any, patch: Any) -> Any:
    """The JSON document `doc` with `patch` applied (doc itself is not changed).

    ValueError when the patch does not fit the document (a damaged recording)."""
    tp = type(patch)
    if tp is list:
        if len(patch) != 1:
            raise ValueError("a replacement patch holds one value")
        return patch[0]
    if tp is int:
        if type(doc) is not int:
            raise ValueError("a counter patch on a value that is not a whole number")
        return doc + patch
    if tp is not dict:
        raise ValueError(f"not a patch: {tp.__name__}")
    if type(doc) is dict:
        out = dict(doc)
        for k, p in patch.items():
            if k not in out:
                raise ValueError(f"a patch for the missing key {k!r}")
            # the common cases inline: a replay applies thousands of these per sample
            if type(p) is list and len(p) == 1:
                out[k] = p[0]
            elif type(p) is int and type(out[k]) is int:
                out[k] += p
            else:
                out[k] = apply(out[k], p)
        return out
    if type(doc) is list:
        items = list(doc)
        for k, p in patch.items():
            i = int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else -1
            if not 0 <= i < len(items):
                raise ValueError(f"a patch for the missing list item {k!r}")
            items[i] = apply(items[i], p)
        return items
    raise ValueError(f"a patch for a {type(doc).__name__}")
