"""What `?` says: every column of the guest table and every key, made from the columns
(table.COLUMNS) and the bindings (keys.BINDINGS) so it cannot drift from them; the command
palette titles its entries from the same texts."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding

from .keys import ACTION_KEYS, PANES
from .markup import escape
from .table import COLUMNS

# binding id -> what the key does
HELP_TEXT = {
    "quit": "quit",
    "interrupt": "quit",
    "help": "this help: every key and column",
    "pin": "pin the selected guest's vCPU(s): a picker of host CPUs grouped by node; "
           "'one CPU each' puts vCPU i alone on the i-th CPU of the list (a node: a in the picker)",
    "unpin": "unpin vCPU(s): back to every CPU the guest may use",
    "emulatorpin": "pin the emulator threads",
    "iothreadpin": "pin an I/O thread (iothreadpin)",
    "move": "move the guest to a node: vCPUs + emulator + numatune together",
    "numatune": "numatune mode and nodeset",
    "memtune": "memtune hard/soft/swap limits",
    "throttle": "disk throttles (blkdeviotune)",
    "weight": "blkio weight",
    "ksm_toggle": "KSM on/off",
    "ksm_settings": "KSM settings (pages_to_scan, sleep, merge_across_nodes)",
    "hugepages": "hugepage pool size per node",
    "thp": "transparent hugepages: always, madvise or never",
    "numa_balancing": "automatic NUMA balancing on/off",
    "undo": "undo the last action (shows what it puts back, then asks)",
    "log": "the audit log (in a replay: the actions recorded)",
    "host": "host view: every node's CPUs, memory, hugepages and guests; the nodes' distances and "
            "allocations per second (numastat: hit, miss, foreign, local, other)",
    "advice_host": "advice: every finding on the host, sortable; Enter opens a fix, ! mutes",
    "theme": "next colour theme",
    "perf": "perf counters on/off (pane 7; needs root)",
    "filter": "filter guests by name",
    "filter_done": "in the filter: keep it and go back to the table",
    "filter_clear": "in the filter: clear it",
    "sort_menu": "sort: pick the column from a list (Enter picks; the sorted one again reverses)",
    "sort_next": "sort by the next column (numbers: the biggest, busiest, worst first)",
    "reverse": "reverse the order (the header marks it: ▼ descending, ▲ ascending)",
    "next_pane": "next detail pane",
    "prev_pane": "previous detail pane",
    "record": "start / stop recording to a file (replay it with `kvmtune replay FILE`)",
    "play": "replay: play / pause",
    "step_back": "replay: one sample back",
    "step_fwd": "replay: one sample forward",
    "back_1m": "replay: 1 minute back",
    "fwd_1m": "replay: 1 minute forward",
    "back_10m": "replay: 10 minutes back",
    "fwd_10m": "replay: 10 minutes forward",
    "goto": "replay: go to a time (HH:MM[:SS] or YYYY-MM-DD HH:MM[:SS])",
    "goto_done": "replay, in go to: go there",
    "goto_cancel": "replay, in go to: cancel",
    "prev_event": "replay: the previous recorded action or error",
    "next_event": "replay: the next recorded action or error",
    "speed": "replay: speed 1x, 2x, 10x, 60x",
    "pane_down": "scroll the detail pane down a line (its last line says what is below)",
    "pane_up": "scroll the detail pane up a line",
    "pane_page_down": "scroll the detail pane down a page",
    "pane_page_up": "scroll the detail pane up a page",
    "zoom": "the detail pane on the full screen and back (there ↑ ↓ PgUp PgDn scroll it; Esc back)",
    "unzoom": "back from the full-screen pane",
    **{f"pane_{i + 1}": f"pane {i + 1}: {title}" for i, (_, title) in enumerate(PANES)},
}
PANE_IDS = tuple(f"pane_{i + 1}" for i in range(len(PANES)))

# keys that are not app bindings (the table's, the Advice pane's, Textual's palette)
OTHER_KEYS = (
    ("↑ ↓", "select a guest"),
    ("PgUp PgDn", "a page of guests up / down"),
    ("Home End", "the first / last guest"),
    ("Enter", "the selected guest's Advice pane: ↑ ↓ pick a finding, Enter opens its fix "
              "(the form, prefilled), ! mutes / unmutes it, Esc back"),
    ("Ctrl+P", "command palette: every action, sort column and pane by name"),
)

NAMES = {"enter": "Enter", "escape": "Esc", "tab": "Tab", "shift+tab": "S-Tab", "space": "space",
         "ctrl+c": "Ctrl+C", "f6": "F6",
         "shift+down": "⇧↓", "shift+up": "⇧↑", "ctrl+d": "^d", "ctrl+u": "^u"}
KEY_WIDTH = 10


def key_name(b: Binding) -> str:
    return NAMES.get(b.key) or b.key_display or b.key


def help_id(b: Binding, bindings: Iterable[Binding]) -> str | None:
    """The HELP_TEXT entry of a binding: its own, or a binding's with the same action (a second key)."""
    bid = b.id or b.action
    if bid in HELP_TEXT:
        return bid
    return next((o.id for o in bindings if o.action == b.action and o.id in HELP_TEXT), None)


@dataclass(frozen=True)
class Row:
    keys: str
    text: str
    ids: tuple[str, ...] = ()     # the bindings it explains
    off: str | None = None        # why these keys do nothing here


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]
    off: str | None = None        # why none of its keys do anything here


def _section(title: str, rows: list[Row]) -> Section:
    """A section whose rows are all off for one reason says it once, in its title."""
    why = {r.off for r in rows}
    if len(why) == 1 and (off := why.pop()) is not None:
        return Section(f"{title} (off: {off})", tuple(Row(r.keys, r.text, r.ids) for r in rows), off)
    return Section(title, tuple(rows))


def sections(bindings: Iterable[Binding], disabled: Mapping[str, str], replay: bool) -> list[Section]:
    """Columns, then the keys: moving around, tuning, replay (a replay's own keys first)."""
    columns = tuple(Row(c.label, c.help) for c in COLUMNS)
    header = (Row("age", "how old the shown sample is (at 80x24 `age 0.4s/2s`, with the "
                         "interval); yellow past two intervals, red past five (collection is late or stuck); "
                         "none in a replay, whose header has the recorded time"),)
    view: list[Row] = [Row(k, t) for k, t in OTHER_KEYS]
    tune: list[Row] = []
    travel: list[Row] = []
    rows: dict[tuple[str, str], Row] = {}   # one row per text: its keys joined ("> < F6")
    bindings = list(bindings)
    for b in bindings:
        bid = help_id(b, bindings)
        if bid is None or bid in PANE_IDS:
            continue
        text = HELP_TEXT[bid]
        off = disabled.get(b.key)
        if text.startswith("replay") and not replay:
            off = "replay only"
        elif bid == "record" and replay:
            off = "not in a replay"
        group = "travel" if text.startswith("replay") else "tune" if bid in ACTION_KEYS else "view"
        prev = rows.get((group, text))
        if prev is not None:
            merged = Row(f"{prev.keys} {key_name(b)}", text, (*prev.ids, b.id or bid), off)
            target = {"travel": travel, "tune": tune, "view": view}[group]
            target[target.index(prev)] = rows[(group, text)] = merged
            continue
        row = rows[(group, text)] = Row(key_name(b), text, (b.id or bid,), off)
        {"travel": travel, "tune": tune, "view": view}[group].append(row)
    view.append(Row(f"1…{len(PANES)}", "detail pane: " + ", ".join(
        f"{i + 1} {t}" for i, (_, t) in enumerate(PANES)), PANE_IDS))
    out = [Section("Columns of the guest table", columns), Section("The header", header),
           _section("Keys", view),
           _section("Tuning", tune),
           _section("Time travel in a replay", travel)]
    return [out[0], out[1], out[4], out[2], out[3]] if replay else out


def lines(secs: list[Section], width: int) -> list[tuple[str, str]]:
    """(plain, markup) lines no wider than `width`: a key column, then the text wrapped under itself."""
    text_width = max(20, width - KEY_WIDTH - 3)
    title, hint = "kvmtune: keys and columns", "(↑ ↓ PgUp PgDn Home End scroll, Esc closes)"
    out = [(f"{title}  {hint}", f"[b]{title}[/]  [$text-muted]{hint}[/]") if len(title + hint) + 2 <= width
           else (title, f"[b]{title}[/]")]
    for s in secs:
        out += [("", ""), (s.title, f"[b $accent]{escape(s.title)}[/]")]
        for r in s.rows:
            text = r.text + (f" (disabled: {r.off})" if r.off else "")
            wrapped = textwrap.wrap(text, text_width) or [""]
            keys = textwrap.wrap(r.keys, KEY_WIDTH) or [""]
            for i in range(max(len(wrapped), len(keys))):
                k = keys[i] if i < len(keys) else ""
                t = wrapped[i] if i < len(wrapped) else ""
                plain = f"  {k:<{KEY_WIDTH}} {t}".rstrip()
                bold = f"[b]{escape(k)}[/]" if k else ""
                markup = f"  {bold}{' ' * (KEY_WIDTH - len(k))} {escape(t)}"
                out.append((plain, f"[$text-muted]{markup}[/]" if r.off or s.off else markup))
    return out
