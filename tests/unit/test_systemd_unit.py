"""contrib/systemd/kvmtune-record.service cannot drift from the CLI: its ExecStart is parsed
by kvmtune's own parser, and what it names is where the unit lets it write."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kvmtune.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "kvmtune-record.service"


def service() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp["Service"]


def exec_start() -> list[str]:
    argv = shlex.split(service()["ExecStart"])
    return [a.replace("%H", "hv-01") for a in argv]   # systemd's host name specifier


def test_exec_start_is_a_real_record_command_line():
    argv = exec_start()
    assert Path(argv[0]).name == "kvmtune" and Path(argv[0]).is_absolute()
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as e:   # the parser's one-line error (on stderr) names what drifted
        pytest.fail(f"ExecStart does not parse as a kvmtune command line (exit {e.code})")
    assert args.command == "record" and args.func.__module__ == "kvmtune.cli.record"
    assert args.max_size == 2 * 1024 ** 3 and args.interval == 2.0 and args.duration is None
    assert not getattr(args, "demo", False)   # a real host


def test_the_recording_is_where_the_unit_may_write():
    s = service()
    path = Path(exec_start()[2])
    state = [Path("/var/lib") / d for d in s["StateDirectory"].split()]
    assert path.parent in state and s["ProtectSystem"] == "strict"


def test_restart_skips_what_a_restart_cannot_fix():
    s = service()
    assert s["Restart"] == "on-failure" and s["RestartPreventExitStatus"].split() == ["2"]


# -- contrib/systemd/kvmtune-exporter.service ------------------------------------------------

EXPORTER_UNIT = UNIT.with_name("kvmtune-exporter.service")


def exporter_service() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(EXPORTER_UNIT.read_text())
    return cp["Service"]


def test_exporter_exec_start_is_a_real_export_command_line():
    argv = shlex.split(exporter_service()["ExecStart"])
    assert Path(argv[0]).name == "kvmtune" and Path(argv[0]).is_absolute()
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as e:
        pytest.fail(f"ExecStart does not parse as a kvmtune command line (exit {e.code})")
    assert args.command == "export" and args.func.__module__ == "kvmtune.cli.export"
    assert args.listen == ("127.0.0.1", 9177)   # localhost: another address needs --web-config or a proxy
    assert args.interval == 5.0 and args.web_config is None and not getattr(args, "demo", False)


def test_exporter_is_hardened_like_the_recorder_and_writes_nothing():
    rec, exp = service(), exporter_service()
    for key in ("NoNewPrivileges", "CapabilityBoundingSet", "ProtectSystem", "PrivateTmp", "PrivateDevices",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
                "ProtectClock", "ProtectHostname", "RestrictAddressFamilies", "RestrictNamespaces",
                "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures",
                "SystemCallFilter", "SystemCallErrorNumber"):
        assert exp[key] == rec[key], key
    assert exp["ReadOnlyPaths"] == "/" and exp["ProtectHome"] == "yes" and "StateDirectory" not in exp
    assert exp["Restart"] == "on-failure" and exp["RestartPreventExitStatus"].split() == ["2"]


# -- both units: --perf ---------------------------------------------------------------------

@pytest.mark.parametrize("unit", [UNIT, EXPORTER_UNIT], ids=lambda u: u.name)
def test_a_filtered_call_fails_with_eperm_rather_than_killing_the_service(unit):
    """perf_event_open is outside @system-service: without SystemCallErrorNumber the kernel
    kills the service with SIGSYS as soon as --perf opens a counter (a restart loop)."""
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    text = unit.read_text()
    cp.read_string(text)
    s = cp["Service"]
    assert s["SystemCallFilter"] == "@system-service" and s["SystemCallErrorNumber"] == "EPERM"
    # how to enable --perf, commented: the call and the capability
    assert "#   SystemCallFilter=perf_event_open" in text and "#   AmbientCapabilities=CAP_PERFMON" in text


def test_perf_event_open_is_outside_system_service():
    """Why the above matters, asked of this machine's systemd (skip where there is none)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    out = subprocess.run(["systemd-analyze", "syscall-filter", "@system-service"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "perf_event_open" not in out.stdout.split()


@pytest.mark.parametrize("unit", [UNIT, EXPORTER_UNIT], ids=lambda u: u.name)
def test_the_unit_passes_systemd_analyze_verify(unit, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / unit.name   # ExecStart's binary must exist for verify: /bin/true stands in
    copy.write_text(unit.read_text().replace("/usr/local/bin/kvmtune", "/bin/true"))
    out = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and unit.name not in out.stderr, out.stderr
