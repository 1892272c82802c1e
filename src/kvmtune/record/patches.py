"""A patch line's shape (codec 2's `=` lines, written and read), and applying patches (codec.py
makes them) to the JSON documents they rebuild."""

from __future__ import annotations

import json
import re
from operator import itemgetter
from typing import Any

import orjson

HEAD = -1   # the head line's entry in a chain's shapes

# A patch's text is made with a NUL where each number goes (JSON text holds no raw control
# character: orjson escapes them) and the numbers in a list: the text is the line's shape.
HOLE = "\0"


def fill(shape: str, nums: list[str]) -> str:
    """The patch text: the shape's holes filled with the numbers, in order."""
    return shape.replace("%", "%%").replace(HOLE, "%s") % tuple(nums) if nums else shape


def shaped_line(shapes: dict[int, str] | None, i: int, shape: str, nums: list[str], lead: str, fresh: bool) -> str:
    """A line of a patch (codec.encode_patch): `=` and its values where the guest's shape so
    far holds them, else in full (its shape kept in `shapes`); every line in full when fresh."""
    if shapes is None or shape == HOLE:
        return lead + fill(shape, nums)
    old = shapes.get(i)
    if old == shape:
        return lead + (fill(shape, nums) if fresh else "=" + ",".join(nums))
    if old is not None:
        # values the shape kept that did not change this tick (a vCPU that stayed on its CPU)
        # are null; values it lacks widen it, in a line in full: most lines keep a shape
        # (without this, half the lines of a 100-guest demo patch were in full)
        into = _into(old, shape)
        if into is not None:
            blank, null, order = into
            if fresh:
                return lead + fill(old, (null % _ordered(nums, order)).split("\0"))
            vals = _ordered(nums, order)
            line = blank % vals
            # (left empty in a line of numbers: null where a value is text, see line_patch)
            return lead + "=" + (null.replace("\0", ",") % vals if '"' in line else line)
        mine, kept = _paths(shape), _paths(old)
        wide = _union(kept, mine)
        if wide is not None:
            at = dict.fromkeys(_paths(wide), "null")
            at.update(zip(mine, nums))
            shape, nums = wide, list(at.values())
    shapes[i] = shape
    return lead + fill(shape, nums)


def _union(kept: dict[tuple[str, ...], int], mine: dict[tuple[str, ...], int]) -> str | None:
    """The shape holding both shapes' values; None when one's value is the other's object."""
    tree: dict[str, Any] = {}
    for path in (*kept, *mine):
        node = tree
        for k in path[:-1]:
            node = node.setdefault(k, {})
            if type(node) is not dict:
                return None
        if type(node.setdefault(path[-1], None)) is dict:
            return None
    return _shape_text(tree)


def _shape_text(tree: dict[str, Any]) -> str:
    return "{" + ",".join(f"{orjson.dumps(k).decode()}:{HOLE if v is None else _shape_text(v)}"
                          for k, v in tree.items()) + "}"


# a shape's values put in a wider one's places: the line's format with the others left empty,
# and with them null (a line with text); None when the shape is not within the wider one
# (the null one separated by NULs, which no value holds, to be split in a line in full), and
# the order the values go in (None: as they come)
_INTO: dict[tuple[str, str], tuple[str, str, itemgetter[int] | None] | None] = {}


def _into(wide: str, shape: str) -> tuple[str, str, itemgetter[int] | None] | None:
    key = (wide, shape)
    if key in _INTO:
        return _INTO[key]
    if len(_INTO) > 8192:
        _INTO.clear()
    mine, kept = _paths(shape), _paths(wide)
    got = None
    if mine.keys() <= kept.keys():
        places = [kept[p] for p in mine]
        at = dict.fromkeys(places, "%s")
        order = sorted(range(len(places)), key=places.__getitem__)
        got = ("".join(f",{at.get(n, '')}" for n in range(len(kept)))[1:],
               "\0".join(at.get(n, "null") for n in range(len(kept))),
               None if order == sorted(order) else itemgetter(*order, *order[:1]))
    _INTO[key] = got
    return got


def _ordered(nums: list[str], order: itemgetter[int] | None) -> tuple[str, ...]:
    return tuple(nums) if order is None else order(nums)[:-1]


_PATHS: dict[str, dict[tuple[str, ...], int]] = {}   # a shape's values: where each is, by its place


def _paths(shape: str) -> dict[tuple[str, ...], int]:
    p = _PATHS.get(shape)
    if p is None:
        if len(_PATHS) > 8192:
            _PATHS.clear()
        found: list[tuple[str, ...]] = []
        _walk(orjson.loads(shape.replace(HOLE, "0")), (), found)
        p = _PATHS[shape] = {path: n for n, path in enumerate(found)}
    return p


def _walk(v: dict[str, Any], path: tuple[str, ...], out: list[tuple[str, ...]]) -> None:
    for k, x in v.items():
        if type(x) is dict:
            _walk(x, (*path, k), out)
        else:
            out.append((*path, k))


# the shapes of a chain's lines read in full so far (by guest index, HEAD): each its patch and
# where its numbers go (the dict and key of each), for the `=` lines after it
Shapes = dict[int, tuple[Any, list[tuple[dict[str, Any], str]]]]

# orjson reads an integer past 64 bits as a float: text with a run of 19 digits is read by json
_BIG = re.compile(rb"\d{19}")


# where a line of numbers leaves a value out: at its start or after a comma, before a comma or
# its end (outside JSON text, which such a line does not have, ",," is no JSON)
_EMPTY = re.compile(rb"(?:^|(?<=,))(?=,|$)")


def loads(text: bytes) -> Any:
    return json.loads(text) if _BIG.search(text) else orjson.loads(text)


def line_patch(shapes: Shapes, i: int, text: bytes) -> Any:
    """A line's patch: read in full (its shape kept for the `=` lines after it), or the shape
    of the last one in full with this line's numbers put in (the shape is reused: `apply`
    keeps no part of a patch but its replacement values, where no number is put)."""
    if text[:1] != b"=":
        patch = loads(text)
        slots: list[tuple[dict[str, Any], str]] = []
        _slots(patch, slots)
        shapes[i] = (patch, slots)
        return patch
    known = shapes.get(i)
    if known is None:
        raise ValueError(f"a line of numbers for {'the head' if i == HEAD else f'guest {i}'} with no shape before it")
    patch, slots = known
    body = text[1:]
    if b'"' not in body:   # no text: a value left out (empty) is null, unchanged
        body = _EMPTY.sub(b"null", body)
    nums = loads(b"[" + body + b"]") if slots else []
    if type(nums) is not list or len(nums) != len(slots):
        raise ValueError(f"a line of numbers that does not fit its shape ({len(slots)} numbers)")
    for (d, k), n in zip(slots, nums):
        d[k] = n
    return patch


def _slots(patch: Any, out: list[tuple[dict[str, Any], str]]) -> None:
    """Where a patch's numbers are, in the order they are written (a list is a replacement)."""
    if type(patch) is dict:
        for k, v in patch.items():
            t = type(v)
            if t is int or t is float or t is list or v is None:
                out.append((patch, k))
            elif t is dict:
                _slots(v, out)


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
    if tp is float:
        if type(doc) is not float:
            raise ValueError("a float patch on a value that is not a float")
        return round(doc + patch, 2)
    if tp is not dict:
        raise ValueError(f"not a patch: {tp.__name__}")
    if type(doc) is dict:
        return _apply_dict(doc, patch)
    if type(doc) is list:
        items = list(doc)
        for k, p in patch.items():
            if p is None:
                continue
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
        if p is None:   # a value of a line of numbers left as it was (codec 2)
            continue
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
