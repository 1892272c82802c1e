"""Applying a recording's patches (codec.py makes them) to the JSON documents they rebuild."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

HEAD = -1   # the head line's entry in a chain's shapes

# the shapes of a chain's lines read in full so far (by guest index, HEAD): each its patch and
# where its numbers go (the dict and key of each), for the `=` lines after it
Shapes = dict[int, tuple[Any, list[tuple[dict[str, Any], str]]]]

# orjson reads an integer past 64 bits as a float: text with a run of 19 digits is read by json
_BIG = re.compile(rb"\d{19}")


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
    nums = loads(b"[" + text[1:] + b"]")
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
            if t is int or t is float:
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
