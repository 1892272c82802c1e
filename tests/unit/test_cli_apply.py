"""`kvmtune apply` as a subprocess on the demo host: what goes to stdout and stderr, the
option types (sizes as virsh reads them), and the scope options."""

from __future__ import annotations

import pytest
from clirun import kvmtune


@pytest.fixture
def run(tmp_path):
    return lambda *args: kvmtune(*args, "--demo", state=tmp_path)


# -- stdout holds commands only for what ran (or was dry-run) ------------------------------

def test_a_rejected_action_prints_nothing_on_stdout(run):
    r = run("apply", "memtune", "db", "--hard-limit", "16G")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "kvmtune: memtune db: no guest named 'db'\n"


def test_a_refused_action_prints_nothing_on_stdout(run):
    r = run("apply", "vcpupin", "web-01", "0", "1", "--read-only")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "kvmtune: read-only mode: vcpupin web-01 was not applied\n"


def test_needs_confirmation_shows_what_yes_would_run_on_stderr(run):
    r = run("apply", "memtune", "db-primary", "--hard-limit", "16G")
    assert (r.returncode, r.stdout) == (2, "")
    err = r.stderr.splitlines()
    assert err[0] == "kvmtune: would run: virsh memtune db-primary --hard-limit 16777216 --live"
    assert err[1].startswith("kvmtune: risk: hard_limit")
    assert err[-1] == "kvmtune: not applied: re-run with --yes to confirm"


def test_applied_and_dry_run_print_the_command_on_stdout(run):
    r = run("apply", "vcpupin", "web-01", "0", "1")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.splitlines()[0] == "virsh vcpupin web-01 0 1 --live"
    r = run("apply", "vcpupin", "web-01", "0", "1", "--dry-run")
    assert r.returncode == 0 and r.stdout.splitlines() == [
        "virsh vcpupin web-01 0 1 --live", "dry run: vcpupin web-01 (live) is valid; nothing changed (#2)"]


# -- sizes: bytes limits take virsh's scaled integers, IOPS whole numbers --------------------

@pytest.mark.parametrize("text,value", [("10M", 10485760), ("10MB", 10000000), ("512k", 524288),
                                        ("1G", 1073741824), ("4096", 4096), ("10KiB", 10240)])
def test_bytes_limits_take_sizes_as_virsh_does(run, text, value):
    r = run("apply", "blkdeviotune", "db-primary", "vdb", "--total-bytes-sec", text,
            "--read-bytes-sec-max", text, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == (f"virsh blkdeviotune db-primary vdb --total-bytes-sec {value} "
                                        f"--read-bytes-sec-max {value} --live")


@pytest.mark.parametrize("opt", ["--total-iops-sec", "--size-iops-sec", "--total-bytes-sec-max-length"])
def test_iops_sizes_and_lengths_stay_whole_numbers(run, opt):
    # virsh: "Numeric value '1k' for <total-iops-sec> option is malformed"
    r = run("apply", "blkdeviotune", "db-primary", "vdb", opt, "1k", "--dry-run")
    assert (r.returncode, r.stdout) == (2, "")
    assert f"argument {opt}: '1k' is not a whole number" in r.stderr


@pytest.mark.parametrize("args,says", [
    (("memtune", "db-primary", "--hard-limit", "-5G"), "argument --hard-limit: '-5G': a size cannot be negative"),
    (("memtune", "db-primary", "--hard-limit=-5G"), "argument --hard-limit: '-5G': a size cannot be negative"),
    (("blkdeviotune", "db-primary", "vdb", "--total-bytes-sec", "-10M"),
     "argument --total-bytes-sec: '-10M': a size cannot be negative"),
    (("hugepages", "--count", "-5"), "argument --count: '-5' cannot be negative"),
    (("memtune", "db-primary", "--hard-limit", "１６G"), "argument --hard-limit: '１６G' is not a size"),
    (("blkdeviotune", "db-primary", "vdb", "--total-bytes-sec", "１０M"),
     "argument --total-bytes-sec: '１０M' is not a size"),
])
def test_bad_sizes_say_what_is_wrong(run, args, says):
    r = run("apply", *args, "--dry-run")
    assert (r.returncode, r.stdout) == (2, "")
    assert says in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_minus_one_is_still_unlimited(run):
    r = run("apply", "memtune", "cache-01", "--hard-limit", "-1", "--dry-run")
    assert r.returncode == 0 and r.stdout.startswith("virsh memtune cache-01 --hard-limit -1 --live\n")


# -- scope: --live and --config together mean both, as virsh -----------------------------

@pytest.mark.parametrize("flags,scope", [(("--live",), "live"), (("--config",), "config"),
                                         (("--current",), "current"), (("--live", "--config"), "live+config"),
                                         (("--config", "--live"), "live+config"),
                                         (("--live", "--live"), "live"), ((), None)])
def test_scope_options_parse_as_virsh(flags, scope):
    from kvmtune.cli import build_parser
    args = build_parser().parse_args(["apply", "vcpupin", "web-01", "0", "1", *flags])
    assert args.scope == scope
    if scope is not None:   # the action is built with that scope
        assert args.build(args).scope == scope


@pytest.mark.parametrize("flags", [("--current", "--live"), ("--config", "--current"),
                                   ("--live", "--config", "--current")])
def test_current_goes_alone(run, flags):
    r = run("apply", "vcpupin", "web-01", "0", "1", *flags, "--dry-run")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == ("kvmtune apply vcpupin: error: --current cannot be combined with --live or --config "
                        "(see --help)\n")


def test_live_and_config_together_reach_virsh(run):
    r = run("apply", "vcpupin", "web-01", "0", "1", "--live", "--config", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "virsh vcpupin web-01 0 1 --live --config"
