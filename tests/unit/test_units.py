import pytest

from kvmtune.units import parse_kib, to_kib
from kvmtune.vocab import MEMTUNE_UNLIMITED_KIB


@pytest.mark.parametrize("text,kib", [("2G", 2 * 1024 * 1024), ("512M", 524288), ("1048576", 1048576),
                                      ("unlimited", None), ("-1", None), ("2GiB", 2097152),
                                      ("64k", 64), ("1gb", 976563), ("1b", 1)])
def test_parse_kib(text, kib):
    assert parse_kib(text) == kib


@pytest.mark.parametrize("text", ["", "abc", "-5", "2X", "G", "1.5g", str(MEMTUNE_UNLIMITED_KIB),
                                  "99999999999999999999T"])
def test_parse_kib_rejects(text):
    with pytest.raises(ValueError):
        parse_kib(text)


def test_xml_units():
    assert to_kib(1, "GiB") == 1048576 and to_kib(2048, "KiB") == 2048 and to_kib(2048, "") == 2048
    assert to_kib(4096, "bytes") == 4


def test_scaled_and_whole_numbers():
    from kvmtune.units import parse_bytes, parse_whole
    assert parse_bytes("1M") == 1048576 and parse_bytes("0") == 0 and parse_bytes(" 200 ") == 200
    assert parse_whole(" 3 ") == 3
    for bad in ("", "1.5M", "-1", "x", "²"):
        with pytest.raises(ValueError):
            parse_bytes(bad)
    for bad in ("", "1k", "-1", "²"):
        with pytest.raises(ValueError):
            parse_whole(bad)
