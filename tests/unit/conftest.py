"""The unit tier never touches the user's state: audit logs and the demo's saved settings go
to a fresh XDG_STATE_HOME per test (subprocesses inherit it)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    d = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(d))
    return d
