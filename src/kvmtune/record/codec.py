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
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import is_dataclass
from typing import Any

import orjson

from ..jsonfields import names
from ..model import SCHEMA, Snapshot


def plain(v: Any) -> Any:
    """The v1 JSON form of a model value (what `Snapshot.to_json` writes for it)."""
    t = type(v)
    if t is tuple or t is list:
        return [plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if is_dataclass(v) and not isinstance(v, type):
        return {f: plain(getattr(v, f)) for f in names(t)}
    return v


# The patch is written as JSON text while the objects are walked: no dict per changed object
# to build, encode and collect afterwards (a third of the cost, and garbage-collector work).
# Field names are identifiers and need no escaping; everything else goes through _whole.

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
        return _items(a, b)
    if hasattr(a, "__dataclass_fields__"):
        return (_PATCHERS.get(t) or _patcher(t))(a, b)
    return None if a == b else _whole(b)


# A patcher per dataclass, generated once: the per-tick hot loop (1000 guests, their vCPUs and
# disks) unrolled over the fields, each field's code chosen by its type hint (a counter, a
# tuple of dataclasses, a dataclass, a plain value compared in C): a third of the cost of a
# walk over each object's __dict__ with a call per field (measured; a closure over attrgetter
# tuples, or templates over flattened guests, cost more than they saved, and so did reading all
# the guests' vCPUs, disks and NICs a field at a time in C (attrgetter maps, zip, map(sub)): on
# live objects that cost half as much again as this code's specialised attribute reads). The hint
# only picks the fastest test first: a value of another type still takes the general path.
_PATCHERS: dict[type, Callable[[Any, Any], str | None]] = {}

def _emit(call: str, indent: int) -> str:
    """The lines that add a field's sub-patch `call` (when there is one) to the parts."""
    pad = " " * indent
    return f"{pad}p = {call}\n{pad}if p is not None:\n{pad}    parts.append('\"{{n}}\":' + p)\n"


_INT = """\
    x = a.{n}; y = b.{n}
    if x is not y:
        if type(x) is int and type(y) is int:
            if x != y:
                parts.append('"{n}":' + str(y - x))
        elif x != y:
""" + _emit("patch(x, y)", 12)
_SEQ = """\
    x = a.{n}; y = b.{n}
    if x is not y:
        if type(x) is tuple and type(y) is tuple and len(x) == len(y):
            sub = []
            for i in range(len(x)):
                xi = x[i]; yi = y[i]
                if xi is not yi:
                    p = (P.get(type(xi)) or patch)(xi, yi)
                    if p is not None:
                        sub.append('"%d":%s' % (i, p))
            if sub:
                parts.append('"{n}":{{' + ",".join(sub) + '}}')
        else:
""" + _emit("patch(x, y)", 12)
_ANY = """\
    x = a.{n}; y = b.{n}
    if x is not y:
""" + _emit("(P.get(type(x)) or patch)(x, y)", 8)
_PLAIN = """\
    x = a.{n}; y = b.{n}
    if x is not y and x != y:   # (text, a float, None, a tuple or map of numbers: compared in C)
""" + _emit("patch(x, y)", 8)


def _field_code(hint: Any) -> str:
    """The code for a field by its type hint: a counter, a tuple of dataclasses, a value that
    holds a dataclass (walked: a dataclass's == is Python code), or a plain value."""
    # (a union's members; a tuple's own args are its items' types, not alternatives)
    args = (set(typing.get_args(hint)) - {type(None)} if typing.get_origin(hint) in _UNIONS else set()) or {hint}
    if args == {int}:
        return _INT
    if any(typing.get_origin(a) is tuple and any(is_dataclass(t) for t in typing.get_args(a)) for a in args):
        return _SEQ
    if any(is_dataclass(a) or _holds_dataclass(a) for a in args):
        return _ANY
    return _PLAIN


_UNIONS = (typing.Union, types.UnionType)


def _holds_dataclass(hint: Any) -> bool:
    return any(is_dataclass(a) or _holds_dataclass(a) for a in typing.get_args(hint))


def _patcher(cls: type) -> Callable[[Any, Any], str | None]:
    """The patch between two instances of the dataclass `cls`. Field names are identifiers:
    safe to paste into code, and into JSON without quoting; nothing else goes into the code."""
    hints = typing.get_type_hints(cls)
    body = "".join(_field_code(hints[n]).format(n=n) for n in names(cls))
    code = (f"def patch_fields(a, b):\n    if type(b) is not cls:\n        return whole(b)\n"
            f"    parts = []\n{body}    return '{{' + ','.join(parts) + '}}' if parts else None\n")
    scope: dict[str, Any] = {"cls": cls, "whole": _whole, "patch": patch_text, "P": _PATCHERS}
    exec(code, scope)
    fn: Callable[[Any, Any], str | None] = scope["patch_fields"]
    _PATCHERS[cls] = fn
    return fn


def _whole(v: Any) -> str:
    return "[" + dump_json(plain(v)).decode() + "]"


def _items(a: dict[Any, Any], b: dict[Any, Any]) -> str | None:
    """The patch between two dicts with the same keys (maps keyed by a number or by text)."""
    parts = []
    for k, x in a.items():
        y = b[k]
        if x is y:
            continue
        p = (str(y - x) if x != y else None) if type(x) is int and type(y) is int else patch_text(x, y)
        if p is not None:
            parts.append(f'"{k}":{p}' if type(k) is int else f"{_key(k)}:{p}")
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
        p = None if x is y else (_PATCHERS.get(type(x)) or _patcher(type(x)))(x, y)
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
    """A key sample: the snapshot's v1 JSON without its guests, then a line per guest."""
    try:
        # orjson writes the model's dataclasses itself, field by field: the v1 document (as
        # `plain` holds, tests/unit/test_record_store.py), at a quarter of building it in Python
        head = {"schema": SCHEMA, "time": snap.time, "host": snap.host, "errors": snap.errors,
                "disconnected": snap.disconnected}
        return b"\n".join([orjson.dumps(head, option=_NATIVE),
                           *(orjson.dumps(g, option=_NATIVE) for g in snap.guests)])
    except TypeError:   # what orjson will not write (an integer past 64 bits): built in Python
        doc = snap.to_json()
        guests = doc.pop("guests")
        return b"\n".join([dump_json(doc), *(dump_json(g) for g in guests)])


_NATIVE = orjson.OPT_NON_STR_KEYS   # maps keyed by a number, as `plain` writes them: str(key)


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
