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
import re
from collections.abc import Collection, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

import orjson

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


# The patch is written as JSON text while the objects are walked: no dict per changed object
# to build, encode and collect afterwards (a third of the cost, and garbage-collector work).
# Field names are identifiers and need no escaping; everything else goes through _encode.

def patch_text(a: Any, b: Any) -> str | None:
    """The patch from a to b (model values) as JSON text, or None when they are equal."""
    if a is b:
        return None
    t = type(a)
    if t is not type(b):
        return _whole(b)
    if t is int:
        return None if a == b else str(b - a)
    if t is tuple:
        if len(a) != len(b):
            return _whole(b)
        if not a:
            return None
        if not hasattr(a[0], "__dataclass_fields__"):
            return None if a == b else _whole(b)
        parts = []
        for i in range(len(a)):   # dataclass elements: walked, not compared first (that costs twice)
            p = patch_text(a[i], b[i])
            if p is not None:
                parts.append(f'"{i}":{p}')
        return "{" + ",".join(parts) + "}" if parts else None
    if t is dict:
        if a == b:
            return None
        if a.keys() != b.keys():
            return _whole(b)
        return _items(a, b, False)
    if hasattr(a, "__dataclass_fields__"):
        # (the model's dataclasses have no slots: their fields are their __dict__)
        return _items(a.__dict__, b.__dict__, True) if type(b) is t else _whole(b)
    return None if a == b else _whole(b)


def _whole(v: Any) -> str:
    return "[" + dump_json(plain(v)).decode() + "]"


def _items(a: dict[Any, Any], b: dict[Any, Any], names: bool) -> str | None:
    """The patch between two dicts with the same keys (`names`: a dataclass's fields, whose
    keys need no quoting): the per-tick hot loop, so the common cases (unchanged, a
    counter, a scalar) are tested here without a call."""
    parts = []
    for k, x in a.items():
        y = b[k]
        if x is y:
            continue
        tx = type(x)
        if tx is int and type(y) is int:
            if x != y:
                parts.append(f'"{k}":{y - x}' if names or type(k) is int else f"{_key(k)}:{y - x}")
            continue
        p = patch_text(x, y)
        if p is not None:
            parts.append(f'"{k}":{p}' if names or type(k) is int else f"{_key(k)}:{p}")
    return "{" + ",".join(parts) + "}" if parts else None


def _key(k: Any) -> str:
    return dump_json(str(k)).decode()


def encode_patch(a: Snapshot, b: Snapshot) -> bytes | None:
    """The sample that rebuilds b from a: a line for its time, host and errors, then one per
    guest that changed (its index, a space, its patch); None when b must be stored whole (its
    guests are not a's, in the same order: a new chain starts there)."""
    if len(a.guests) != len(b.guests) or any(x.name != y.name for x, y in zip(a.guests, b.guests)):
        return None
    head = []
    if a.time != b.time:
        head.append('"time":' + _whole(b.time))
    for key in ("host", "errors", "disconnected"):
        p = patch_text(getattr(a, key), getattr(b, key))
        if p is not None:
            head.append(f'"{key}":{p}')
    lines = ["{" + ",".join(head) + "}"]
    for i, (x, y) in enumerate(zip(a.guests, b.guests)):
        p = None if x is y else _items(x.__dict__, y.__dict__, True)
        if p is not None:
            lines.append(f"{i} {p}")
    return "\n".join(lines).encode()


# -- a sample's bytes: one JSON line for the snapshot without its guests, then one per guest,
# so a reader after one guest parses only that guest's line (`kvmtune dump --guest`) --

# orjson: several times json's speed both ways (a key sample of 1000 guests, a replay's
# reads). json for what orjson cannot do exactly: it refuses to write an integer past 64
# bits and reads one as a float, so text with a run of 19 digits is read by json.
_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_BIG = re.compile(rb"\d{19}")


def _loads(text: bytes) -> Any:
    return json.loads(text) if _BIG.search(text) else orjson.loads(text)


def dump_json(v: Any) -> bytes:
    """v as compact JSON: orjson's, json's for an integer past 64 bits (which orjson refuses)."""
    try:
        return orjson.dumps(v)
    except TypeError:
        return _json(v).encode()


def encode_key(snap: Snapshot) -> bytes:
    doc = snap.to_json()
    guests = doc.pop("guests")
    return b"\n".join([dump_json(doc), *(dump_json(g) for g in guests)])


Parts = tuple[dict[str, Any], list[Any]]   # (the document without "guests", each guest's or None: not read)


def decode_key(data: bytes, want: Collection[str] | None = None, cpus: bool = True) -> Parts:
    """A key sample's parts; with `want`, only those guests are parsed (the others are None);
    cpus=False: without the host's per-CPU times (a reader of guests: see decode_patch)."""
    lines = data.split(b"\n")
    head = _object_of(_loads(lines[0]))
    if not cpus and type(head.get("host")) is dict:
        head["host"] = {**head["host"], "cpus": []}
    if want is None:
        return head, [_loads(line) for line in lines[1:]]
    # the name as either encoder writes it (json escapes what is not ASCII, orjson does not)
    needles = [b'"name":' + e for n in want for e in {_json(n).encode(), dump_json(n)}]
    guests: list[Any] = []
    for line in lines[1:]:
        g = _loads(line) if any(n in line for n in needles) else None
        guests.append(g if isinstance(g, dict) and g.get("name") in want else None)
    return head, guests


def decode_patch(parts: Parts, data: bytes, cpus: bool = True) -> Parts:
    """The parts after a patch sample (`parts` are not changed); guests not read stay unread.
    cpus=False: the host's per-CPU times are left out (parts from decode_key(cpus=False)):
    on a big host, applying them was most of a one-guest read."""
    head, guests = parts
    guests = list(guests)
    if any(g is None for g in guests):
        # one guest's read: its line is found, the others' are not even split (JSON text
        # holds no raw newline, so "\n17 " starts guest 17's line and nothing else)
        end = data.find(b"\n")
        head = _object_of(apply(head, _head_patch(_loads(data if end < 0 else data[:end]), cpus)))
        for i, g in enumerate(guests):
            if g is not None:
                at = data.find(b"\n%d " % i)
                if at >= 0:
                    stop = data.find(b"\n", at + 1)
                    guests[i] = apply(g, _loads(data[data.index(b" ", at) + 1:None if stop < 0 else stop]))
        return head, guests
    lines = data.split(b"\n")
    head = _object_of(apply(head, _head_patch(_loads(lines[0]), cpus)))
    for line in lines[1:]:
        index, _, text = line.partition(b" ")
        i = int(index) if index.isdigit() else -1
        if not 0 <= i < len(guests):
            raise ValueError(f"a patch for guest {index[:20]!r}, which the sample does not have")
        guests[i] = apply(guests[i], _loads(text))
    return head, guests


def _head_patch(patch: Any, cpus: bool) -> Any:
    if cpus or type(patch) is not dict:
        return patch
    host = patch.get("host")
    if type(host) is dict and "cpus" in host:
        return {**patch, "host": {k: v for k, v in host.items() if k != "cpus"}}
    return patch


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
        return _apply_dict(doc, patch)
    if type(doc) is list:
        items = list(doc)
        for k, p in patch.items():
            i = int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else -1
            if not 0 <= i < len(items):
                raise ValueError(f"a patch for the missing list item {k!r}")
            item = items[i]
            # a list of objects (host CPUs, vCPUs, disks) patched item by item: one call less each
            items[i] = _apply_dict(item, p) if type(item) is dict and type(p) is dict else apply(item, p)
        return items
    raise ValueError(f"a patch for a {type(doc).__name__}")


def _apply_dict(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
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
