"""The name filter's keys: `/` opens it, Enter keeps it (in sight: it hides rows), Esc clears
it. Mixed into KvmtuneApp."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input


class Filtering:
    """Needs a KvmtuneApp."""

    focused: Any
    query_one: Any
    screen: Any
    focus_pane: Any

    def _filter_focused(self) -> bool:
        # the focus itself, not `has_focus`: that reactive follows a Focus message, later
        f = self.focused
        return f is not None and f.id == "filter"

    def _close_filter(self) -> None:
        f = self.query_one("#filter", Input)
        # an active filter stays in sight (it hides rows); an empty one goes
        f.set_class(bool(f.value.strip()), "open")
        self.focus_pane()   # now: the next keys are the table's (zoomed: the pane's, to scroll it)

    def action_filter(self) -> None:
        f = self.query_one("#filter", Input)
        f.add_class("open")
        # now, not Widget.focus(): that only queues the change behind the keys typed right
        # after '/', which would then reach the table and the app's bindings (z, q, t...)
        self.screen.set_focus(f)

    def action_filter_done(self) -> None:
        self._close_filter()

    def action_filter_clear(self) -> None:
        self.query_one("#filter", Input).value = ""
        self._close_filter()
