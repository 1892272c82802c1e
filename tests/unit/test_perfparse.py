"""The perf tool's text: `perf stat -x,` CSV (real output from this machine) and
`perf kvm stat report` (real empty reports from here; rows in perf's documented format).
Both parsers are fuzzed: any text gives rows or a ParseError, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmtune.collect import perfparse
from kvmtune.errors import ParseError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "perf"


def text(name: str) -> str:
    return (FIX / name).read_text()


def test_stat_csv_of_one_thread():
    rows = {r.event: r for r in perfparse.stat_csv(text("stat-tid.csv"))}
    assert rows["task-clock"].value == pytest.approx(76.90) and rows["task-clock"].unit == "msec"
    assert rows["context-switches"].value == 294
    assert rows["cpu-migrations"].value == 13
    # no PMU here: not supported, never 0
    assert rows["cycles"].value is None and rows["cycles"].status == "<not supported>"
    assert rows["instructions"].value is None


def test_stat_csv_per_thread_intervals():
    rows = perfparse.stat_csv(text("stat-interval-per-thread.csv"), interval=True, per_thread=True)
    vcpu = [r for r in rows if r.thread == "CPU 0/TCG" and r.event == "task-clock"]
    assert len(vcpu) >= 2 and vcpu[0].time == pytest.approx(0.500584767)
    assert vcpu[0].tid == 22024 and vcpu[0].value == pytest.approx(58.54)
    assert {r.thread for r in rows} >= {"CPU 0/TCG", "qemu-system-x86", "worker"}
    assert any(r.status == "<not counted>" for r in rows)      # threads idle in the interval
    assert all(r.value is None for r in rows if r.event == "cycles")


def test_stat_csv_intervals():
    rows = perfparse.stat_csv(text("stat-interval.csv"), interval=True)
    assert {r.event for r in rows} == {"task-clock", "context-switches", "cpu-migrations", "LLC-loads"}
    assert rows[0].thread is None and rows[0].time == pytest.approx(0.500585724)


def test_stat_csv_thread_name_with_comma_and_dash():
    line = "1.0,odd,name-x-77,12,,context-switches,5,100.00,1.0,K/sec\n"
    (r,) = perfparse.stat_csv(line, interval=True, per_thread=True)
    assert (r.thread, r.tid, r.event, r.value) == ("odd,name-x", 77, "context-switches", 12)


@pytest.mark.parametrize("bad", ["12,,task-clock\n", "x,msec,task-clock,1,100.00,,\n",
                                 "1,msec,,1,100.00,,\n", "-5,,context-switches,1,100.00,,\n"])
def test_stat_csv_refuses_what_is_not_perf_stat(bad):
    with pytest.raises(ParseError):
        perfparse.stat_csv(bad)


def test_kvm_stat_x86_vmexit():
    r = perfparse.kvm_stat_report(text("kvm-stat-x86-vmexit.txt"))
    assert r.kind == "VM-EXIT" and r.scope == "all VMs, all VCPUs"
    assert r.total_samples == 44201 and r.total_us == pytest.approx(1447127.54)
    assert [x.reason for x in r.rows][:3] == ["MSR_WRITE", "HLT", "EXTERNAL_INTERRUPT"]
    hlt = r.rows[1]
    assert (hlt.samples, hlt.samples_pct, hlt.time_pct, hlt.min_us, hlt.max_us, hlt.avg_us) == \
        (8032, 18.17, 97.91, 0.49, 30110.22, 176.42)
    assert sum(x.samples for x in r.rows) == r.total_samples
    assert perfparse.exit_counts(r)["IO_INSTRUCTION"] == 2102


def test_kvm_stat_other_tables_and_the_old_format():
    io = perfparse.kvm_stat_report(text("kvm-stat-ioport.txt"))
    assert io.kind == "IO Port Access" and io.rows[0].reason == "0x70:POUT"
    old = perfparse.kvm_stat_report(text("kvm-stat-old-avg-only.txt"))
    assert old.rows[0].min_us is None and old.rows[0].avg_us == 412.30
    arm = perfparse.kvm_stat_report(text("kvm-stat-arm64-vcpu.txt"))
    assert arm.scope == "all VMs, VCPU 3" and arm.rows[-1].reason == "IRQ"    # a "-nan" stddev


@pytest.mark.parametrize("name", ["kvm-stat-tcg-empty.txt", "kvm-stat-ioport-empty.txt",
                                  "kvm-stat-vcpu0-empty.txt"])
def test_kvm_stat_real_empty_reports_of_tcg_guests(name):
    r = perfparse.kvm_stat_report(text(name))
    assert r.rows == () and r.total_samples == 0


@pytest.mark.parametrize("bad", ["", "Total Samples:0, Total events handled time:0.00us.\n",
                                 text("kvm-stat-x86-vmexit.txt").replace("8032", "80x2"),
                                 text("kvm-stat-x86-vmexit.txt") + "more\n"])
def test_kvm_stat_refuses_broken_reports(bad):
    with pytest.raises(ParseError):
        perfparse.kvm_stat_report(bad)


LINES = st.sampled_from(text("stat-interval-per-thread.csv").splitlines()
                        + text("kvm-stat-x86-vmexit.txt").splitlines())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(LINES, st.text(max_size=80)), max_size=12), st.booleans(), st.booleans())
def test_fuzz_stat_csv(lines, interval, per_thread):
    try:
        rows = perfparse.stat_csv("\n".join(lines), interval=interval, per_thread=per_thread)
    except ParseError:
        return
    for r in rows:
        assert r.value is None or r.value >= 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(LINES, st.text(max_size=80)), max_size=12))
def test_fuzz_kvm_stat(lines):
    try:
        r = perfparse.kvm_stat_report("\n".join(lines))
    except ParseError:
        return
    assert all(x.samples >= 0 for x in r.rows)
