"""Fixtures every tier may use: the shared real-data fixtures and the tree generator."""

from __future__ import annotations

import importlib.util
import os
import weakref
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"

_spec = importlib.util.spec_from_file_location("kvmtune_make_tree", Path(__file__).parent / "fixtures" / "make_tree.py")
make_tree = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_tree)
_spec = importlib.util.spec_from_file_location("kvmtune_contract", Path(__file__).parent / "contract.py")
contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(contract)


@pytest.fixture
def shared_fixtures() -> Path:
    """../shared/fixtures (real data, not in the repository); skips when absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not present at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture
def snapshot_contract():
    """check_document(d): the kvmtune.snapshot/1 contract on a whole document (tests/contract.py)."""
    return contract.check_document


@pytest.fixture
def read_report():
    """parse_report(text) -> (node rows, {guest: {...}}): `kvmtune snapshot`'s text, read back."""
    return contract.parse_report


@pytest.fixture
def tree():
    """The tree generator module (tests/fixtures/make_tree.py): host_files, guest_files, write_tree."""
    return make_tree


@pytest.fixture(autouse=True)
def _close_demo_hosts(monkeypatch):
    """Close every demo host a test made. Each one runs a watcher thread (20 polls a second)
    until it is closed or collected, and apps keep theirs alive past the test: left open,
    they piled up and slowed every later test (CI ran out of time at 95 %)."""
    from kvmtune.demo import simulator
    made: list[weakref.ref] = []
    init = simulator.Simulator.__init__

    def tracked(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))
    monkeypatch.setattr(simulator.Simulator, "__init__", tracked)
    yield
    for ref in made:
        if (sim := ref()) is not None:
            sim.close()


# -- under CI, the tiers that prove kvmtune against real things must not skip ---------------
# A skipped lab tier once passed CI while proving nothing (issue 9). Outside CI they still
# skip with one line saying why (no root, no libvirt-python, another distro).
CI = os.environ.get("CI") == "true"
MUST_RUN = ("tests/lab", "tests/libvirt")
_ci_skips: dict[str, list[str]] = {}


def _skip_reason(report) -> str:
    lr = report.longrepr
    text = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return text.removeprefix("Skipped: ")


def _note_skip(report) -> None:
    if not (CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    tier = next((t for t in MUST_RUN if report.nodeid == t or report.nodeid.startswith(t + "/")), None)
    if tier is not None:
        _ci_skips.setdefault(tier.split("/")[1], []).append(_skip_reason(report))


def pytest_runtest_logreport(report):
    _note_skip(report)


def pytest_collectreport(report):
    _note_skip(report)


def pytest_sessionfinish(session, exitstatus):
    if _ci_skips and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    for tier, reasons in _ci_skips.items():
        terminalreporter.write_line(
            f"CI=true: the {tier} tier must run, but {len(reasons)} of its tests skipped: {reasons[0]}",
            red=True, bold=True)
