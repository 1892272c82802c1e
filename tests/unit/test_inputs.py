"""inputs.py: the one place text becomes values (CLI arguments and TUI fields alike)."""

from __future__ import annotations

import inspect

import pytest

from kvmtune import inputs

# Every parser with an input it accepts: the same input in other scripts' digits must be refused.
ACCEPTED = {
    "size_kib": (inputs.size_kib, "16G", 16 * 1024 ** 2),
    "page_size_kib": (inputs.page_size_kib, "2048", 2048),
    "scaled": (inputs.scaled, "10M", 10 * 1024 ** 2),
    "iotune": (inputs.iotune("total_bytes_sec"), "10M", 10 * 1024 ** 2),
    "iotune (iops)": (inputs.iotune("total_iops_sec"), "1000", 1000),
    "whole": (inputs.whole, "10", 10),
    "at_least": (inputs.at_least(1), "10", 10),
    "cpulist": (inputs.cpulist, "0-3,8", (0, 1, 2, 3, 8)),
    "cpulist_or_unpin": (inputs.cpulist_or_unpin, "2-3", (2, 3)),
    "vcpu_or_all": (inputs.vcpu_or_all, "1", 1),
    "vcpu_list": (inputs.vcpu_list, "0,2", (0, 2)),
    "on_off": (inputs.on_off, "1", True),
    "device_weights": (inputs.device_weights, "/dev/sda,500", {"/dev/sda": 500}),
    "seconds": (inputs.seconds, "2", 2.0),
    "duration": (inputs.duration, "10m", 600.0),
    "file_size": (inputs.file_size(1024 ** 2), "2G", 2 * 1024 ** 3),
    "moment": (inputs.moment, "2026-12-01T03:10:00+00:00",
               inputs.Moment("2026-12-01T03:10:00+00:00", absolute=1796094600.0)),
    "speed": (inputs.speed, "10x", 10.0),
    "listen_address": (inputs.listen_address, "127.0.0.1:9177", ("127.0.0.1", 9177)),
}


def test_every_parser_is_covered():
    public = {n for n, f in vars(inputs).items() if inspect.isfunction(f) and f.__module__ == inputs.__name__
              and not n.startswith("_")}
    assert public == {k.split(" ")[0] for k in ACCEPTED}


def _digits(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in text)


@pytest.mark.parametrize("name", ACCEPTED)
@pytest.mark.parametrize("zero", [0xFF10, 0x0660, 0x0966], ids=["full-width", "arabic-indic", "devanagari"])
def test_digits_are_ascii_only_in_every_parser(name, zero):
    parse, text, value = ACCEPTED[name]
    assert parse(text) == value   # the ASCII form is accepted: the refusal below is about the digits
    other = _digits(text, zero)
    assert int(_digits("10", zero)) == 10   # Python's int() would take them
    with pytest.raises(ValueError):
        parse(other)


@pytest.mark.parametrize("parse,text", [(inputs.size_kib, "-5G"), (inputs.size_kib, "-5"),
                                        (inputs.page_size_kib, "-2M"), (inputs.scaled, "-10M"),
                                        (inputs.scaled, "-1")])
def test_a_size_cannot_be_negative(parse, text):
    with pytest.raises(ValueError, match=f"^'{text}': a size cannot be negative$"):
        parse(text)


@pytest.mark.parametrize("parse", [inputs.whole, inputs.iotune("read_iops_sec"), inputs.vcpu_or_all])
def test_a_whole_number_cannot_be_negative(parse):
    with pytest.raises(ValueError, match=r"^'-5' cannot be negative \(a whole number of 0 or more\)$"):
        parse("-5")


def test_unlimited_memory():
    assert inputs.size_kib("-1") is None and inputs.size_kib(" Unlimited ") is None


@pytest.mark.parametrize("text,value", [
    ("10", 10), ("10b", 10), ("10bytes", 10), ("10k", 10240), ("10KiB", 10240), ("10kb", 10000),
    ("10M", 10485760), ("10mib", 10485760), ("10MB", 10 ** 7), ("1G", 1024 ** 3), ("1gb", 10 ** 9),
    ("1T", 1024 ** 4), ("1tb", 10 ** 12), ("0", 0),
])
def test_bytes_as_virsh_scales_them(text, value):
    """The values virsh 9.0 gave for `blkdeviotune --total-bytes-sec TEXT` (read back)."""
    assert inputs.scaled(text) == value


@pytest.mark.parametrize("text", ["10Mi", "10x", "1e3", "10.5M", "", "M"])
def test_bytes_virsh_refuses(text):
    with pytest.raises(ValueError, match="is not a size"):
        inputs.scaled(text)


@pytest.mark.parametrize("key,bytes_", [
    ("total_bytes_sec", True), ("read_bytes_sec", True), ("write_bytes_sec_max", True),
    ("total_iops_sec", False), ("write_iops_sec_max", False), ("size_iops_sec", False),
    ("total_bytes_sec_max_length", False), ("read_iops_sec_max_length", False),
])
def test_iotune_parser_per_key_as_virsh(key, bytes_):
    """virsh blkdeviotune: "as scaled integer (default bytes)" for the bytes limits only."""
    parse = inputs.iotune(key)
    assert parse("4") == 4
    if bytes_:
        assert parse("4k") == 4096
    else:
        with pytest.raises(ValueError, match="is not a whole number"):
            parse("4k")


@pytest.mark.parametrize("text", ["1_0", "inf", "nan", "1e3", "0", "-2", " "])
def test_seconds_refuses_what_float_would_take(text):
    with pytest.raises(ValueError):
        inputs.seconds(text)


def test_seconds():
    assert inputs.seconds(" 0.5 ") == 0.5 and inputs.seconds("2.") == 2.0 and inputs.seconds(".25") == 0.25


@pytest.mark.parametrize("text,value", [("90s", 90), ("90", 90), ("10m", 600), ("2h", 7200), ("1h30m", 5400),
                                        ("1d", 86400), ("1.5s", 1.5), (" 2H ", 7200), ("1.5h", 5400),
                                        (" 2 H ", 7200), (".5m", 30)])
def test_duration(text, value):
    assert inputs.duration(text) == value


@pytest.mark.parametrize("text", ["", "m", "10x", "1m1h", "-5m", "1e3", "inf", "ten", "10ms", "0s", "1e3s", "s"])
def test_duration_refuses(text):
    with pytest.raises(ValueError, match=r"is not a duration|more than 0"):
        inputs.duration(text)


def test_moments_are_placed_in_the_recording(monkeypatch):
    """A time of day is the first one at or after the start (past midnight: the next day);
    +/- count from the start/end; a naive date-time is local, a zone is honoured."""
    import time
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        start = inputs.moment("2026-12-01 23:00").place(0, 0)   # local: 22:00 UTC
        assert start == 1796162400.0
        end = start + 3 * 3600                                      # 02:00 the next day
        assert inputs.moment("23:30").place(start, end) == start + 1800
        assert inputs.moment("00:30:15").place(start, end) == start + 5400 + 15
        assert inputs.moment("22:59").place(start, end) == start + 86400 - 60   # the first at or after the start
        assert inputs.moment("+10m").place(start, end) == start + 600
        assert inputs.moment("-1h").place(start, end) == end - 3600
        assert inputs.moment("1796162400").place(start, end) == start
        assert inputs.moment("2026-12-01T22:00:00Z").place(start, end) == start
        assert inputs.moment("2026-12-01T23:00:00+01:00").place(start, end) == start
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("text,msg", [("24:00", "not a time of day"), ("12:60", "not a time of day"),
                                      ("+", "give a duration"), ("-x", "give a duration"),
                                      ("yesterday", "is not a time"), ("2026-13-01", "is not a time"),
                                      ("", "is not a time")])
def test_moment_refuses(text, msg):
    with pytest.raises(ValueError, match=msg):
        inputs.moment(text)


def test_file_size():
    at_least_1m = inputs.file_size(1024 ** 2)
    assert at_least_1m("500M") == 500 * 1024 ** 2 and at_least_1m("2MB") == 2 * 10 ** 6
    assert at_least_1m("1M") == 1024 ** 2
    with pytest.raises(ValueError, match=r"^'1023K' is too small: at least 1 MiB$"):
        at_least_1m("1023K")
    with pytest.raises(ValueError, match="not a size"):
        at_least_1m("2Q")


def test_a_time_of_day_is_placed_to_the_precision_typed():
    """A recording starts at a fraction of a second that --info and the header do not show:
    typing its start back ("10:00", "10:00:01") means that moment, not the next day's."""
    start = inputs.moment("2026-12-01 10:00:01.37").place(0, 0)
    end = start + 3 * 3600
    assert inputs.moment("10:00").place(start, end) == pytest.approx(start - 1.37)
    assert inputs.moment("10:00:01").place(start, end) == pytest.approx(start - 0.37)
    assert inputs.moment("09:59").place(start, end) == pytest.approx(start - 61.37 + 86400)
    # a --to time of day is placed after --from: 23:00 to 01:00 crosses midnight
    late = inputs.moment("2026-12-01 22:30").place(0, 0)
    frm = inputs.moment("23:00").place(late, late + 4 * 3600)
    assert inputs.moment("01:00").place(late, late + 4 * 3600, after=frm) == frm + 2 * 3600



@pytest.mark.parametrize("text,value", [
    ("127.0.0.1:9177", ("127.0.0.1", 9177)), ("[::1]:9177", ("::1", 9177)), (":9177", ("", 9177)),
    ("localhost:0", ("localhost", 0)), (" 0.0.0.0:80 ", ("0.0.0.0", 80)),
])
def test_listen_address(text, value):
    assert inputs.listen_address(text) == value


@pytest.mark.parametrize("text", ["9177", "127.0.0.1", "::1:9177", "[::1]", "host:port", "a:70000", "a b:1",
                                  "[::1]:-1"])
def test_listen_address_refuses(text):
    with pytest.raises(ValueError):
        inputs.listen_address(text)
