"""The lab gate itself (`scripts/lab.sh can-run`) on the conditions of a fresh machine.

The gate once said "not installable" on every machine where QEMU was not installed yet:
`apt-cache policy | grep -q` under `pipefail` failed when grep exited at its first match
and apt-cache died of SIGPIPE. Here the tools the gate asks are replaced by small fakes on
PATH (the package state is the only thing faked; bash, the script and its logic are real).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_SH = REPO / "scripts" / "lab.sh"

pytestmark = pytest.mark.skipif(not Path("/etc/debian_version").exists(),
                                reason="the lab gate checks for a Debian machine")

# What `apt-cache policy` prints, then far more than a pipe holds: a reader that stops at
# the first match (grep -q) makes the writer die of SIGPIPE.
POLICY = """qemu-system-x86:
  Installed: (none)
  Candidate: {candidate}
  Version table:
"""


def _fake(bin_dir: Path, name: str, body: str) -> None:
    p = bin_dir / name
    p.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    p.chmod(0o755)


def _gate(tmp_path: Path, candidate: str, calls: Path) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "id", "print(0)")                                  # as root
    _fake(bin_dir, "dpkg-query", "sys.exit(1)")                       # qemu not installed
    _fake(bin_dir, "apt-cache",
          f"sys.stdout.write({POLICY.format(candidate=candidate)!r})\n"
          "sys.stdout.write('     1:7.2 500 http://deb.debian.org/debian bookworm/main amd64 Packages\\n' * 20000)")
    _fake(bin_dir, "apt-get", f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(LAB_SH), "can-run"], capture_output=True, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)


def test_fresh_machine_with_package_lists_can_run(tmp_path):
    calls = tmp_path / "apt-get.calls"
    p = _gate(tmp_path, "1:7.2+dfsg-7+deb12u18+b3", calls)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not calls.exists(), "package lists were present: no apt-get update needed"


def test_no_candidate_after_update_says_why(tmp_path):
    calls = tmp_path / "apt-get.calls"
    p = _gate(tmp_path, "(none)", calls)
    assert p.returncode == 1
    assert p.stdout.strip().startswith("lab: skipped: qemu-system-x86 is not installable here")
    assert calls.read_text().split()[0] == "update", "a fresh machine's lists are fetched before giving up"


def test_no_script_ends_a_pipeline_in_grep_q():
    """The pattern that switched the lab off, anywhere in the scripts or the Makefile."""
    files = [*sorted((REPO / "scripts").rglob("*.sh")), REPO / "Makefile"]

    def piped_grep_q(line: str) -> bool:
        stages = line.split("#")[0].replace("||", "\0").split("|")
        return any("grep -q" in s for s in stages[1:])
    bad = [f"{f.relative_to(REPO)}:{i}" for f in files
           for i, line in enumerate(f.read_text().splitlines(), 1) if piped_grep_q(line)]
    assert not bad, f"`| grep -q` under pipefail: {bad}"
