"""Fixtures every tier may use: the shared real-data fixtures and the tree generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"

_spec = importlib.util.spec_from_file_location("kvmtune_make_tree", Path(__file__).parent / "fixtures" / "make_tree.py")
make_tree = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_tree)


@pytest.fixture
def shared_fixtures() -> Path:
    """../shared/fixtures (real data, not in the repository); skips when absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not present at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture
def tree():
    """The tree generator module (tests/fixtures/make_tree.py): host_files, guest_files, write_tree."""
    return make_tree
