"""The guest table: one row per guest, sortable by any column, filtered by name.

Updates keep the selection and scroll position: rows are added and removed as guests come
and go (or the filter changes), a new order re-sorts the rows in place, and the cursor stays
on the guest it was on. Cells are painted only for the rows on screen.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Self

from rich.cells import cell_len
from rich.text import Text
from textual.widgets.data_table import ColumnKey, RowKey

from .. import analysis as a
from .. import fmt
from ..advise import SEVERITIES, Finding, rank
from ..frame import Frame
from ..model import Guest
from ..vocab import STATE_SHORT
from .tablepaint import PaintedTable

NARROW_BELOW = 110   # terminal columns under which the table drops its least urgent columns


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    wide_only: bool = False
    narrow_only: bool = False   # shown under NARROW_BELOW columns only (where a wide column pair is not)
    right: bool = True
    # the order it sorts in first: busiest, biggest, worst on top (as top does)
    descending: bool = False
    help: str = ""   # what the help (`?`) and the sort picker say it shows


_STATES = ", ".join(f"{short} {long}" for long, short in STATE_SHORT.items() if short != long)
COLUMNS = (
    Column("name", "Name", 14, right=False, help="the guest (libvirt domain)"),
    Column("state", "St", 3, right=False, help=f"state: {_STATES}"),
    Column("vcpus", "vC", 2, descending=True, help="vCPUs"),
    Column("cpu", "CPU%", 5, descending=True,
           help="CPU the guest used over the last interval, % of one host CPU (200% = two busy)"),
    Column("mem", "Mem", 5, descending=True,
           help="memory the guest has now: its balloon's current size (libvirt's balloon.current; its QEMU's "
           "RSS where libvirt has not said); pane 1: of the configured size, and the RSS"),
    Column("nodes", "Nodes", 5, right=False, help="the NUMA nodes its memory is on (- unknown)"),
    # worst first: the least local on top
    Column("local", "Local", 5, help="locality: the share of its memory on the nodes where its vCPUs "
           "run (yellow under 80%, red under 50%)"),
    Column("pin", "P", 1, right=False, descending=True,
           help="P: every vCPU is pinned to host CPUs; p: only some are (yellow; pane 2 says how many)"),
    Column("huge", "Huge", 5, wide_only=True, descending=True,
           help="its memory on hugepages (only 110 columns and wider)"),
    Column("ksm", "KSM", 5, wide_only=True, descending=True,
           help="its memory KSM merged (only 110 columns and wider)"),
    Column("rd", "Rd/s", 5, descending=True, help="disk reads, bytes/s over every disk (red: at a throttle)"),
    Column("wr", "Wr/s", 5, descending=True, help="disk writes, bytes/s over every disk (red: at a throttle)"),
    Column("limit", "Limit", 7, wide_only=True, descending=True,
           help="its disks' throttle limits, bytes/s (only 110 columns and wider)"),
    # 4 wide (fmt_rate_short): an 80-column table keeps 12 characters for the names
    Column("net", "Net", 4, narrow_only=True, descending=True,
           help="network traffic, bytes/s received + sent over every interface (under 110 columns; "
           "wider: Rx/s and Tx/s; pane 9)"),
    Column("rx", "Rx/s", 5, wide_only=True, descending=True,
           help="network bytes/s the guest received, every interface (only 110 columns and wider)"),
    Column("tx", "Tx/s", 5, wide_only=True, descending=True,
           help="network bytes/s the guest sent, every interface (only 110 columns and wider)"),
    # the worst severity's letter and how many: C2, W1, i3; "C+" from 10 on (the pane has the
    # number): two columns, so an 80-column table keeps room for the names
    Column("warn", "!", 2, descending=True,
           help="its findings: the worst one's letter (C critical, W warning, i info) and how many, "
           "C+ for ten or more; pane 8 lists them"),
)
SORT_KEYS = tuple(c.key for c in COLUMNS)
BY_KEY = {c.key: c for c in COLUMNS}
SORT_MARK = {True: "▼", False: "▲"}   # descending, ascending

# the `!` column: the worst severity's letter (readable without colour) and its colour role
WORST = {"critical": ("C", "error"), "warning": ("W", "warning"), "info": ("i", "muted")}


def warn_cell(found: Collection[Finding]) -> tuple[str, Any, str]:
    """(text, sort value, role): sorting descending puts the worst first, then the most findings."""
    if not found:
        return "", -1, ""
    worst = min(rank(f.severity) for f in found)
    letter, role = WORST[SEVERITIES[worst]]
    n = len(found)
    return f"{letter}{n if n < 10 else '+'}", (len(SEVERITIES) - worst) * 1000 + n, role


def row_values(g: Guest, frame: Frame,
               muted: Collection[tuple[str, str | None]] = frozenset()) -> dict[str, tuple[str, Any, str]]:
    """Per column: (text, sort value, style role) for one guest; `muted`: its acknowledged
    findings' (code, subject), left out of the `!` column."""
    host, rate = frame.snap.host, frame.rates.get(g.name)
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
    rx = rate.net_total("rx_bytes_s") if rate else None
    tx = rate.net_total("tx_bytes_s") if rate else None
    net = None if rx is None and tx is None else (rx or 0.0) + (tx or 0.0)
    every = frame.guest_findings(g.name)
    warns = [w for w in every if (w.code, w.subject) not in muted]
    cpu = rate.cpu_percent if rate else None
    ksm = a.guest_ksm_saved_kib(g)
    at_limit = any(w.code == "storage.at_limit" for w in every)
    mem = a.memory_now_kib(g)
    return {
        "name": (g.name, g.name, ""),
        # stale: libvirt did not answer for it this tick ("st?": its state is the last one read)
        "state": ("st?", "stale", "warning") if g.stale
        else (STATE_SHORT.get(g.state, g.state[:3]), g.state, "" if g.running else "muted"),
        "vcpus": (str(len(g.vcpus) or g.nvcpus or 0), len(g.vcpus) or g.nvcpus or 0, ""),
        "cpu": (fmt.fmt_pct(cpu, of_one=False), cpu if cpu is not None else -1.0, ""),
        "mem": (fmt.fmt_kib(mem), mem, ""),
        "nodes": (a.nodes_label(g), a.nodes_label(g), ""),
        "local": (fmt.fmt_pct(loc), loc if loc is not None else 2.0,
                  "" if loc is None or loc >= a.LOW_LOCALITY else "warning" if loc >= 0.5 else "error"),
        "pin": ("…", None, "muted") if g.settings_pending else _pin_cell(g),
        "huge": (fmt.fmt_kib(g.hugepages_kib) if g.hugepages_kib else "", g.hugepages_kib, ""),
        "ksm": (fmt.fmt_kib(ksm) if ksm else "", ksm or 0, ""),
        "rd": (fmt.fmt_rate(rd).removesuffix("/s") if rd is not None else "-", rd or 0.0,
               "error" if at_limit else ""),
        "wr": (fmt.fmt_rate(wr).removesuffix("/s") if wr is not None else "-", wr or 0.0,
               "error" if at_limit else ""),
        "limit": (fmt.fmt_rate(limit).removesuffix("/s") if limit else "", limit, ""),
        "net": (fmt.fmt_rate_short(net), net or 0.0, ""), "rx": _rate_cell(rx), "tx": _rate_cell(tx),
        "warn": warn_cell(warns),
    }


def _pin_cell(g: Guest) -> tuple[str, Any, str]:
    """P every vCPU pinned, p only some (the guide's 3.3.4: a loose vCPU takes the others' CPUs
    too), blank none; sorts all, then some, then none."""
    pinned, n = a.pinned_count(g)
    if not pinned:
        return ("", 0, "")
    return ("P", 2, "") if pinned == n else ("p", 1, "warning")


def _rate_cell(v: float | None) -> tuple[str, Any, str]:
    return (fmt.fmt_rate(v).removesuffix("/s") if v is not None else "-", v or 0.0, "")


Rows = Mapping[str, Mapping[str, tuple[str, Any, str]]]   # guest -> column -> (text, sort value, role)


class GuestTable(PaintedTable):
    """The top part: guests, live. `show()` is the only way rows change.

    Rows are precomputed off the UI thread (`row_values`). `show()` only stores each
    row's cells and re-sorts the rows the table already holds; cells become segments
    when painted, i.e. only for the rows on screen, by a direct path that gives the same
    segments as DataTable's Rich one (which costs ~0.2 ms a cell; tablepaint.py) — so
    1000 guests stay cheap. Relies on DataTable internals (textual is pinned to a minor version).
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.narrow: bool | None = None
        self.mark: tuple[str, bool] | None = None   # the sorted column and whether descending
        self._order: list[str] = []
        self._batching = False
        self._refresh_wanted = False

    def refresh(self, *args: Any, **kw: Any) -> Self:
        # one repaint per show(), not one per changed row
        if getattr(self, "_batching", False):   # (refresh runs during __init__ too)
            self._refresh_wanted = True
            return self
        return super().refresh(*args, **kw)

    def columns_for(self, narrow: bool) -> list[Column]:
        return [c for c in COLUMNS if not (c.wide_only if narrow else c.narrow_only)]

    @staticmethod
    def col_width(c: Column, mark: tuple[str, bool] | None) -> int:
        """Its width; the sorted column's grows by its ▼/▲ if its label fills it."""
        return max(c.width, cell_len(c.label) + 1) if mark is not None and c.key == mark[0] else c.width

    def _set_columns(self, narrow: bool, name_width: int, mark: tuple[str, bool] | None) -> None:
        self.clear(columns=True)
        self._order, self._cells, self._header_cache = [], {}, {}
        self.narrow, self.name_width, self.mark = narrow, name_width, mark
        self._cols = self.columns_for(narrow)
        for c in self._cols:
            self.add_column(self._label(c, mark), width=name_width if c.key == "name" else self.col_width(c, mark),
                            key=c.key)

    @staticmethod
    def _label(c: Column, mark: tuple[str, bool] | None) -> str:
        return c.label + SORT_MARK[mark[1]] if mark is not None and c.key == mark[0] else c.label

    def _set_mark(self, mark: tuple[str, bool] | None) -> None:
        """Another sorted column (or direction): its label and width, the rows kept. Clearing
        and adding 1000 rows again cost ~130 ms of a sort key (1000 demo guests)."""
        self.mark = mark
        for c in self._cols:
            col = self.columns[ColumnKey(c.key)]
            col.label = Text.from_markup(self._label(c, mark))
            if c.key != "name":
                col.width = self.col_width(c, mark)
        self._header_cache = {}
        self._clear_caches()
        self._require_update_dimensions = True
        self._update_count += 1
        self._refresh_wanted = True

    @property
    def selected(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def select(self, name: str) -> None:
        if name in self._order:
            self.move_cursor(row=self._order.index(name))

    # Home / End: the first / last guest (DataTable's scroll sideways with a row cursor)
    def action_scroll_home(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_end(self) -> None:
        self.move_cursor(row=self.row_count - 1)

    def show(self, rows: Rows, sort_key: str, reverse: bool, name_filter: str, width: int,
             force: bool = False) -> None:
        keep = self.selected
        narrow = width < NARROW_BELOW
        cols = self.columns_for(narrow)
        mark = (sort_key, reverse)
        # names get what the other columns leave (each column has 1 cell of padding per side)
        room = width - sum(self.col_width(c, mark) + 2 for c in cols if c.key != "name") - 4
        longest = max((len(n) for n in rows), default=4)
        name_width = max(8, min(longest, room, 40))
        rebuilt = narrow != self.narrow or name_width != self.name_width or force
        resorted = mark != self.mark
        if rebuilt:
            self._set_columns(narrow, name_width, mark)
        elif resorted:
            self._set_mark(mark)
        needle = name_filter.lower()
        names = [n for n in rows if needle in n.lower()]
        # by name first: equal values stay in name order either way (sorted() is stable)
        order = sorted(sorted(names), key=lambda n: _sortable(rows[n][sort_key][1], reverse), reverse=reverse)
        keys = [c.key for c in cols]
        cells = {n: tuple(map(rows[n].__getitem__, keys)) for n in names}
        old_cells, self._cells = self._cells, cells
        changed = False
        self._batching = True
        try:
            for gone in old_cells.keys() - cells.keys():
                self.remove_row(gone)
            for n in names:
                old, new = old_cells.get(n), cells[n]
                if old is None:
                    # the texts are the row's data (get_row etc.); painting reads _cells
                    self.add_row(*(v[0] for v in new), key=n)
                elif old != new:
                    changed = True   # (DataTable's _data keeps the first texts: get_cell reads _cells)
            # widths are fixed and every row is one line: nothing for DataTable to measure
            self._new_rows.clear()
            if changed:
                self.cells_changed()
                self._refresh_wanted = True
            if order != self._order:
                pos = {n: i for i, n in enumerate(order)}
                self.sort("name", key=pos.__getitem__)
                self._order = order
        finally:
            self._batching = False
        if self._refresh_wanted:
            self._refresh_wanted = False
            self.refresh()
        if keep is not None and keep in cells and (rebuilt or order.index(keep) != self.cursor_row):
            # (a rebuild lost the scroll; a new sort order keeps the selected guest in sight)
            self.move_cursor(row=order.index(keep), scroll=rebuilt or resorted)

    # The rows' texts are in _cells: copying each changed row into DataTable's _data (a dict
    # by column key per row) took ~4 ms a refresh at 1000 guests, for these getters alone.
    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Any:
        cells = self._cells.get(str(row_key.value if isinstance(row_key, RowKey) else row_key))
        keys = [c.key for c in self._cols]
        ck = str(column_key.value if isinstance(column_key, ColumnKey) else column_key)
        return super().get_cell(row_key, column_key) if cells is None or ck not in keys else cells[keys.index(ck)][0]

    def get_row(self, row_key: RowKey | str) -> list[Any]:
        cells = self._cells.get(str(row_key.value if isinstance(row_key, RowKey) else row_key))
        return super().get_row(row_key) if cells is None else [text for text, _, _ in cells]


def _sortable(v: Any, reverse: bool = False) -> tuple[int, float | str]:
    """Mixed-type sort values in one order: numbers, then text, then unknown (last either way)."""
    kind, value = (2, 0.0) if v is None else (0, float(v)) if isinstance(v, (bool, int, float)) else (1, str(v))
    return (-kind if reverse else kind, value)

