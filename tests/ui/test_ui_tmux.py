"""`kvmtune --demo` in a real terminal (tmux) at 80x24: the table, every pane title, q exits 0.

Each test runs its own tmux server (-L) so nothing is shared with a user's sessions;
the command is passed as an argv (tmux runs it without a shell).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvmtune.ui.panes import PANES

pytestmark = pytest.mark.timeout(120)

if shutil.which("tmux") is None:
    pytest.skip("tmux is not installed (apt-get install tmux)", allow_module_level=True)


class Tmux:
    def __init__(self, tmp: Path, env: dict[str, str]):
        self.sock = f"kvmtune-test-{os.getpid()}-{id(self)}"
        self.env = env
        self.status_file = tmp / "exit-status"

    def run(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.sock, *args], check=check, capture_output=True,
                              text=True, env=self.env, timeout=20).stdout

    def start(self, argv: list[str]) -> None:
        # A small runner records kvmtune's exit status in a file: tmux itself sometimes leaves
        # an exited pane's process unreaped (a zombie, pane_dead stays 0) under load.
        runner = [sys.executable, "-c", RUNNER, str(self.status_file), *argv]
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "80", "-y", "24", *runner)
        self.run("set-option", "-t", "t", "remain-on-exit", "on")

    def screen(self, colours: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if colours else []), "-t", "t")

    def keys(self, *keys: str) -> None:
        for k in keys:        # one at a time: "Escape" then a letter must not become Alt+letter
            self.run("send-keys", "-t", "t", k)
            time.sleep(0.3)

    def wait(self, text: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while True:
            s = self.screen()
            if text in s:
                return s
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never appeared; screen:\n{s}")
            time.sleep(0.2)

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while True:
            s = self.screen()
            if text not in s:
                return s
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never went away; screen:\n{s}")
            time.sleep(0.2)

    def exit_status(self, timeout: float = 15.0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.status_file.exists() and self.status_file.read_text():
                return int(self.status_file.read_text())
            time.sleep(0.2)
        raise AssertionError(f"kvmtune did not exit; screen:\n{self.screen()}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path):
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("NO_COLOR", None)
    t = Tmux(tmp_path, env)
    yield t
    t.kill()


# xterm-256 colours without hue: the grey ramp, the cube's diagonal, black/white/greys
GREYS = set(range(232, 256)) | {16, 59, 102, 145, 188, 231} | {0, 7, 8, 15}

KVMTUNE = [sys.executable, "-m", "kvmtune.cli", "--demo"]
RUNNER = ("import subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
          "open(sys.argv[1], 'w').write(str(rc))")


def test_demo_in_tmux_shows_table_and_every_pane_and_q_exits_0(tmux):
    tmux.start(KVMTUNE)
    s = tmux.wait("build-runner")
    assert "Name" in s and "Local" in s and "hv-demo-01" in s
    for i, (_, title) in enumerate(PANES):
        assert f"{i + 1} {title}" in s          # every pane's tab title is on screen at 80x24
    lines = s.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    for key, expect in (("2", "vCPU state"), ("3", "held by guests"), ("4", "sharing ratio"),
                        ("5", "limits"), ("6", "memoryBacking"), ("9", "(guest view)"), ("1", "locality")):
        tmux.keys(key)
        tmux.wait(expect)
    # Each key waits for the screen it leads to: under load a key sent before the previous
    # one was handled lands on the wrong screen (or ESC + q arrive together as Alt+q).
    tmux.keys("H")
    tmux.wait("Host view")
    tmux.keys("Escape")
    tmux.wait_gone("Host view")
    tmux.keys("?")
    tmux.wait("keys and columns")
    tmux.keys("Escape")
    tmux.wait_gone("keys and columns")
    tmux.keys("q")
    assert tmux.exit_status() == 0


def test_footer_fits_80_columns_and_ctrl_c_exits_0(tmux):
    tmux.start(KVMTUNE)
    tmux.wait("build-runner")
    s = tmux.wait("palette")
    footer = next(line for line in s.splitlines() if "palette" in line)
    for key in ("q Quit", "? Help", "/ Filter", "> Sort", "p Pin", "^p palette"):
        assert key in footer, footer
    tmux.keys("C-c")
    assert tmux.exit_status() == 0


def test_no_color_has_no_colour_codes(tmux):
    tmux.env["NO_COLOR"] = "1"
    tmux.start(["env", "NO_COLOR=1", *KVMTUNE, "--read-only"])
    tmux.wait("build-runner")
    tmux.wait("READ-ONLY")
    # Textual renders NO_COLOR as monochrome: shades of grey only, no hue anywhere. Capture
    # after the first refresh has painted (under load the first frame can still be settling).
    tmux.wait("age ")             # the header's sample age (at 80x24 "age 0.4s/2s", the interval in it)
    time.sleep(1.0)
    coloured = tmux.screen(colours=True)
    codes = {int(n) for n in re.findall(r"[34]8;5;(\d+)", coloured)}
    assert codes and codes <= GREYS, sorted(codes - GREYS)
    assert "38;2;" not in coloured and "48;2;" not in coloured
    tmux.keys("p")
    tmux.wait("read-only: 'p' (pin) is disabled")
    tmux.keys("q")
    assert tmux.exit_status() == 0


def test_replay_in_tmux_shows_the_timeline_and_steps(tmux, tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from reckit import make_recording
    path = tmp_path / "demo.kvmrec"
    make_recording(path, samples=40, action_at=20)
    tmux.start([sys.executable, "-m", "kvmtune.cli", "replay", str(path)])
    tmux.wait("1/40")
    # (the replay line is up a moment before the first sample is shown: a full UI run here
    # once caught the header still "collecting the first snapshot" beside "1/40")
    s = tmux.wait("hv-demo-01")
    assert "REPLAY" in s and "●" in s and "⏸" in s and "hv-demo-01" in s
    lines = s.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    tmux.keys("]")
    tmux.wait("2/40")
    tmux.keys("]")
    tmux.wait("3/40")
    tmux.keys("[")
    tmux.wait("2/40")
    tmux.keys(")")
    s = tmux.wait("21/40")
    assert "#1 ksm host: applied" in s
    tmux.keys("p")
    tmux.wait("'p' (pin) is disabled: this is a recording")
    tmux.keys("q")
    assert tmux.exit_status() == 0


# vCPU, state, tid, CPU, node, time, %, pin, affinity (the pane's columns, as virsh vcpuinfo and more)
VCPU_ROW = re.compile(r"^ (\d+)\s+(running|halted|blocked|stopped|offline)\s+(\d+)\s+(\d+)\s+(\d+)\s+"
                      r"(\S+)\s+(\d+%|-)\s+(yes|-)\s+([\d,-]+)")


def test_scrolling_pane_2_reads_every_vcpu_of_an_8_vcpu_guest_at_80x24(tmux):
    tmux.start(KVMTUNE)
    tmux.wait("db-primary")
    tmux.keys("/", *"db-primary", "Enter", "2")
    tmux.wait("vCPU state")
    s = tmux.wait("more line")    # (the line under the pane comes a refresh after the pane)
    assert "db-primary  8 vCPUs  pinned 8 of 8" in s
    seen: set[int] = set()
    for _ in range(12):           # shift+down, as a terminal over SSH sends it, a line at a time
        for m in filter(None, map(VCPU_ROW.match, s.splitlines())):
            # db-primary's vCPUs are pinned 1:1 to node 1 (CPUs 8-15): each on its own CPU
            assert m.group(8) == "yes" and m.group(9) == m.group(4) == str(8 + int(m.group(1))), m.group(0)
            seen.add(int(m.group(1)))
        if "more line" not in s:
            break
        assert "⇧↓" in s          # the line under the pane says how to see the rest
        tmux.keys("S-Down")
        s = tmux.screen()
    assert seen == set(range(8)), s
    s = tmux.wait("above")    # (under load a capture can come before the line under the pane is redrawn)
    lines = s.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    tmux.keys("f")                # full screen: the table and header go, the pane stays
    s = tmux.wait_gone("hv-demo-01")
    assert "vCPU" in s or "host CPUs" in s or "above" in s
    tmux.keys("Escape")
    tmux.wait("hv-demo-01")
    tmux.keys("q")
    assert tmux.exit_status() == 0
