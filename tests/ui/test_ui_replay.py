"""`kvmtune replay` in the TUI (Pilot): the app on a ReplayFeed of a demo recording, driven by
the real keys; and recording from the TUI (R) read back with Recording."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from reckit import make_recording
from uikit import demo_app, next_tick, ready, select, wait_for

from kvmtune.frame import Framer
from kvmtune.record.replay import ReplayFeed
from kvmtune.record.store import Recording
from kvmtune.ui import panes
from kvmtune.ui.app import KvmtuneApp
from kvmtune.ui.table import row_values

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

SAMPLES, ACTION_AT = 70, 20
GUEST = "web-01"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "demo.kvmrec"
    return path, make_recording(path, samples=SAMPLES, action_at=ACTION_AT)


def replay_app(path, start_at: int | None = None) -> KvmtuneApp:
    return KvmtuneApp(ReplayFeed(Recording(path)), None, interval=2.0, start_at=start_at)


def expected_frame(snaps, i):
    f = Framer()
    if i > 0:
        f.push(snaps[i - 1])
    return f.push(snaps[i])


def pane(app, key: str) -> str:
    return str(app.query_one(f"#pane-{key}").content)


def header(app) -> str:
    return str(app.query_one("#header").content)


async def shown(pilot, app, index: int) -> None:
    await wait_for(pilot, lambda: app.replay.position == index and not app._polling
                   and app.frame is not None and app.frame.snap.time == app.replay.rec.times[index],
                   what=f"sample {index}")
    await pilot.pause()


async def test_stepping_back_shows_the_earlier_stored_values_with_rates(recorded):
    path, snaps = recorded
    app = replay_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        assert "REPLAY" in header(app) and f"1/{SAMPLES}" in header(app)
        await select(pilot, app, GUEST)
        await pilot.press("4")
        for i in (1, 2, 3):
            await pilot.press("right_square_bracket")
            await shown(pilot, app, i)
        three = pane(app, "ksm")
        await pilot.press("left_square_bracket")
        await shown(pilot, app, 2)
        want = expected_frame(snaps, 2)
        g = want.snap.guest(GUEST)
        assert pane(app, "ksm") == panes.ksm_pane(want, g) != three   # the earlier values, scan rate too
        assert app.rows[GUEST] == row_values(g, want)                  # the table's cells (CPU % from rates)
        assert app.frame.rates[GUEST].cpu_percent is not None
        assert f"3/{SAMPLES}" in header(app) and "⏸" in header(app)
        assert app.frame.snap.to_json() == snaps[2].to_json()


async def test_jumps_and_go_to_time_land_on_the_right_sample(recorded):
    path, snaps = recorded
    app = replay_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        await select(pilot, app, GUEST)
        await pilot.press("full_stop")                 # +1 min: 30 samples of 2 s
        await shown(pilot, app, 30)
        assert "+1 min" in app.status_text
        assert "rec +0:01:00" in header(app)             # since the recording began
        await pilot.press("comma")
        await shown(pilot, app, 0)
        await pilot.press("right_curly_bracket")       # +10 min: past the end, the last sample
        await shown(pilot, app, SAMPLES - 1)
        await pilot.press("g")
        at = dt.datetime.fromtimestamp(snaps[12].time).strftime("%H:%M:%S")
        await pilot.press(*at, "enter")
        await shown(pilot, app, 12)
        assert app.frame.snap.to_json() == snaps[12].to_json()
        assert app.frame.rates[GUEST].cpu_percent is not None              # rates at once after a jump
        # the sparkline history refilled from the stored samples (samples 0-12), for
        # the guest on screen; the others start again from the jump
        assert [len(h) for h in app.frame.history[GUEST].values()] == [13]
        assert {len(h) for n, per in app.frame.history.items() if n != GUEST for h in per.values()} == {2}
        await pilot.press("g", *"25:99", "enter")
        await pilot.pause()
        assert app.status_text.startswith("'25:99' is not a time of day (HH:MM")
        assert app.replay.position == 12


async def test_start_at_opens_on_that_sample_with_rates(recorded):
    path, snaps = recorded
    app = replay_app(path, start_at=45)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, app, 45)
        assert app.ticks == 1 and app.frame.snap.to_json() == snaps[45].to_json()
        assert app.frame.rates[GUEST].cpu_percent is not None and "rec +0:01:30" in header(app)
        await pilot.press("left_square_bracket")
        await shown(pilot, app, 44)
        assert "rec +0:01:28" in header(app)


async def test_next_action_finds_the_recorded_action_and_names_it(recorded):
    path, snaps = recorded
    app = replay_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        await pilot.press("4")
        await pilot.press("right_parenthesis")
        await shown(pilot, app, ACTION_AT)
        assert "#1 ksm host: applied" in app.status_text, app.status_text
        assert app.frame.snap.host.ksm.pages_to_scan == 500
        assert snaps[ACTION_AT - 1].host.ksm.pages_to_scan != 500
        await pilot.press("right_parenthesis")
        await pilot.pause()
        assert "no recorded action or error after" in app.status_text
        await pilot.press("right_square_bracket")
        await shown(pilot, app, ACTION_AT + 1)
        await pilot.press("left_parenthesis")
        await shown(pilot, app, ACTION_AT)
        await pilot.press("L")                          # the log: the actions recorded in the file
        await pilot.pause()
        body = str(app.screen.query_one("#log-body").content)
        assert "ksm host" in body and "applied" in body


async def test_action_keys_are_refused_with_the_reason_and_record_is_not_offered(recorded):
    app = replay_app(recorded[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        for key, name in (("p", "pin"), ("z", "undo"), ("k", "ksm_toggle")):
            await pilot.press(key)
            await pilot.pause()
            assert app.status_text == f"replay: '{key}' ({name}) is disabled: this is a recording"
            assert len(app.screen_stack) == 1
        await pilot.press("R")
        await pilot.pause()
        assert "recording is not available in a replay" in app.status_text and not app.recording
        palette = [c.title for c in app.get_system_commands(app.screen)]
        assert "Replay: one sample back ([)" in palette and not [t for t in palette if "(p)" in t]
        await pilot.press("H")                          # the host view, sort and filter work as live
        await pilot.pause()
        assert "Host view" in str(app.screen.query_one("#host-title").content)
        await pilot.press("escape", "S")
        await pilot.pause()
        assert app.sort_reverse and "sorted by Name ▼ descending" in app.status_text
        await pilot.press("slash", *"db", "enter")
        await pilot.pause()
        assert app.name_filter == "db" and app.selected_guest().name.startswith("db")
        await pilot.press("question_mark")
        await pilot.pause()
        help_lines = app.screen.plain
        assert "Tuning (off: replay)" in help_lines
        assert "  [          replay: one sample back" in help_lines
        assert help_lines.index("Time travel in a replay") < help_lines.index("Keys")   # its own keys first


async def test_speed_cycles_and_playing_fast_reaches_the_end_and_pauses(recorded):
    app = replay_app(recorded[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        seen = []
        for _ in range(4):
            await pilot.press("x")
            seen.append(app.replay.speed)
        assert seen == [2, 10, 60, 1]
        await pilot.press("x", "x", "x")                # 60x: a sample every 1/30 s
        assert "60x" in header(app)
        await pilot.press("space")
        assert app.playing and "▶" in header(app)
        await wait_for(pilot, lambda: not app.playing, timeout=30, what="the end")
        assert app.replay.position == SAMPLES - 1
        assert "end of the recording" in app.status_text


async def test_record_key_writes_what_the_app_showed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = demo_app(read_only=True)                      # recording changes nothing: allowed
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        palette = [c.title for c in app.get_system_commands(app.screen)]
        assert "Start / stop recording to a file (replay it with `kvmtune replay FILE`) (R)" in palette
        assert not [t for t in palette if t.startswith("Replay:")]     # time travel is a replay's only
        await pilot.press("R")
        assert app.recording and "recording to kvmtune-hv-demo-01-" in app.status_text
        shown_raw = []
        for _ in range(3):
            await next_tick(pilot, app)
            shown_raw.append(app.frame.raw)
        assert re.search(r"RECORDING [0-9.]+ [KM]iB", header(app)), header(app)
        await pilot.press("R")
        assert not app.recording and "recorded 3 samples" in app.status_text
    files = list(tmp_path.glob("kvmtune-hv-demo-01-*.kvmrec"))
    assert len(files) == 1
    rec = Recording(files[0])
    assert [rec.snapshot(i).to_json() for i in range(len(rec))] == [s.to_json() for s in shown_raw]


async def test_record_option_starts_on_and_a_bad_path_says_why(tmp_path):
    app = demo_app(record=str(tmp_path / "on.kvmrec"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=2)
        assert app.recording
    assert len(Recording(tmp_path / "on.kvmrec")) == 2          # closed when the app ended
    app = demo_app(record=str(tmp_path / "no" / "such" / "dir.kvmrec"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        assert not app.recording and app.status_text.startswith("cannot record:")


async def test_a_write_error_stops_recording_and_the_view_goes_on(tmp_path):
    from kvmtune.errors import RecordingError
    app = demo_app(record=str(tmp_path / "full.kvmrec"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)

        def full(_snap):   # a disk filling up cannot be provoked here: the one mock
            raise RecordingError("cannot write full.kvmrec: database or disk is full")
        app.recorder.add = full
        await next_tick(pilot, app)
        await wait_for(pilot, lambda: not app.recording, what="recording to stop")
        assert "recording stopped: cannot write full.kvmrec: database or disk is full" in app.status_text
        n = app.ticks
        await next_tick(pilot, app)
        assert app.ticks == n + 1


async def test_a_newer_schema_opens_and_says_it_is_read_with_what_this_version_knows(recorded, tmp_path):
    import shutil
    import sqlite3
    path = tmp_path / "newer.kvmrec"
    shutil.copy(recorded[0], path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema'")
        db.execute("UPDATE meta SET value = 'kvmtune 9.0' WHERE key = 'created_by'")
    db.close()
    app = replay_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app, ticks=1)
        assert app.status_text == ("made by kvmtune 9.0 with a newer schema: read with what this "
                                   "version knows")
        assert app.frame.snap.to_json() == recorded[1][0].to_json()


async def test_a_damaged_sample_is_said_in_the_status_line_and_the_replay_goes_on(recorded, tmp_path):
    import shutil
    import sqlite3
    path = tmp_path / "damaged.kvmrec"
    shutil.copy(recorded[0], path)
    with sqlite3.connect(path) as db:   # the key of the last chain (samples 60-69)
        db.execute("UPDATE samples SET data = x'00112233' WHERE seq = (SELECT seq FROM samples "
                   "ORDER BY seq LIMIT 1 OFFSET 60)")
    db.close()
    app = replay_app(path, start_at=59)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, app, 59)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: "sample 61 of" in app.status_text, what="the damage said")
        assert "is damaged" in app.status_text
        assert app.frame.snap.to_json() == recorded[1][59].to_json()   # the last good one stays
        await pilot.press("comma")
        await shown(pilot, app, 30)


async def test_a_file_still_being_recorded_plays_on_as_it_grows(tmp_path):
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.record.live import LiveRecording
    demo = DemoFeed(open_demo(seed=1))
    rec = LiveRecording(tmp_path / "live.kvmrec", source="demo", interval=2.0, log_path=tmp_path / "log")
    rec.add(demo.next())
    rec.add(demo.next())
    app = replay_app(tmp_path / "live.kvmrec")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app, ticks=1)
            app.replay.speed = 60
            await pilot.press("space")
            await wait_for(pilot, lambda: "waiting for more samples" in app.status_text, what="the end")
            assert app.playing and app.replay.position == 1
            new = demo.next()
            rec.add(new)
            await wait_for(pilot, lambda: app.frame.snap.time == new.time, what="the new sample")
            assert app.replay.position == 2 and "3/3" in header(app)
    finally:
        rec.close()
        demo.close()
