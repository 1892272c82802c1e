"""Sorting the guest table: `s` the next column, `S` reverse, and htop's "Sort by" list (`>`,
`<`, F6) to pick a column directly. A column sorts first in its own order (table.Column:
numbers biggest / busiest / worst on top), and the header marks it ▼ or ▲. Mixed into KvmtuneApp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from .table import BY_KEY, COLUMNS, SORT_KEYS, SORT_MARK


def direction(descending: bool) -> str:
    return f"{SORT_MARK[descending]} {'descending' if descending else 'ascending'}"


def short(text: str, width: int = 56) -> str:
    """A column's help to its first parenthesis, cut to fit one line of the picker."""
    text = text.split(" (")[0]
    return text if len(text) <= width else text[:width - 1] + "…"


class SortPicker(ModalScreen[str | None]):
    """The columns, the sorted one marked and highlighted; Enter picks, Esc leaves it."""

    BINDINGS = [Binding("escape", "close", "Cancel"), Binding("q", "close", "Cancel", show=False)]

    def __init__(self, current: str, descending: bool) -> None:
        super().__init__()
        self.current, self.descending = current, descending

    def compose(self) -> ComposeResult:
        def entry(key: str, label: str, text: str) -> Option:
            mark = SORT_MARK[self.descending] if key == self.current else " "
            return Option(f"{mark} {label:<6} {text}", id=key)
        with Vertical(id="sort-box"):
            yield Label("[b]Sort by[/]  [$text-muted]Enter picks (the sorted column: reverses) · Esc[/]")
            yield OptionList(*[entry(c.key, c.label, short(c.help)) for c in COLUMNS], id="sort-list")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = SORT_KEYS.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


class Sorting:
    """The sort keys and the status line they leave. Needs a KvmtuneApp."""

    sort_key: Any       # KvmtuneApp's reactives
    sort_reverse: Any
    set_status: Callable[..., None]
    push_screen: Callable[..., Any]
    _render_table: Callable[[], None]

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sort by column `key`, in its own first order unless told."""
        self.sort_reverse = BY_KEY[key].descending if descending is None else descending
        self.sort_key = key

    def watch_sort_key(self) -> None:
        self._sorted()

    def watch_sort_reverse(self) -> None:
        self._sorted()

    def _sorted(self) -> None:
        self.set_status(f"sorted by {BY_KEY[self.sort_key].label} {direction(self.sort_reverse)}")
        self._render_table()

    def action_sort(self, step: int) -> None:
        i = SORT_KEYS.index(self.sort_key)
        self.sort_by(SORT_KEYS[(i + step) % len(SORT_KEYS)])

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse

    def action_sort_menu(self) -> None:
        self.push_screen(SortPicker(self.sort_key, self.sort_reverse), self._picked)

    def _picked(self, key: str | None) -> None:
        if key is None:
            return
        if key == self.sort_key:
            self.action_reverse()
        else:
            self.sort_by(key)


__all__ = ["SortPicker", "Sorting", "direction"]
