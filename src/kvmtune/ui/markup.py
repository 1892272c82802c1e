"""Text put into Textual markup as it is."""

from __future__ import annotations


def escape(text: str) -> str:
    """`text` as literal markup: every `[` escaped. Textual's own escape() leaves a `[` with no
    `]` after it ("web[a", a guest's name cut short), which then takes the closing tag that
    follows as its own, or fails to parse ("x[/y"). A trailing backslash would escape the tag
    after it: a space keeps it literal."""
    text = text.replace("[", "\\[")
    return text + " " if text.endswith("\\") else text
