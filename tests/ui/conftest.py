"""The UI tier: the real app on the demo host's feed (or a feed a test provides), driven by Pilot."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    """Audit logs go to a fresh XDG_STATE_HOME per test, never the user's."""
    d = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(d))
    return d
