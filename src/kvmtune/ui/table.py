"""The guest table: one row per guest, sortable by any column, filtered by name.

Updates keep the selection and scroll position: when the visible rows are the same
guests in the same order only the cells that changed are rewritten; otherwise the rows
are rebuilt and the cursor goes back to the guest it was on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from .. import analysis as a
from ..model import Guest, Host
from ..rates import GuestRate

NARROW_BELOW = 110   # terminal columns under which the table drops its least urgent columns


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    wide_only: bool = False
    right: bool = True


COLUMNS = (
    Column("name", "Name", 14, right=False),
    Column("state", "St", 3, right=False),
    Column("vcpus", "vC", 2),
    Column("cpu", "CPU%", 5),
    Column("mem", "Mem", 5),
    Column("nodes", "Nodes", 5, right=False),
    Column("local", "Local", 5),
    Column("pin", "P", 1, right=False),
    Column("huge", "Huge", 5, wide_only=True),
    Column("ksm", "KSM", 5, wide_only=True),
    Column("rd", "Rd/s", 5),
    Column("wr", "Wr/s", 5),
    Column("limit", "Limit", 7, wide_only=True),
    Column("warn", "!", 2),
)
SORT_KEYS = tuple(c.key for c in COLUMNS)

_STATE = {"running": "run", "paused": "pau", "shut off": "off", "crashed": "CRA",
          "shutdown": "sd", "blocked": "blk", "pmsuspended": "sus"}


def row_values(g: Guest, host: Host, rate: GuestRate | None) -> dict[str, tuple[str, Any, str]]:
    """Per column: (text, sort value, style role) for one guest."""
    loc = a.locality(g, host)
    rd = wr = None
    limit = 0
    if rate is not None and g.disks:
        rds = [r.rd_bytes_s for r in rate.disks.values() if r.rd_bytes_s is not None]
        wrs = [r.wr_bytes_s for r in rate.disks.values() if r.wr_bytes_s is not None]
        rd = sum(rds) if rds else None
        wr = sum(wrs) if wrs else None
    for d in g.disks:
        limit += d.limit("total_bytes_sec") or (d.limit("read_bytes_sec") + d.limit("write_bytes_sec"))
    warns = a.guest_warnings(g, host, rate)
    cpu = rate.cpu_percent if rate else None
    ksm = a.guest_ksm_saved_kib(g)
    at_limit = any(w.code == "at-limit" for w in warns)
    return {
        "name": (g.name, g.name, ""),
        "state": (_STATE.get(g.state, g.state[:3]), g.state, "" if g.running else "muted"),
        "vcpus": (str(len(g.vcpus) or g.nvcpus or 0), len(g.vcpus) or g.nvcpus or 0, ""),
        "cpu": (a.fmt_pct(cpu, of_one=False), cpu if cpu is not None else -1.0, ""),
        "mem": (a.fmt_kib(g.memory_kib), g.memory_kib, ""),
        "nodes": (a.nodes_label(g), a.nodes_label(g), ""),
        "local": (a.fmt_pct(loc), loc if loc is not None else 2.0,
                  "" if loc is None or loc >= a.LOW_LOCALITY else "warning" if loc >= 0.5 else "error"),
        "pin": ("P" if a.is_pinned(g) else "", a.is_pinned(g), ""),
        "huge": (a.fmt_kib(g.hugepages_kib) if g.hugepages_kib else "", g.hugepages_kib, ""),
        "ksm": (a.fmt_kib(ksm) if ksm else "", ksm or 0, ""),
        "rd": (a.fmt_rate(rd).removesuffix("/s") if rd is not None else "-", rd or 0.0,
               "error" if at_limit else ""),
        "wr": (a.fmt_rate(wr).removesuffix("/s") if wr is not None else "-", wr or 0.0,
               "error" if at_limit else ""),
        "limit": (a.fmt_rate(limit).removesuffix("/s") if limit else "", limit, ""),
        "warn": (str(len(warns)) if warns else "", len(warns), "warning" if warns else ""),
    }


Rows = Mapping[str, Mapping[str, tuple[str, Any, str]]]   # guest -> column -> (text, sort value, role)


class GuestTable(DataTable):
    """The top part: guests, live. `show()` is the only way rows change.

    Rows are precomputed off the UI thread (`row_values`); here only the cells that
    changed are rewritten, rows come and go, and a new order is a re-sort of the rows
    the table already holds — never a rebuild — so 1000 guests stay cheap.
    """

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.narrow: bool | None = None
        self.name_width = 0
        self._order: list[str] = []
        self._cells: dict[str, tuple] = {}
        self._batching = False
        self._refresh_wanted = False
        self.colours: Mapping[str, str] = {}

    def refresh(self, *args, **kw):
        # one repaint per show(), not one per changed cell
        if getattr(self, "_batching", False):   # (refresh runs during __init__ too)
            self._refresh_wanted = True
            return self
        return super().refresh(*args, **kw)

    def columns_for(self, narrow: bool) -> list[Column]:
        return [c for c in COLUMNS if not (narrow and c.wide_only)]

    def _set_columns(self, narrow: bool, name_width: int) -> None:
        self.clear(columns=True)
        self._order, self._cells = [], {}
        self.narrow, self.name_width = narrow, name_width
        for c in self.columns_for(narrow):
            self.add_column(c.label, width=name_width if c.key == "name" else c.width, key=c.key)

    def _cell(self, col: Column, text: str, role: str) -> Text:
        style = self.colours.get(role, "") if role else ""
        return Text(text if col.key == "name" else text[:col.width], style=style, no_wrap=True,
                    overflow="ellipsis", justify="right" if col.right else "left")

    @property
    def selected(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def select(self, name: str) -> None:
        if name in self._order:
            self.move_cursor(row=self._order.index(name))

    def show(self, rows: Rows, sort_key: str, reverse: bool, name_filter: str, width: int,
             force: bool = False) -> None:
        keep = self.selected
        narrow = width < NARROW_BELOW
        cols = self.columns_for(narrow)
        # names get what the other columns leave (each column has 1 cell of padding per side)
        room = width - sum(c.width + 2 for c in cols if c.key != "name") - 4
        longest = max((len(n) for n in rows), default=4)
        name_width = max(8, min(longest, room, 40))
        if narrow != self.narrow or name_width != self.name_width or force:
            self._set_columns(narrow, name_width)
        needle = name_filter.lower()
        names = [n for n in rows if needle in n.lower()]
        order = sorted(names, key=lambda n: (_sortable(rows[n][sort_key][1]), n), reverse=reverse)
        cells = {n: tuple((rows[n][c.key][0], rows[n][c.key][2]) for c in cols) for n in names}
        self._batching = True
        try:
            for gone in set(self._cells) - set(cells):
                self.remove_row(gone)
            for n in names:
                old, new = self._cells.get(n), cells[n]
                if old is None:
                    self.add_row(*(self._cell(c, *new[i]) for i, c in enumerate(cols)), key=n)
                elif old != new:
                    row = self._data[RowKey(n)]
                    for i, c in enumerate(cols):
                        if old[i] != new[i]:
                            # update_cell() minus its per-call key checks and repaint: the
                            # row and column exist, and one repaint follows below
                            row[ColumnKey(c.key)] = self._cell(c, *new[i])
                            self._update_count += 1
                            self._refresh_wanted = True
            self._cells = cells
            if order != self._order:
                pos = {n: i for i, n in enumerate(order)}
                self.sort("name", key=lambda cell: pos[cell.plain])
                self._order = order
        finally:
            self._batching = False
        if self._refresh_wanted:
            self._refresh_wanted = False
            self.refresh()
        if keep is not None and keep in cells and order.index(keep) != self.cursor_row:
            self.move_cursor(row=order.index(keep), scroll=False)


def _sortable(v: Any) -> tuple:
    """Mixed-type sort values in one order: numbers, then text, then unknown."""
    if v is None:
        return (2, 0)
    if isinstance(v, (bool, int, float)):
        return (0, float(v))
    return (1, str(v))

