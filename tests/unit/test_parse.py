"""parse: the kernel text parsers, on real samples and on anything Hypothesis makes up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmtune import parse
from kvmtune.parse import ParseError


def test_meminfo_global_and_per_node():
    assert parse.meminfo("MemTotal:  100 kB\nHugePages_Total:   4\n\n") == {"MemTotal": 100, "HugePages_Total": 4}
    assert parse.meminfo("Node 3 MemFree:  7 kB\nNode 3 HugePages_Free:   2\n") == {"MemFree": 7, "HugePages_Free": 2}
    for bad in ("MemTotal 100", "MemTotal:", "MemTotal: x kB", "MemTotal: -5 kB"):
        with pytest.raises(ParseError):
            parse.meminfo(bad)


def test_numa_stat_v1_and_v2():
    assert parse.numa_stat_anon("total=10 N0=10\nanon=4035 N0=4000 N1=35\n") == {0: 16000, 1: 140}
    assert parse.numa_stat_anon("file N0=0\nanon N0=16527360 N2=4096\n") == {0: 16140, 2: 4}
    with pytest.raises(ParseError, match="no anon line"):
        parse.numa_stat_anon("file=0 N0=0\n")
    with pytest.raises(ParseError):
        parse.numa_stat_anon("anon=3 X0=3\n")


def test_numa_maps_kernel_doc_example(shared_fixtures):
    t = parse.numa_maps((shared_fixtures / "numa_maps/kernel-doc-example.txt").read_text())
    assert t.huge == {2048: {3: 1}}
    assert t.huge_kib() == {3: 2048}
    assert t.stack == {3: 12}
    assert t.heap == {}
    # every non-huge, non-stack page with a node count is Private (4 KiB each)
    assert t.private == {0: (24 + 41) * 4, 3: (1 + 1 + 2 + 1 + 1 + 1 + 18 + 2 + 1 + 3 + 3 + 2 + 1) * 4}


def test_numa_maps_errors():
    assert parse.numa_maps("\n") == parse.NumaMapsTotals({}, {}, {}, {})
    with pytest.raises(ParseError, match="bad address"):
        parse.numa_maps("zz default N0=1\n")
    with pytest.raises(ParseError, match="too short"):
        parse.numa_maps("7f00\n")


def test_ksm_stat_and_status():
    assert parse.ksm_stat("ksm_rmap_items 9\nksm_merging_pages 5\nksm_process_profit 20480\nksm_merge_any: no\n") == {
        "ksm_rmap_items": 9, "ksm_merging_pages": 5, "ksm_process_profit": 20480}
    with pytest.raises(ParseError):
        parse.ksm_stat("ksm_merge_any: no\n")
    st_ = parse.status("Name:\tqemu-system-x86\nRssAnon:\t   16140 kB\nHugetlbPages:\t  131072 kB\n")
    assert (st_["RssAnon"], st_["HugetlbPages"]) == (16140, 131072) and "Name" not in st_


def test_task_stat_comm_with_space_and_paren():
    rest = ["S"] + ["0"] * 10 + ["29", "3"] + ["0"] * 23 + ["5"] + ["0"] * 13
    s = parse.task_stat("12216 (CPU 0/TCG) " + " ".join(rest))
    assert (s.comm, s.state, s.utime, s.stime, s.processor) == ("CPU 0/TCG", "S", 29, 3, 5)
    s = parse.task_stat("1 (a) b) c) " + " ".join(rest))
    assert s.comm == "a) b) c" and s.processor == 5
    with pytest.raises(ParseError, match="need 39"):
        parse.task_stat("1 (x) S 1 2 3")
    with pytest.raises(ParseError, match="no \\(comm\\)"):
        parse.task_stat("1 x S")


def test_schedstat_and_cpu_stat():
    assert parse.schedstat_ns("1024383032 177492022 2563\n") == 1024383032
    assert parse.first_int("63135554495448\n", "cpuacct.usage") == 63135554495448
    # cgroup v2 cpu.stat in microseconds; with the cpu controller on it has more lines first or after
    text = "usage_usec 1666558\nuser_usec 1218810\nsystem_usec 447747\nnr_periods 0\n"
    assert parse.cpu_stat_usage_ns(text) == 1_666_558_000
    assert parse.cpu_stat_usage_ns("core_sched.force_idle_usec 0\nusage_usec 5\n") == 5000
    for bad, fn in (("", parse.schedstat_ns), ("-1 2 3", parse.schedstat_ns),
                    ("user_usec 5\n", parse.cpu_stat_usage_ns), ("usage_usec x\n", parse.cpu_stat_usage_ns)):
        with pytest.raises(ParseError):
            fn(bad)


def test_proc_stat_cpus():
    t = parse.proc_stat_cpus("cpu  9 9 9 9\ncpu0 10 1 5 80 4 0 0 0 3 0\ncpu2 1 0 0 9\nintr 1 2\n")
    assert t == {0: parse.CpuTicks(busy=16, total=100), 2: parse.CpuTicks(busy=1, total=10)}
    for bad in ("intr 1\n", "cpu0 1 2\n", "cpux 1 2 3 4\n", "cpu0 1 2 3 x\n"):
        with pytest.raises(ParseError):
            parse.proc_stat_cpus(bad)


def test_bracketed():
    assert parse.bracketed("always [madvise] never\n") == "madvise"
    with pytest.raises(ParseError):
        parse.bracketed("always madvise never")


# Text that looks like the real formats, plus plain noise.
_TOKENS = st.sampled_from(["N0=", "N1=4", "anon=", "anon", "huge", "heap", "stack", "kernelpagesize_kB=",
                           "kernelpagesize_kB=2048", "MemTotal:", "Node 0", "kB", "(", ")", "CPU 0/KVM",
                           "7f00", "-1", "0", "18446744073709551615", "x", ":", "=", " ", "\n", "\t", "\0",
                           "cpu0", "ksm_merging_pages", "99999999999999999999"])
_TEXT = st.lists(_TOKENS, max_size=60).map("".join) | st.text(max_size=200)
PARSERS = [parse.meminfo, parse.numa_maps, parse.numa_stat_anon, parse.ksm_stat, parse.task_stat,
           parse.status, parse.proc_stat_cpus, parse.bracketed, parse.schedstat_ns, parse.cpu_stat_usage_ns,
           parse.proc_cgroup, parse.net_dev, lambda t: parse.qemu_netdevs(["-netdev", t, *t.split()])]


@pytest.mark.parametrize("parser", PARSERS,
                         ids=lambda p: getattr(p, "__name__", "?").replace("<lambda>", "qemu_netdevs"))
@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_parsers_raise_only_parse_error(parser, text):
    try:
        parser(text)
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**48).map(lambda a: format(a, "x")), st.integers(0, 7),
                          st.integers(0, 10**6), st.sampled_from(["", " huge", " stack", " heap"]),
                          st.sampled_from([4, 2048, 1048576])), max_size=20))
def test_numa_maps_sums(lines):
    text = "".join(f"{a} default{k} anon={p} N{n}={p} kernelpagesize_kB={s}\n" for a, n, p, k, s in lines)
    t = parse.numa_maps(text)
    huge_pages = sum(p for _, _, p, k, _ in lines if k == " huge")
    assert sum(c for per in t.huge.values() for c in per.values()) == huge_pages
    assert sum(t.private.values()) == sum(p * s for _, _, p, k, s in lines if k == "")


def test_proc_cgroup_names_each_v1_controller_and_the_v2_path():
    # a hybrid host's QEMU process: v1 hierarchies (one joint) and the unified tree
    text = ("12:memory:/machine/qemu-3-web.libvirt-qemu/emulator\n"
            "4:cpu,cpuacct:/machine/qemu-3-web.libvirt-qemu/emulator\n"
            "1:name=systemd:/machine.slice\n"
            "0::/machine/qemu-3-web.libvirt-qemu/emulator\n"
            "not a cgroup line\n")
    got = parse.proc_cgroup(text)
    assert got["memory"] == ("memory", "/machine/qemu-3-web.libvirt-qemu/emulator")
    assert got["cpu"] == got["cpuacct"] == ("cpu,cpuacct", "/machine/qemu-3-web.libvirt-qemu/emulator")
    assert got[""] == ("", "/machine/qemu-3-web.libvirt-qemu/emulator")
    assert set(got) == {"memory", "cpu", "cpuacct", "name=systemd", ""}
