"""The detail pane as a viewport: which text it shows, keyboard scrolling with a line that
says what is above and below, the zoom key (the pane on the full screen), and a second pane
beside it on wide terminals. Mixed into KvmtuneApp.

At 80x24 a pane has about five lines, so every pane puts its most important lines first
(panes.py) and the rest is one key away: the table keeps the focus (↑ ↓ select guests), so
the pane scrolls on keys of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Static

from ..frame import Frame
from ..model import Guest
from . import panes
from .blockpane import block_pane
from .livetext import LiveText
from .netpane import net_pane
from .perfpane import perf_pane

SIDE_FROM = 160   # terminal columns from which a second pane shows beside the selected one
# the scroll keys as the "more" line names them (keys.PANE_BINDINGS binds them)
SCROLL_HINT = "⇧↓ ⇧↑ / ^d ^u scroll · f full screen"

# pane key -> its text from (frame, guest, width); perf and advice are the app's (they need its state)
PANE_TEXT: dict[str, Callable[[Frame, Guest, int], str]] = {
    "numa": panes.numa_pane,
    "vcpu": panes.vcpu_pane,
    "huge": lambda f, g, w: panes.huge_pane(f, g),
    "ksm": lambda f, g, w: panes.ksm_pane(f, g),
    "block": block_pane,
    "settings": lambda f, g, w: panes.settings_pane(g, w),
    "net": net_pane,
}
TITLES = dict(panes.PANES)
KEYS = [k for k, _ in panes.PANES]


def more_text(above: int, below: int, zoomed: bool = False) -> str:
    """The line under a pane that does not fit: how much is out of sight and how to get it."""
    parts = ([f"↑ {above} line{'' if above == 1 else 's'} above"] if above else []) + \
            ([f"↓ {below} more line{'' if below == 1 else 's'}"] if below else [])
    keys = "↑ ↓ PgUp PgDn Home End scroll · f or Esc back" if zoomed else SCROLL_HINT
    return "  ".join(parts) + f"  [$text-muted]{keys}[/]"


def out_of_sight(w: Widget) -> tuple[int, int]:
    """Lines above and below the viewport of a scrolling widget."""
    y = round(w.scroll_y)
    return y, max(0, round(w.max_scroll_y) - y)


class TellsScroll:
    """Mixed into a pane's scrolling widget: tells the app when what is out of sight may
    have changed (scrolled, resized), so the line under the pane follows. (Not a Widget:
    Textual merges a widget class's CSS and component classes along the bases.)"""

    app: Any

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)  # type: ignore[misc]
        self._tell()

    def on_resize(self) -> None:
        # (the terminal's size too: the app's own Resize does not reach it after a resize)
        self._tell(getattr(self.app, "pane_resized", None))

    def _tell(self, what: Callable[[], None] | None = None) -> None:
        if (show := what or getattr(self.app, "show_more", None)) is not None:
            self.app.call_after_refresh(show)


class PaneScroll(TellsScroll, VerticalScroll):
    """A detail pane's viewport."""


class PaneView:
    """Needs a KvmtuneApp."""

    frame: Frame | None
    pane_index: int
    name_filter: str
    size: Any
    screen: Any
    screen_stack: list[Any]
    query_one: Callable[..., Any]
    selected_guest: Callable[[], Guest | None]
    fill_advice: Callable[[Guest | None], None]
    advice_text: Callable[[Frame, Guest], str]
    perf_enabled: Callable[[], bool | None]
    call_after_refresh: Callable[..., Any]
    relayout: Callable[[], None]
    pending: int                                       # guests whose settings are not read yet (app.py)

    zoomed = False
    _pane_for: tuple[str, str | None] | None = None   # (pane, guest) shown: another one starts at the top
    _laid_out_for: Any = None                          # the terminal size last drawn for

    # -- what shows ------------------------------------------------------------------------
    @property
    def side_by_side(self) -> bool:
        return bool(self.size.width >= SIDE_FROM)

    def side_key(self) -> str:
        """The pane beside the selected one: NUMA memory, or beside it the vCPUs (where the
        memory is and where the vCPUs run are read together)."""
        return "vcpu" if KEYS[self.pane_index] == "numa" else "numa"

    def pane_text(self, key: str, f: Frame, g: Guest | None, width: int) -> str:
        if g is None:
            if not f.snap.guests:
                return "[$text-muted]no guests on this host[/]"
            return "[$text-muted]" + ("no guest matches the filter" if self.name_filter
                                      else "no guest selected") + "[/]"
        if key == "perf":
            text = perf_pane(f, g, width, self.perf_enabled())
        elif key == "advice":
            text = self.advice_text(f, g)
        else:
            text = PANE_TEXT[key](f, g, width)
        if g.settings_pending:
            return (f"[$text-muted]reading its settings from libvirt (pins, numatune, memtune, disks; "
                    f"{self.pending} guests to go): "
                    f"they show in a moment[/]\n" + text)
        return text

    def _render_pane(self) -> None:
        """Only the visible panes are rendered: the others wait until shown."""
        f, g = self.frame, self.selected_guest()
        if f is None:
            return
        key = KEYS[self.pane_index]
        side = self.side_by_side
        self.query_one("#side").display = side
        width = self.size.width // 2 if side else self.size.width
        if key == "advice":
            self.fill_advice(g)
        self.query_one(f"#pane-{key}", LiveText).show(self.pane_text(key, f, g, width))
        if side:
            other = self.side_key()
            self.query_one("#side-title", LiveText).show(
                f"[b]{KEYS.index(other) + 1} {TITLES[other]}[/]  [$text-muted]beside it[/]")
            self.query_one("#pane-side", LiveText).show(self.pane_text(other, f, g, width))
        shown = (key, None if g is None else g.name)
        if shown != self._pane_for:
            self._pane_for = shown
            self.pane_scroller().scroll_home(animate=False, immediate=True)
        self.call_after_refresh(self.show_more)

    def pane_resized(self) -> None:
        """A pane changed size: two panes or one for the new width, and the line under it."""
        if self.size != self._laid_out_for:
            self._laid_out_for = self.size
            self.relayout()   # the header, the table's columns, one pane or two
        self.show_more()

    def pane_scroller(self) -> Widget:
        key = KEYS[self.pane_index]
        w: Widget = self.query_one("#advice-list" if key == "advice" else f"#scroll-{key}")
        return w

    def show_more(self) -> None:
        """The line under the pane: what is out of sight (hidden when everything shows)."""
        try:
            line = self.query_one("#pane-more", Static)
            above, below = out_of_sight(self.pane_scroller())
        except NoMatches:   # (called after a refresh: the app may be closing)
            return
        line.display = bool(above or below)
        if above or below:
            line.update(more_text(above, below, self.zoomed))

    # -- keys ------------------------------------------------------------------------------
    def action_pane_scroll(self, lines: int) -> None:
        w = self.pane_scroller()
        w.scroll_to(y=w.scroll_y + lines, animate=False)

    def action_pane_page(self, pages: int) -> None:
        w = self.pane_scroller()
        step = max(1, w.scrollable_content_region.height - 1)   # (one line stays for context)
        w.scroll_to(y=w.scroll_y + pages * step, animate=False)

    def action_zoom(self) -> None:
        """The detail pane on the full screen (header and table hidden) and back; zoomed, the
        pane has the focus, so the arrows and PgUp/PgDn scroll it."""
        self.zoomed = not self.zoomed
        self.screen_stack[0].set_class(self.zoomed, "zoomed")
        self.focus_pane()
        self.call_after_refresh(self.show_more)

    def action_unzoom(self) -> None:
        if self.zoomed:
            self.action_zoom()

    def focus_pane(self) -> None:
        from .table import GuestTable
        self.screen.set_focus(self.pane_scroller() if self.zoomed else self.query_one(GuestTable))

    def pane_check(self, action: str) -> bool | None:
        """check_action for these keys: None when the action is not one of them."""
        if action == "unzoom":
            return self.zoomed
        return None


__all__ = ["PANE_TEXT", "SIDE_FROM", "PaneScroll", "PaneView", "TellsScroll", "more_text", "out_of_sight"]
