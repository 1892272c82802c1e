"""Number formatting: every view prints sizes, rates and shares alike."""

from __future__ import annotations

import pytest

from kvmtune import fmt


@pytest.mark.parametrize("kib,text", [(None, "-"), (0, "0K"), (1023, "1023K"), (1536, "1.5M"),
                                      (1048576, "1.0G"), (500 * 1024 * 1024, "500G")])
def test_fmt_kib(kib, text):
    assert fmt.fmt_kib(kib) == text


def test_fmt_rate_and_others():
    assert fmt.fmt_rate(None) == "-"
    assert fmt.fmt_rate(999) == "999B/s"
    assert fmt.fmt_rate(1_500_000) == "1.5M/s"
    assert fmt.fmt_bytes(2048) == "2.0K"
    assert fmt.fmt_pct(0.873) == "87%"
    assert fmt.fmt_pct(87.3, of_one=False) == "87%"
    assert fmt.fmt_count(12_345) == "12.3k"


def test_bar_and_sparkline():
    assert fmt.bar(0.5, 4) == "██░░"
    assert fmt.bar(2.0, 3) == "███"
    assert fmt.bar(None, 3) == "   "
    assert fmt.sparkline([0, 4, 8], 5) == "  " + " ▄█"
    assert fmt.sparkline([], 3) == "   "
    assert len(fmt.sparkline(range(100), 10)) == 10
    assert fmt.sparkline([1, None, 1], 3, top=2) == "▄ ▄"


def test_span():
    assert [fmt.span(s) for s in (0, 2, 42.5, 60, 3725, 86400 * 2 + 5, None, -1)] == \
        ["0s", "2s", "42.5s", "1m 0s", "1h 2m 5s", "2d 0h 0m", "?", "?"]


def test_short_rates_fit_four_characters():
    from kvmtune.fmt import fmt_rate_short
    cases = {0: "0B", 999: "999B", 999.6: "1.0k", 8_900_000: "8.9M", 9_960_000: "10M", 99_800_000: "100M",
             348_000: "348k", 999_700_000: "1.0G", None: "-"}
    assert {v: fmt_rate_short(v) for v in cases} == cases
    assert all(len(fmt_rate_short(10 ** (k / 7))) <= 4 for k in range(0, 100))


def test_shorten_middle_keeps_the_end_that_tells_guests_apart():
    from kvmtune.fmt import shorten_middle
    assert shorten_middle("kvmtune-lab-plain2", 12) == "kvmt…-plain2"
    assert shorten_middle("kvmtune-lab-plain1", 12) != shorten_middle("kvmtune-lab-plain2", 12)
    assert shorten_middle("web-01", 12) == "web-01"
    for w in range(0, 20):
        assert len(shorten_middle("abcdefghijklmnopqrstuvwxyz", w)) == w


def test_cpu_time_fits_the_vcpu_panes_six_characters():
    """Cumulative CPU time as the vCPU pane's `time` column: seconds, then minutes and
    seconds, hours and minutes, days and hours (virsh vcpuinfo says 723.0s)."""
    cases = {0: "0.0s", 59_100_000_000: "59.1s", 59_990_000_000: "1m00s", 723_000_000_000: "12m03s",
             3_599_999_999_999: "59m59s", 11_520 * 10 ** 9: "3h12m", 3_553_200 * 10 ** 9: "41d03h",
             None: "-", -5: "-"}
    assert {v: fmt.cpu_time(v) for v in cases} == cases
    assert all(len(fmt.cpu_time(int(10 ** (k / 4)))) <= 6 for k in range(0, 4 * 15))   # under 999 days
