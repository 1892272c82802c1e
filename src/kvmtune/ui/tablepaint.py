"""How the guest table paints: the rows on screen only, from the texts it keeps (`_cells`),
by a direct path that gives DataTable's segments without its per-cell and per-row work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets._data_table import RowRenderables
from textual.widgets.data_table import RowKey

from .. import fmt

PAINTED_MAX = 20_000   # body cells kept painted (a screenful is a few hundred)
ROW_LINES_MAX = 2_000  # body rows kept painted


class PaintColumn(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def right(self) -> bool: ...


SegmentLines = list[list[Segment]]
Cells = tuple[tuple[str, Any, str], ...]   # per shown column (text, sort value, role)


class PaintedTable(DataTable[str]):
    """A DataTable whose body rows are painted from `_cells` (guest -> its cells, set by the
    subclass with `_cols`, the columns shown). Relies on DataTable internals (textual is
    pinned to a minor version); the SVG snapshots compare what it paints."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.name_width = 0
        self.colours: Mapping[str, str] = {}
        self._cells: dict[str, Cells] = {}
        self._cols: list[Any] = []   # PaintColumn
        self._header_cache: dict[tuple[Any, ...], list[list[Segment]]] = {}
        self._painted: dict[tuple[Any, ...], list[list[Segment]]] = {}   # body cells by what they show
        self._row_lines: dict[tuple[Any, ...], tuple[SegmentLines, SegmentLines]] = {}   # body rows, the same

    def _cell(self, col: PaintColumn, text: str, role: str) -> Text:
        style = self.colours.get(role, "") if role else ""
        text = fmt.shorten_middle(text, self.name_width) if col.key == "name" else text[:col.width]
        return Text(text, style=style, no_wrap=True,
                    overflow="ellipsis", justify="right" if col.right else "left")

    def notify_style_update(self) -> None:
        self._header_cache, self._painted, self._row_lines = {}, {}, {}
        super().notify_style_update()

    def _clear_caches(self) -> None:
        self._row_lines = {}   # (new columns, widths, rows or order)
        super()._clear_caches()

    def cells_changed(self) -> None:
        """What some rows show changed, not which rows there are or where: DataTable's render
        caches go, not (as with its update count) the row order and offsets it rebuilds for
        every row (~0.9 ms a refresh at 1000 guests). Ours are keyed by what they show."""
        for cache in (self._row_render_cache, self._cell_render_cache, self._row_renderable_cache,
                      self._line_cache):
            cache.clear()

    def set_colours(self, colours: Mapping[str, str]) -> None:
        """The theme's colours for the cells' roles (warning, error, muted)."""
        if colours != self.colours:
            self.colours = colours
            self._clear_caches()   # (every painted cell, row and line)
            self._painted = {}
            self.refresh()

    def _compute_row_renderables(self, row_index: int) -> RowRenderables:
        """A row's cells as Text, made from `_cells` when painted (DataTable's slow path)."""
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 else None
        cells = self._cells.get(row_key.value) if row_key is not None and row_key.value is not None else None
        if cells is None:
            return super()._compute_row_renderables(row_index)
        return RowRenderables(None, [self._cell(c, text, role)
                                     for c, (text, _, role) in zip(self._cols, cells)])

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """One body cell as segment lines: the same segments as DataTable's Rich render of
        Padding(Text) would give, built directly (Rich's path is ~0.2 ms a cell)."""
        if row_index == -1:
            # the header changes only with the columns or the styles, not with each update
            key = (column_index, base_style, width, cursor, hover, self._show_hover_cursor,
                   self._pseudo_class_state, self.show_cursor, self.cursor_type)
            lines = self._header_cache.get(key)
            if lines is None:
                lines = self._header_cache[key] = super()._render_cell(
                    row_index, column_index, base_style, width, cursor, hover)
            return lines
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cells = self._cells.get(row_key.value) if row_key is not None and row_key.value is not None else None
        if (cells is None or row_key is None or column_key is None or column_index < 0
                or self.cell_padding != 1):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        text, _, role = cells[column_index]
        colour = self.colours.get(role, "") if role else ""
        # by what the cell shows, not DataTable's update count: most cells of a refresh (names,
        # states, sizes) are as they were, and were painted again (a fifth of a refresh's paint)
        cache_key = (row_index, column_index, text, colour, width, base_style, cursor, hover,
                     self._show_hover_cursor, self._pseudo_class_state, self.show_cursor)
        lines = self._painted.get(cache_key)
        if lines is not None:
            return lines
        col = self._cols[column_index]
        text = fmt.shorten_middle(text, width - 2) if col.key == "name" else text[:col.width]
        if not text.isprintable():             # tabs, control codes: Rich's own path
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        # what Text.wrap() does with no_wrap, overflow="ellipsis" and Lines.justify()
        inner = width - 2
        if col.right:
            text = text.rstrip()
        if cell_len(text) > inner:
            text = set_cell_size(text, inner - 1) + "…"
        if col.right:
            text = " " * (inner - cell_len(text)) + text
        else:
            text += " " * (inner - cell_len(text))
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        text_style = self.app.console.get_style(colour, default=Style.null()) if colour else None
        pad = Segment(" ", pre + post_style)
        lines = [[pad, Segment(text, pre + text_style + post_style), pad]]
        if len(self._painted) > PAINTED_MAX:
            self._painted.clear()
        self._painted[cache_key] = lines
        return lines

    def _render_line_in_row(self, row_key: RowKey, line_no: int, base_style: Style,
                            cursor_location: Coordinate, hover_location: Coordinate
                            ) -> tuple[SegmentLines, SegmentLines]:
        """A body row's line: its cells' segments and the fill to the table's width, as
        DataTable makes them for a row cursor, cached by its cells (texts, roles and sort
        values) and where it is (a row of a refresh whose cells did not change is not
        painted again). DataTable's
        own for the header and for what this table never has (fixed rows or columns, row
        labels, zebra stripes, another cursor)."""
        cells = self._cells.get(row_key.value) if row_key.value is not None else None
        row_index = self._row_locations.get(row_key)
        if (cells is None or row_index is None or line_no or self.fixed_columns or self.fixed_rows
                or self.zebra_stripes or self.cursor_type != "row"
                or (self._labelled_row_exists and self.show_row_labels)):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        cursor, hover = cursor_location.row == row_index, hover_location.row == row_index
        width = self.size.width
        key = (row_index, cells, base_style, cursor, hover, width, self.show_cursor, self._show_hover_cursor,
               self._pseudo_class_state)
        pair = self._row_lines.get(key)
        if pair is not None:
            return pair
        widths = [c.get_render_width(self) for c in self.ordered_columns]
        line: SegmentLines = [self._render_cell(row_index, i, base_style, w, cursor, hover)[0]
                              for i, w in enumerate(widths)]
        fill, _ = self._get_styles_to_render_cell(False, False, False, hover, cursor, self.show_cursor,
                                                  self._show_hover_cursor, False, False)
        fill = base_style + fill + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        line.append([Segment(" " * max(0, width - sum(widths) - self._row_label_column_width), fill)])
        if len(self._row_lines) > ROW_LINES_MAX:
            self._row_lines.clear()
        pair = self._row_lines[key] = ([], line)
        return pair
