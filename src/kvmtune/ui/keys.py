"""Which key does what: the app's bindings, the action keys (disabled in --read-only) and the
key that applies each finding's fix (a Finding names its fix by action kind; only the UI
knows keys)."""

from __future__ import annotations

from textual.binding import Binding

from ..advise import Finding

# the detail panes, in the order of their keys 1-9: (key, title)
PANES = (
    ("numa", "NUMA"),
    ("vcpu", "vCPUs"),          # (short: nine tab titles fit 80 columns)
    ("huge", "Huge"),
    ("ksm", "KSM"),
    ("block", "Block"),
    ("settings", "Settings"),
    ("perf", "perf"),
    ("advice", "Advice"),
    ("net", "Net"),             # (last: the keys of the panes before it stay as they were)
)

MUTE_KEY = "!"   # in the Advice pane and the host-wide list: mute / unmute the finding under the cursor

# app action -> key; these change something and are disabled in --read-only and replay
ACTION_KEYS = {
    "pin": "p", "unpin": "u", "emulatorpin": "e", "move": "M", "numatune": "n", "memtune": "m",
    "throttle": "b", "weight": "w", "ksm_toggle": "k", "ksm_settings": "K", "hugepages": "h",
    "iothreadpin": "i", "thp": "T", "numa_balancing": "N", "undo": "z",
}

# action kind (Finding.fix) -> the app action whose form applies it
FIX_ACTIONS = {
    "vcpupin": "pin", "emulatorpin": "emulatorpin", "move": "move", "numatune": "numatune",
    "memtune": "memtune", "blkdeviotune": "throttle", "blkiotune": "weight", "ksm": "ksm_settings",
    "hugepages": "hugepages", "iothreadpin": "iothreadpin", "thp": "thp",
    "numa_balancing": "numa_balancing",
}


def fix_key(kind: str | None) -> str | None:
    action = FIX_ACTIONS.get(kind or "")
    return ACTION_KEYS.get(action) if action else None


def finding_text(f: Finding) -> str:
    """A finding as the TUI says it: its text and, where a key applies the fix, the key."""
    key = fix_key(f.fix.action if f.fix else None)
    return f"{f.text} ({key})" if key else f.text


def _form_binding(key: str, name: str, description: str) -> Binding:
    return Binding(key, f"form('{name}')", description, id=name)


BINDINGS: list[Binding] = [
    Binding("q", "quit", "Quit", id="quit"),
    # as in top and htop; priority: it quits from a form or the palette too (q is typed there)
    Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True, id="interrupt"),
    Binding("question_mark", "help", "Help", key_display="?", id="help"),
    # time travel: shown and working in a replay only (ui/replaying.py)
    Binding("space", "play", "Play", key_display="space", id="play"),
    Binding("left_square_bracket", "step(-1)", "-1", key_display="[", id="step_back"),
    Binding("right_square_bracket", "step(1)", "+1", key_display="]", id="step_fwd"),
    Binding("comma", "jump(-60)", "-1m", key_display=",", id="back_1m"),
    Binding("full_stop", "jump(60)", "+1m", key_display=".", id="fwd_1m"),
    Binding("left_curly_bracket", "jump(-600)", "-10m", key_display="{", id="back_10m"),
    Binding("right_curly_bracket", "jump(600)", "+10m", key_display="}", id="fwd_10m"),
    Binding("g", "goto", "Go to", id="goto"),
    Binding("left_parenthesis", "event(-1)", "Prev event", key_display="(", id="prev_event"),
    Binding("right_parenthesis", "event(1)", "Next event", key_display=")", id="next_event"),
    Binding("x", "speed", "Speed", id="speed"),
    _form_binding("p", "pin", "Pin"),
    _form_binding("u", "unpin", "Unpin"),
    _form_binding("e", "emulatorpin", "Emu"),
    _form_binding("i", "iothreadpin", "IOthr"),
    _form_binding("M", "move", "Move"),
    _form_binding("n", "numatune", "Numa"),
    _form_binding("m", "memtune", "Mem"),
    _form_binding("b", "throttle", "Throttle"),
    _form_binding("w", "weight", "Weight"),
    _form_binding("k", "ksm_toggle", "KSM"),
    _form_binding("K", "ksm_settings", "KSM set"),
    _form_binding("h", "hugepages", "Huge"),
    _form_binding("T", "thp", "THP"),
    _form_binding("N", "numa_balancing", "NUMA bal"),
    Binding("z", "undo", "Undo", id="undo"),
    Binding("L", "log", "Log", id="log"),
    Binding("H", "host", "Host", id="host"),
    Binding("A", "advice_host", "Advice", id="advice_host"),
    Binding("t", "theme", "Theme", id="theme"),
    Binding("P", "perf", "Perf", id="perf"),
    Binding("R", "record", "Rec", id="record", show=False),
    Binding("enter", "goto_done", "Go there", show=False, priority=True, id="goto_done"),
    Binding("escape", "goto_cancel", "Cancel", show=False, priority=True, id="goto_cancel"),
    # priority: handled when the key arrives, before the keys typed right after it are
    # handed to the focused widget, so those reach the filter (enter/escape: back to the
    # table; only while the filter has focus, see KvmtuneApp.check_action)
    Binding("slash", "filter", "Filter", key_display="/", id="filter", priority=True),
    Binding("enter", "filter_done", "Keep the filter", show=False, priority=True, id="filter_done"),
    Binding("escape", "filter_clear", "Clear the filter", show=False, priority=True, id="filter_clear"),
    # htop's keys for its "Sort by" list: F6, < and >
    Binding("greater_than_sign", "sort_menu", "Sort", key_display=">", id="sort_menu"),
    Binding("less_than_sign", "sort_menu", "Sort", show=False, key_display="<", id="sort_menu_lt"),
    Binding("f6", "sort_menu", "Sort", show=False, key_display="F6", id="sort_menu_f6"),
    Binding("s", "sort(1)", "Sort by the next column", show=False, id="sort_next"),
    Binding("S", "reverse", "Reverse the sort", show=False, id="reverse"),
    Binding("tab", "next_pane", "Next pane", show=False, priority=True, id="next_pane"),
    Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, priority=True, id="prev_pane"),
    *[Binding(str(i + 1), f"pane({i})", f"Pane {i + 1}", show=False, id=f"pane_{i + 1}")
      for i in range(len(PANES))],
]

# the footer shows the keys that fit its width in this order (the rest: `?` lists every key);
# keys not named here come after these, in BINDINGS order
FOOTER_ORDER = (
    "quit", "help",
    "play", "step_back", "step_fwd", "back_1m", "fwd_1m", "goto", "prev_event", "next_event", "speed",
    "filter", "sort_menu", "pin", "move", "undo", "host", "advice_host", "log", "perf",
)

# the detail pane's scrolling and zoom (ui/paneview.py): the table keeps ↑ ↓, so the pane
# has keys of its own; shift+arrows where the terminal sends them, ^d ^u (as in less) everywhere
PANE_BINDINGS: list[Binding] = [
    Binding("shift+down", "pane_scroll(1)", "Pane ↓", key_display="⇧↓", id="pane_down", show=False),
    Binding("shift+up", "pane_scroll(-1)", "Pane ↑", key_display="⇧↑", id="pane_up", show=False),
    Binding("ctrl+d", "pane_page(1)", "Pane page ↓", key_display="^d", id="pane_page_down", show=False),
    Binding("ctrl+u", "pane_page(-1)", "Pane page ↑", key_display="^u", id="pane_page_up", show=False),
    Binding("f", "zoom", "Full screen", id="zoom", show=False),
    Binding("escape", "unzoom", "Back from full screen", show=False, id="unzoom"),
]
BINDINGS += PANE_BINDINGS
