"""Which key does what: the action keys (disabled in --read-only) and the key that applies
each finding's fix (a Finding names its fix by action kind; only the UI knows keys)."""

from __future__ import annotations

from ..analysis import Finding

# app action -> key; these change something and are disabled in --read-only and replay
ACTION_KEYS = {
    "pin": "p", "unpin": "u", "emulatorpin": "e", "move": "M", "numatune": "n", "memtune": "m",
    "throttle": "b", "weight": "w", "ksm_toggle": "k", "ksm_settings": "K", "hugepages": "h",
    "undo": "z",
}

# action kind (Finding.fix) -> the app action whose form applies it
FIX_ACTIONS = {
    "vcpupin": "pin", "emulatorpin": "emulatorpin", "move": "move", "numatune": "numatune",
    "memtune": "memtune", "blkdeviotune": "throttle", "blkiotune": "weight", "ksm": "ksm_settings",
    "hugepages": "hugepages",
}


def fix_key(kind: str | None) -> str | None:
    action = FIX_ACTIONS.get(kind or "")
    return ACTION_KEYS.get(action) if action else None


def finding_text(f: Finding) -> str:
    """A finding as the TUI says it: its text and, where a key applies the fix, the key."""
    key = fix_key(f.fix)
    return f"{f.text} ({key})" if key else f.text
