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
  x (a float)    a float that went up by x: round(old + x, 2) (only where that is new exactly)
  {key: patch}   a dict, object or list whose entries `key` changed (lists: the index as text)
An absent patch (None) means unchanged.

Codec 2: a line whose patch has the shape of the last one written in full for the same guest
(or the head) in this chain, the same keys with only the numbers different (a counter's
patch changes its digits every tick, rarely which counters changed), is written as `=` and
its numbers (`=12,7,0.5`): zstd then sees digits side by side instead of a key between each
two (the keys' matches were a third of a 100-guest patch's compressed size, measured).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import is_dataclass
from typing import Any

import orjson

from ..jsonfields import names
from ..model import SCHEMA, Snapshot
from .patches import HEAD, HOLE, Shapes, apply, fill, line_patch, shaped_line
from .patches import loads as _loads


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
    nums: list[str] = []
    p = _patch(a, b, nums)
    return None if p is None else fill(p, nums)


def _patch(a: Any, b: Any, nums: list[str]) -> str | None:
    if a is b:
        return None
    t = type(a)
    if t is not type(b):
        return _hole(b, nums)
    if t is int:
        if a == b:
            return None
        nums.append(str(b - a))
        return HOLE
    if t is tuple:
        if len(a) != len(b):
            return _hole(b, nums)
        if not a:
            return None
        if not hasattr(a[0], "__dataclass_fields__"):
            if a == b:
                return None
            # floats (load averages): by item, as deltas, so the line keeps its shape
            steps = [_step(x, y) if type(x) is float and type(y) is float else None for x, y in zip(a, b)]
            if None in steps:
                return _hole(b, nums)
            nums += map(repr, steps)
            return "{" + ",".join(f'"{i}":{HOLE}' for i in range(len(a))) + "}"
        parts = []
        for i in range(len(a)):   # dataclass elements: walked, not compared first (that costs twice)
            p = _patch(a[i], b[i], nums)
            if p is not None:
                parts.append(f'"{i}":{p}')
        return "{" + ",".join(parts) + "}" if parts else None
    if t is dict:
        if a == b:
            return None
        if a.keys() != b.keys():
            return _hole(b, nums)
        return _items(a, b, nums)
    if hasattr(a, "__dataclass_fields__"):
        return (_PATCHERS.get(t) or _patcher(t))(a, b, nums)
    return None if a == b else _hole(b, nums)


# A patcher per dataclass, generated once: the per-tick hot loop (1000 guests, their vCPUs and
# disks) unrolled over the fields, each field's code chosen by its type hint (a counter, a
# tuple of dataclasses, a dataclass, a plain value compared in C): a third of the cost of a
# walk over each object's __dict__ with a call per field (measured; a closure over attrgetter
# tuples, or templates over flattened guests, cost more than they saved, and so did reading all
# the guests' vCPUs, disks and NICs a field at a time in C (attrgetter maps, zip, map(sub)): on
# live objects that cost half as much again as this code's specialised attribute reads). The hint
# only picks the fastest test first: a value of another type still takes the general path.
_PATCHERS: dict[type, Callable[[Any, Any, list[str]], str | None]] = {}

def _emit(call: str, indent: int) -> str:
    """The lines that add a field's sub-patch `call` (when there is one) to the parts."""
    pad = " " * indent
    return f"{pad}p = {call}\n{pad}if p is not None:\n{pad}    parts.append('\"{{n}}\":' + p)\n"


_INT = """\
    x = a.{n}; y = b.{n}
    if x is not y:
        if type(x) is int and type(y) is int:
            if x != y:
                parts.append('"{n}":\\0'); nums.append(str(y - x))
        elif x != y:
""" + _emit("patch(x, y, nums)", 12)
_FLOAT = """\
    x = a.{n}; y = b.{n}
    if x is not y and x != y:
        if type(x) is float and type(y) is float and (d := step(x, y)) is not None:
            parts.append('"{n}":\\0'); nums.append(repr(d))
        else:
""" + _emit("patch(x, y, nums)", 12)
_SEQ = """\
    x = a.{n}; y = b.{n}
    if x is not y:
        if type(x) is tuple and type(y) is tuple and len(x) == len(y):
            sub = []
            for i in range(len(x)):
                xi = x[i]; yi = y[i]
                if xi is not yi:
                    p = (P.get(type(xi)) or patch)(xi, yi, nums)
                    if p is not None:
                        sub.append('"%d":%s' % (i, p))
            if sub:
                parts.append('"{n}":{{' + ",".join(sub) + '}}')
        else:
""" + _emit("patch(x, y, nums)", 12)
_ANY = """\
    x = a.{n}; y = b.{n}
    if x is not y:
""" + _emit("(P.get(type(x)) or patch)(x, y, nums)", 8)
_PLAIN = """\
    x = a.{n}; y = b.{n}
    if x is not y and x != y:   # (text, a float, None, a tuple or map of numbers: compared in C)
""" + _emit("patch(x, y, nums)", 8)


def _field_code(hint: Any) -> str:
    """The code for a field by its type hint: a counter, a tuple of dataclasses, a value that
    holds a dataclass (walked: a dataclass's == is Python code), or a plain value."""
    # (a union's members; a tuple's own args are its items' types, not alternatives)
    args = (set(typing.get_args(hint)) - {type(None)} if typing.get_origin(hint) in _UNIONS else set()) or {hint}
    if args == {int}:
        return _INT
    if args == {float}:
        return _FLOAT
    if any(typing.get_origin(a) is tuple and any(is_dataclass(t) for t in typing.get_args(a)) for a in args):
        return _SEQ
    if any(is_dataclass(a) or _holds_dataclass(a) for a in args):
        return _ANY
    return _PLAIN


_UNIONS = (typing.Union, types.UnionType)


def _holds_dataclass(hint: Any) -> bool:
    return any(is_dataclass(a) or _holds_dataclass(a) for a in typing.get_args(hint))


def _patcher(cls: type) -> Callable[[Any, Any, list[str]], str | None]:
    """The patch between two instances of the dataclass `cls`. Field names are identifiers:
    safe to paste into code, and into JSON without quoting; nothing else goes into the code."""
    hints = typing.get_type_hints(cls)
    body = "".join(_field_code(hints[n]).format(n=n) for n in names(cls))
    code = (f"def patch_fields(a, b, nums):\n    if type(b) is not cls:\n        return whole(b, nums)\n"
            f"    parts = []\n{body}    return '{{' + ','.join(parts) + '}}' if parts else None\n")
    scope: dict[str, Any] = {"cls": cls, "whole": _hole, "patch": _patch, "P": _PATCHERS, "step": _step}
    exec(code, scope)
    fn: Callable[[Any, Any, list[str]], str | None] = scope["patch_fields"]
    _PATCHERS[cls] = fn
    return fn


def _step(x: float, y: float) -> float | None:
    """What a float went up by, in hundredths (CPU seconds from the kernel's ticks, times,
    load averages carry no more), where `apply`'s round(x + d, 2) gives back y exactly; None
    where it does not (d - d: not inf or nan)."""
    d = round(y - x, 2)
    return d if d - d == 0.0 and round(x + d, 2) == y else None


def _hole(v: Any, nums: list[str]) -> str:
    """A replacement ([v]): one of the line's values, as a number is (the shape holds no value)."""
    nums.append(_whole(v))
    return HOLE


def _whole(v: Any) -> str:
    return "[" + dump_json(plain(v)).decode() + "]"


def _items(a: dict[Any, Any], b: dict[Any, Any], nums: list[str]) -> str | None:
    """The patch between two dicts with the same keys (maps keyed by a number or by text)."""
    parts = []
    for k, x in a.items():
        y = b[k]
        if x is y:
            continue
        p = _patch(x, y, nums)
        if p is not None:
            parts.append(f'"{k}":{p}' if type(k) is int else f"{_key(k)}:{p}")
    return "{" + ",".join(parts) + "}" if parts else None


def _key(k: Any) -> str:
    return dump_json(str(k)).decode()


def encode_patch(a: Snapshot, b: Snapshot, shapes: dict[int, str] | None = None,
                 fresh: bool = False) -> bytes | None:
    """The sample that rebuilds b from a: a line for its time, host and errors, then one per
    guest that changed (its index, a space, its patch); None when b must be stored whole (its
    guests are not a's, in the same order: a new chain starts there). `shapes`: the shapes of
    the lines written in full so far in this chain (by guest index, HEAD), for `=` lines
    (codec 2); updated with this sample's (the caller keeps them once the sample is stored).
    fresh: the first patch of a chain: every line in full, in the shapes of the chain before
    (a reader starts at the key), so they need not widen again."""
    if len(a.guests) != len(b.guests) or any(x.name != y.name for x, y in zip(a.guests, b.guests)):
        return None
    nums: list[str] = []
    head = []
    if a.time != b.time:
        d = _step(a.time, b.time) if type(a.time) is float and type(b.time) is float else None
        head.append('"time":' + (_hole(b.time, nums) if d is None else HOLE))
        if d is not None:
            nums.append(repr(d))
    for key in ("host", "errors", "disconnected"):
        p = _patch(getattr(a, key), getattr(b, key), nums)
        if p is not None:
            head.append(f'"{key}":{p}')
    lines = [shaped_line(shapes, HEAD, "{" + ",".join(head) + "}", nums, "", fresh)]
    for i, (x, y) in enumerate(zip(a.guests, b.guests)):
        if x is y:
            continue
        nums = []
        p = (_PATCHERS.get(type(x)) or _patcher(type(x)))(x, y, nums)
        if p is not None:
            lines.append(shaped_line(shapes, i, p, nums, f"{i} ", fresh))
    return "\n".join(lines).encode()


# -- a sample's bytes: one JSON line for the snapshot without its guests, then one per guest,
# so a reader after one guest parses only that guest's line (`kvmtune dump --guest`) --

# orjson: several times json's speed both ways (a key sample of 1000 guests, a replay's
# reads). json for what orjson cannot do exactly: it refuses to write an integer past 64
# bits and reads one as a float, so text with a run of 19 digits is read by json.
_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


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


# (the document without "guests", each guest's or None: not read, the shapes)
Parts = tuple[dict[str, Any], list[str], Shapes]


def decode_key(data: bytes, want: Collection[str] | None = None, cpus: bool = True) -> Parts:
    """A key sample's parts; with `want`, only those guests are parsed (the others are None);
    cpus=False: without the host's per-CPU times (a reader of guests: see decode_patch)."""
    lines = data.split(b"\n")
    head = _object_of(_loads(lines[0]))
    if not cpus and type(head.get("host")) is dict:
        head["host"] = {**head["host"], "cpus": []}
    if want is None:
        return head, [_loads(line) for line in lines[1:]], {}
    # the name as either encoder writes it (json escapes what is not ASCII, orjson does not)
    needles = [b'"name":' + e for n in want for e in {_json(n).encode(), dump_json(n)}]
    guests: list[Any] = []
    for line in lines[1:]:
        g = _loads(line) if any(n in line for n in needles) else None
        guests.append(g if isinstance(g, dict) and g.get("name") in want else None)
    return head, guests, {}


def decode_patch(parts: Parts, data: bytes, cpus: bool = True) -> Parts:
    """The parts after a patch sample (`parts` are not changed); guests not read stay unread.
    cpus=False: the host's per-CPU times are left out (parts from decode_key(cpus=False)):
    on a big host, applying them was most of a one-guest read."""
    head, guests, shapes = parts
    guests, shapes = list(guests), dict(shapes)
    if any(g is None for g in guests):
        # one guest's read: its line is found, the others' are not even split (JSON text
        # holds no raw newline, so "\n17 " starts guest 17's line and nothing else)
        end = data.find(b"\n")
        head = _object_of(apply(head, _head_patch(line_patch(shapes, HEAD, data if end < 0 else data[:end]), cpus)))
        for i, g in enumerate(guests):
            if g is not None:
                at = data.find(b"\n%d " % i)
                if at >= 0:
                    stop = data.find(b"\n", at + 1)
                    text = data[data.index(b" ", at) + 1:None if stop < 0 else stop]
                    guests[i] = apply(g, line_patch(shapes, i, text))
        return head, guests, shapes
    lines = data.split(b"\n")
    head = _object_of(apply(head, _head_patch(line_patch(shapes, HEAD, lines[0]), cpus)))
    for line in lines[1:]:
        index, _, text = line.partition(b" ")
        i = int(index) if index.isdigit() else -1
        if not 0 <= i < len(guests):
            raise ValueError(f"a patch for guest {index[:20]!r}, which the sample does not have")
        guests[i] = apply(guests[i], line_patch(shapes, i, text))
    return head, guests, shapes


def _head_patch(patch: Any, cpus: bool) -> Any:
    if cpus or type(patch) is not dict:
        return patch
    host = patch.get("host")
    if type(host) is dict and "cpus" in host:
        return {**patch, "host": {k: v for k, v in host.items() if k != "cpus"}}
    return patch


def document(parts: Parts) -> dict[str, Any]:
    head, guests, _shapes = parts
    return {**head, "guests": [g for g in guests if g is not None]}


def _object_of(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError("a sample that is not a JSON object")
    return v
