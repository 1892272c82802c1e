"""Pane text for hand-made snapshots: cases the demo host does not produce."""

from dataclasses import replace
from pathlib import Path

from kvmtune.frame import Framer
from kvmtune.model import Snapshot
from kvmtune.ui import blockpane, headertext, panes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snapshot-2node.json"


def test_idle_vcpu_outside_its_new_pin_is_explained():
    snap = Snapshot.loads(FIXTURE.read_text())
    web1 = snap.guest("web1")
    # vCPU 1 was pinned to CPU 6 but has not run since: the kernel still reports CPU 1.
    stale = replace(web1, vcpus=(web1.vcpus[0], replace(web1.vcpus[1], affinity=(6,))))
    frame = Framer().push(snap)
    text = panes.vcpu_pane(frame, stale)
    lines = [ln for ln in text.splitlines() if ln.startswith("1 ")]
    assert lines and "last ran before the pin" in lines[0]
    fresh = panes.vcpu_pane(frame, web1)
    assert "last ran before" not in fresh


def test_numa_pane_says_how_much_is_ksm_shared_on_which_node():
    """The demo host merges pages while KSM runs: pane 1 names the KSM-shared part of the
    guest's memory per node, with the snapshot's figures (web-02 spans nodes 0 and 1)."""
    from kvmtune import fmt
    from kvmtune.demo import DemoFeed, open_demo
    src = open_demo(seed=1)
    try:
        snap = DemoFeed(src).next()
    finally:
        src.close()
    g = snap.guest("web-02")
    shared = g.ksm.shared_kib
    assert set(shared) == {0, 1} and sum(shared.values()) == g.ksm.merging_pages * 4
    want = (f"KSM-shared {fmt.fmt_kib(sum(shared.values()))} (node 0 {fmt.fmt_kib(shared[0])}, "
            f"node 1 {fmt.fmt_kib(shared[1])})")
    assert want in panes.numa_pane(Framer().push(snap), g).splitlines()
    # a guest with nothing merged says nothing about KSM
    assert "KSM" not in panes.numa_pane(Framer().push(snap), snap.guest("db-primary"))


def test_panes_1_and_2_show_their_findings_under_the_advisors_codes_too():
    """Pane 1 lists the guest's NUMA findings and pane 2 its pinning ones, by the code's
    family (numa.*, pin.*, cpu.*) as well as today's codes, so new checks show up there."""
    from kvmtune.advise import Finding
    snap = Snapshot.loads(FIXTURE.read_text())
    web1 = snap.guest("web1")
    frame = replace(Framer().push(snap), findings={"web1": (
        Finding("numa.split", "critical", "web1", "memory split over nodes", "61 % on node 1", "8.4.1"),
        Finding("pin.emulator", "warning", "web1", "emulator threads off the vCPUs' node", "", "8.4.4"),
        Finding("storage.cache", "warning", "web1", "disk cache is not none", "vda", "6.3"))})
    numa, vcpu = panes.numa_pane(frame, web1), panes.vcpu_pane(frame, web1)
    assert "memory split over nodes: 61 % on node 1" in numa and "emulator threads" not in numa
    assert "emulator threads off the vCPUs' node" in vcpu and "memory split" not in vcpu
    assert "disk cache" not in numa + vcpu


def test_the_warn_column_fits_two_characters_at_any_count():
    """The ! column is two wide (an 80-column table keeps room for names): the worst severity's
    letter and the count, "+" from ten findings on; sorting still tells 12 from 10."""
    from kvmtune.advise import Finding
    from kvmtune.ui.table import COLUMNS, warn_cell

    def found(n: int, severity: str = "warning") -> list[Finding]:
        return [Finding(f"t.{i}", severity, "g", "t", "", "1") for i in range(n)]
    width = next(c.width for c in COLUMNS if c.key == "warn")
    assert width == 2
    assert [warn_cell(found(n))[0] for n in (1, 9, 10, 12)] == ["W1", "W9", "W+", "W+"]
    # sorting descending (its first order) puts the worst first, then the most findings
    assert warn_cell(found(12))[1] > warn_cell(found(10))[1] > warn_cell(found(1, "info"))[1] > warn_cell([])[1]
    assert all(len(warn_cell(found(n, s))[0]) <= width for n in (1, 99) for s in ("critical", "info"))


def test_numa_pane_marks_no_node_for_a_stopped_guest_and_says_0_for_an_empty_node():
    """A shut-off guest's vCPUs run nowhere (its pins are not where it runs), and a node with
    none of a guest's memory says 0, not 0K; a running pinned guest still marks its nodes."""
    from kvmtune.demo import DemoFeed, open_demo
    src = open_demo(seed=1)
    try:
        snap = DemoFeed(src).next()
    finally:
        src.close()
    frame = Framer().push(snap)
    off = replace(snap.guest("db-primary"), state="shutoff", pid=None, numa_memory_kib=None,
                  vcpus=tuple(replace(v, pcpu=None) for v in snap.guest("db-primary").vcpus))
    assert all(v.pinned for v in off.vcpus)
    assert "vCPUs" not in "\n".join(x for x in panes.numa_pane(frame, off).splitlines() if x.startswith("node"))
    nodes = [x for x in panes.numa_pane(frame, snap.guest("db-primary")).splitlines() if x.startswith("node")]
    assert any(x.rstrip().endswith("vCPUs") for x in nodes)
    empty = [x for x in nodes if "vCPUs" not in x]
    assert empty and all(" 0   0%" in x and "0K" not in x for x in empty)


def _demo_frame():
    """The demo host's second frame (rates need two snapshots)."""
    from kvmtune.demo import DemoFeed, open_demo
    feed = DemoFeed(open_demo(seed=1))
    try:
        framer = Framer()
        framer.push(feed.next())
        return framer.push(feed.next())
    finally:
        feed.close()


def test_header_says_the_hosts_uptime_load_and_each_nodes_cpu_as_top_does():
    from kvmtune import fmt
    frame = _demo_frame()
    b = frame.snap
    text = headertext.header(frame, view_seconds=90, interval=2, badges=[], width=120)
    assert b.host.uptime_s is not None and b.host.loadavg is not None
    assert f"up {fmt.uptime(b.host.uptime_s)}" in text and "rec +" not in text
    assert "load " + " ".join(f"{x:.2f}" for x in b.host.loadavg) in text
    for n in b.host.nodes:   # each node's mean busy % over the interval
        pct = [frame.cpu_pct[c] for c in n.cpus]
        line = next(x for x in text.splitlines() if f"N{n.id} " in x)
        assert f" {sum(pct) / len(pct):.0f}% " in line
    assert "rec +0:01:30" in headertext.header(frame, view_seconds=90, interval=2, badges=[], width=120, replay=True)
    assert [fmt.uptime(s) for s in (59, 720, 3 * 3600 + 300, 86400 + 60, 41 * 86400)] == [
        "0 min", "12 min", "3:05", "1 day, 0:01", "41 days, 0:00"]
    small = headertext.header(frame, view_seconds=90, interval=2, badges=["REPLAY"], width=80, compact=True,
                         replay=True)
    assert f"up {fmt.uptime(b.host.uptime_s, short=True)}" in small and "d " in small
    assert len([x for x in small.splitlines() if not x.startswith(("[b]N", "[$warning]"))]) == 2


def test_the_header_shows_each_host_finding_on_a_line_and_counts_those_it_has_no_room_for():
    """Wrapped, the first findings filled the header's 10 lines and the rest were cut off
    unseen: now one line each (cut short, keeping the guide's §), and the last one shown says
    how many more the host view (H) has; a replay's timeline takes a line of the room."""
    from rich.cells import cell_len
    frame = _demo_frame()
    warns = frame.host_findings
    assert len(warns) >= 5   # the demo host has findings enough to overflow the header
    for width, replay in ((120, False), (120, True), (200, False), (81, False)):
        lines = _plain(headertext.header(frame, view_seconds=90, interval=2, badges=[], width=width, replay=replay))
        assert all(cell_len(x) <= width - 2 for x in lines), (width, [cell_len(x) for x in lines])
        found = [x for x in lines if x.startswith("! ")]
        shown = len(lines) - len(found) + replay   # (with the timeline the app adds)
        assert len(found) == min(len(warns), max(1, headertext.HEADER_LINES - shown)), (width, lines)
        assert all(f"§{w.section}" in x for w, x in zip(warns, found))
        more = len(warns) - len(found)
        assert found[-1].endswith(f"(+{more}, H)") if more else "(+" not in found[-1]
        assert len(lines) + replay <= headertext.HEADER_LINES


def test_text_with_brackets_reads_back_as_it_is_in_any_markup():
    """Guest names and findings go into markup: a `[` with no `]` (a name cut short), a
    closing-tag look-alike, a trailing backslash all read back as the text, and the tag
    after them still closes (Textual's escape() leaves "web[a" to take the "[/]" that follows,
    and "x[/y" does not parse at all)."""
    from textual.markup import to_content

    from kvmtune.ui.markup import escape
    for text in ("web[a…", "web[ab] x", "x[/y", "z [b", "[[", "]", "c:\\d", "\\[x]", "a\\", "[$warning] q", "ok"):
        content = to_content(f"[$warning]! {escape(text)}[/] [b]§1.2[/]")
        assert content.plain.rstrip() in (f"! {text} §1.2", f"! {text}  §1.2"), text
        bold = [s for s in content.spans if "b" in str(s.style).split()]
        assert [content.plain[s.start:s.end] for s in bold] == ["§1.2"], text


def test_a_host_finding_cut_short_in_the_header_inside_brackets_stays_one_line():
    from dataclasses import replace as _replace

    from rich.cells import cell_len

    from kvmtune.advise import Finding
    snap = Snapshot.loads(FIXTURE.read_text())
    base = Framer().push(snap)
    name = "[web" + "a" * 150   # a guest named with brackets, its name cut at the line's end
    frame = _replace(base, host_findings=(
        Finding("host.test", "warning", None, f"guests {name}] and x[/y", "many words " * 20, "1.2"),))
    lines = _plain(headertext.header(frame, view_seconds=1, interval=2, badges=[], width=120))
    found = [x for x in lines if x.startswith("! ")]
    assert len(found) == 1 and found[0].startswith("! guests [webaaa") and found[0].endswith("… §1.2")
    assert cell_len(found[0]) <= 118 and "[/]" not in found[0]


def _plain(markup: str) -> list[str]:
    from textual.markup import to_content
    return [to_content(line).plain for line in markup.splitlines()]


def test_vcpu_pane_has_virsh_vcpuinfos_figures_and_more_in_80_columns():
    """Per vCPU: its state, thread, CPU now, node, CPU time, %, pinned, affinity (virsh
    vcpuinfo's CPU, State, CPU time, CPU Affinity, and what it lacks); a partly pinned guest
    says how many, and where the states come from."""
    from kvmtune.model import Vcpu
    snap = Snapshot.loads(FIXTURE.read_text())
    web1 = snap.guest("web1")
    g = replace(web1, vcpus=(Vcpu(0, 4250, 3, (2, 3), True, 723_000_000_000, "running"),
                             Vcpu(1, 4251, 1, tuple(range(8)), False, 59_100_000_000, "halted"),
                             Vcpu(2, None, None, tuple(range(8)), False, None, "offline")))
    lines = _plain(panes.vcpu_pane(Framer().push(replace(snap, guests=(g,))), g))
    assert lines[0] == "web1  3 vCPUs  pinned 1 of 3  running 1  halted 1  offline 1"
    assert lines[1].split() == ["vCPU", "state", "tid", "CPU", "node", "time", "%", "pin", "affinity"]
    assert lines[2].split() == ["0", "running", "4250", "3", "0", "12m03s", "-", "yes", "2-3"]
    assert lines[3].split() == ["1", "halted", "4251", "1", "0", "59.1s", "-", "-", "0-7"]
    assert lines[4].split() == ["2", "offline", "-", "-", "-", "-", "-", "-", "0-7"]
    assert any(x.startswith("state: the vCPU thread's, from /proc") for x in lines)
    assert all(len(x) <= 78 for x in lines[:5])
    # every vCPU pinned: no warning colour; no thread known (a remote host): the states are libvirt's
    whole = replace(g, vcpus=tuple(replace(v, pinned=True, tid=None) for v in g.vcpus))
    text = panes.vcpu_pane(Framer().push(replace(snap, guests=(whole,))), whole)
    assert "pinned 3 of 3" in _plain(text)[0] and "$warning]pinned" not in text
    assert "state: libvirt's (no /proc for this guest here)" in "\n".join(_plain(text))


def test_vcpu_pane_explains_moved():
    snap = Snapshot.loads(FIXTURE.read_text())
    web1 = snap.guest("web1")
    v0 = web1.vcpus[0]
    before = replace(snap, guests=tuple(replace(g, vcpus=(replace(v0, pcpu=(v0.pcpu or 0) + 1), *g.vcpus[1:]))
                                        if g.name == "web1" else g for g in snap.guests))
    framer = Framer()
    framer.push(before)
    text = panes.vcpu_pane(framer.push(snap), web1)
    assert " moved" in text and "moved: on another host CPU than at the previous refresh" in text
    assert "moved:" not in panes.vcpu_pane(Framer().push(snap), web1)


def test_a_stale_guest_shows_as_stale_in_the_table_and_its_disk_pane_with_no_rates():
    """A guest libvirt did not answer for this tick: its state cell reads `st?` (warning), its
    disk pane says why, and its carried counters give no rate (not a false 0 B/s)."""
    from kvmtune.ui.table import row_values
    snap = Snapshot.loads(FIXTURE.read_text())
    web1 = snap.guest("web1")
    assert web1.disks and not web1.stale
    framer = Framer()
    framer.push(replace(snap, time=snap.time - 2))
    later = replace(snap, guests=tuple(replace(g, stale=True) if g.name == "web1" else g for g in snap.guests))
    frame = framer.push(later)
    g = frame.snap.guest("web1")
    assert row_values(g, frame)["state"] == ("st?", "stale", "warning")
    assert row_values(g, frame)["rd"][0] == "-"
    assert all(r.rd_bytes_s is None for r in frame.rates["web1"].disks.values())
    assert "stale" in blockpane.block_pane(frame, g)
    fresh = frame.snap.guest("off") or web1
    assert row_values(fresh, frame)["state"][0] != "st?"
    assert "stale" not in blockpane.block_pane(Framer().push(snap), web1)


def test_the_p_column_tells_every_vcpu_pinned_from_some():
    """P: every vCPU pinned; p (a warning): only some, as the guide's 3.3.4 warns; blank: none.
    Sorting puts all, then some, then none; the help says what each letter means."""
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.ui.table import COLUMNS, row_values
    src = open_demo(seed=1)
    try:
        snap = DemoFeed(src).next()
    finally:
        src.close()
    frame = Framer().push(snap)
    cells = {n: row_values(snap.guest(n), frame)["pin"] for n in ("db-primary", "web-02", "web-01")}
    assert cells == {"db-primary": ("P", 2, ""), "web-02": ("p", 1, "warning"), "web-01": ("", 0, "")}
    assert "pinned 2 of 4" in _plain(panes.vcpu_pane(frame, snap.guest("web-02")))[0]
    pin = next(c for c in COLUMNS if c.key == "pin")
    assert "P: every vCPU is pinned" in pin.help and "p: only some are (yellow" in pin.help


def test_settings_pane_writes_every_guest_the_same_way_and_fits_the_width():
    """Pane 6: one `<element>  value` line per setting for every guest (none: the XML sets
    nothing; -: not known), pins merged as virsh lists them, long values wrapped under the value."""
    import re

    from kvmtune.demo import DemoFeed, open_demo
    src = open_demo(seed=1)
    try:
        snap = DemoFeed(src).next()
    finally:
        src.close()
    label = re.compile(r"^\[b\](\S.{" + str(panes.SETTING_LABEL - 1) + r"})\[/\]")
    for g in snap.guests:
        lines = panes.settings_pane(g, 80).splitlines()
        heads = [m.group(1).split()[0] for ln in lines if (m := label.match(ln))]
        assert heads[:6] == ["numatune", "memtune", "memoryBacking", "blkiotune", "vcpupin", "emulatorpin"], g.name
        assert heads[-1] == "domain"
        for ln in lines:
            plain = re.sub(r"\[/?[^\]]*\]", "", ln)
            assert len(plain) <= 80 - 2, (g.name, plain)
            assert ln.startswith("[b]") or plain.startswith(" " * panes.SETTING_LABEL), (g.name, ln)
    db = panes.settings_pane(snap.guest("db-primary"), 80)
    assert "0=8 1=9 2=10 3=11 4=12 5=13 6=14 7=15" in db and "mode strict  nodeset 1" in db
    web2 = panes.settings_pane(snap.guest("web-02"), 80)
    assert "0-1=39,46" in web2   # two vCPUs with one affinity: one entry
    assert "vcpupin        [/]none" in panes.settings_pane(snap.guest("web-01"), 80)


def test_the_panes_draw_the_kept_history_as_wide_as_they_are():
    """Pane 2 draws the guest's CPU % history, pane 9 each NIC's rx/tx, pane 5 each disk's:
    as many samples as the pane is wide (a 200-column terminal shows more history)."""
    from kvmtune import fmt
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.ui import netpane
    src = open_demo(seed=1)
    framer = Framer()
    try:
        feed = DemoFeed(src)
        for _ in range(60):
            frame = framer.push(feed.next())
    finally:
        src.close()
    g = frame.snap.guest("web-01")
    hist = frame.cpu_history["web-01"]
    assert len(hist) == 60 and hist[0] is None and all(x is not None for x in hist[1:])
    want = fmt.fmt_pct(max(x for x in hist if x is not None), False)
    for width, samples in ((80, 44), (200, 59)):   # 59: the samples with a rate
        line = next(ln for ln in panes.vcpu_pane(frame, g, width).splitlines() if ln.startswith("[b]CPU[/]"))
        spark = line.split("[$primary]")[1].split("[/]")[0]
        assert len(spark) == min(150, width - 36) and len(spark.strip()) == min(samples, len(spark))
        assert f"peak {want} of {100 * len(g.vcpus)}%" in line
    wide, narrow = netpane.net_pane(frame, g, 200), netpane.net_pane(frame, g, 80)
    assert wide.count("[$primary]") == wide.count("[$accent]") == len(g.nics)
    assert len(wide.splitlines()[2]) > len(narrow.splitlines()[2])
    assert len(frame.net_history["web-01"]) == len(g.nics)
