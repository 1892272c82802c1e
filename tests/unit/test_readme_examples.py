"""Every `kvmtune ...` line in the README's code blocks runs as written, on the demo host.

Lines are taken in README order and run as a subprocess, one private state directory per
code block (the audit log, and the demo's state): a later line of a block sees what an
earlier one did, as a new user trying that example would (the demo block's `undo 1` only
works because the demo is one host across calls):
- the full-screen view (no command) is the ui tier's, not run here;
- a synopsis (a metavariable such as ACTION, DIR, [ID], or "...") must name a real command
  and real options: checked against that command's --help;
- `--host-only` runs as written (this machine's /sys and /proc, no libvirt; not with --demo);
- every other line gets `--demo` (where the command takes it) and must exit 0, or 2 with the
  risk and the --yes hint where its comment says it "asks for --yes" (1 where it says "exit 1");
  a `--dry-run` line
  says so; a command shown in its comment in backquotes is printed as shown.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from clirun import kvmtune

README = Path(__file__).resolve().parents[2] / "README.md"
METAVAR = re.compile(r"\[?[A-Z][A-Z_]*\]?|\.\.\.")


def readme_lines() -> list[tuple[list[str], str, int]]:
    """(argv, comment, block) for each `kvmtune` line in a fenced code block; "a / b" is two lines."""
    out: list[tuple[list[str], str, int]] = []
    fenced, block = False, 0
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            block += 1
            continue
        if not (fenced and line.startswith("kvmtune")):
            continue
        code, _, comment = line.partition(" #")
        for part in code.split(" / "):
            out.append((shlex.split(part), comment.strip(), block))
    return out


def test_the_readme_has_examples():
    lines = readme_lines()
    tuning = [a for a, _, _ in lines if a[1:2] == ["apply"] and not any(METAVAR.fullmatch(t) for t in a)]
    assert len(lines) >= 15 and len(tuning) >= 6


def test_readme_examples_run_on_the_demo(tmp_path):
    helps: dict[tuple[str, ...], str] = {}

    def help_of(cmd: tuple[str, ...]) -> str:
        if cmd not in helps:
            r = kvmtune(*cmd, "--help", state=tmp_path)
            assert r.returncode == 0, f"kvmtune {' '.join(cmd)} --help: {r.stderr}"
            helps[cmd] = r.stdout
        return helps[cmd]

    def command_of(argv: list[str]) -> tuple[str, ...]:
        words = [t for t in argv[1:] if not t.startswith("-")]
        return tuple(words[:2] if words[:1] == ["apply"] else words[:1])

    failures: list[str] = []
    for argv, comment, block in readme_lines():
        line = shlex.join(argv)
        if all(t.startswith("-") for t in argv[1:]):   # the full-screen view: the ui tier runs it
            assert argv[1:] in ([], ["--demo"]), line
            continue
        cmd = command_of([t for t in argv if not METAVAR.fullmatch(t)])
        if any(METAVAR.fullmatch(t) for t in argv):    # a synopsis: real command, real options
            text = help_of(cmd)
            failures += [f"{line}: {o} is not an option of kvmtune {' '.join(cmd)}"
                         for o in argv if o.startswith("--") and o not in text]
            continue
        args = argv[1:]
        if "--host-only" not in args and "--demo" not in args and re.search(r"(?m)^\s+--demo\s", help_of(cmd)):
            args = [*args, "--demo"]
        r = kvmtune(*args, state=tmp_path / f"block-{block}")
        asks = "asks for --yes" in comment
        want = 2 if asks else 1 if "exit 1" in comment else 0
        if r.returncode != want:
            failures.append(f"{line}: exit {r.returncode}, not {want}: {r.stderr.strip()}")
            continue
        if asks and not ("kvmtune: risk: " in r.stderr and "re-run with --yes" in r.stderr and r.stdout == ""):
            failures.append(f"{line}: does not name the risk and --yes: {r.stderr!r}")
        if "--dry-run" in args and "dry run: " not in r.stdout:
            failures.append(f"{line}: no dry-run result: {r.stdout!r}")
        for shown in re.findall(r"`((?:echo|virsh) [^`]+)`", comment):
            if shown not in r.stdout.splitlines():
                failures.append(f"{line}: does not print `{shown}`: {r.stdout!r}")
    assert not failures, "\n".join(failures)

