"""The command palette's (Ctrl+P) own entries: every key's action by what it does (the help's
words, helptext.py), a sort by each column, each detail pane. What a key cannot do here
(an action in --read-only or a replay, time travel outside one) is not offered."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding

from .helptext import HELP_TEXT, help_id, key_name
from .keys import ACTION_KEYS
from .sorting import direction, short
from .table import COLUMNS

# keys typed inside the filter or the go-to field, and quit (Textual's own "Quit" is there)
SKIP = {"quit", "interrupt", "filter_done", "filter_clear", "goto_done", "goto_cancel"}


def commands(app: Any) -> Iterator[SystemCommand]:
    """The palette entries for the main screen of `app` (a KvmtuneApp)."""
    bindings = [b for b in app.BINDINGS if isinstance(b, Binding)]
    keys: dict[str, list[str]] = {}   # help entry -> its keys, in binding order
    first: dict[str, Binding] = {}
    for b in bindings:
        hid = help_id(b, bindings)
        if hid is None or hid in SKIP:
            continue
        keys.setdefault(hid, []).append(key_name(b))
        first.setdefault(hid, b)
    for hid, b in first.items():
        off = (hid in ACTION_KEYS and not app.can_act) or not app.replay_check(b.action.split("(")[0])
        if off or (hid == "record" and app.replay is not None):
            continue
        what = HELP_TEXT[hid]
        yield SystemCommand(f"{what[0].upper()}{what[1:]} ({' '.join(keys[hid])})", f"key {keys[hid][0]}",
                            partial(app.run_action, b.action))
    for c in COLUMNS:
        yield SystemCommand(f"Sort by {c.label}: {short(c.help)}", f"the guest table, {direction(c.descending)}",
                            partial(app.sort_by, c.key))
