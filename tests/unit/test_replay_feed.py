"""ReplayFeed: a recording of the demo host as a feed with a cursor (no Textual)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from reckit import make_recording

from kvmtune import fmt, inputs
from kvmtune.feed import Feed
from kvmtune.record.replay import SPEEDS, ReplayFeed
from kvmtune.record.store import KEY_EVERY, Recording


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "demo.kvmrec"
    return path, make_recording(path, samples=70, action_at=20)


@pytest.fixture
def feed(recorded):
    f = ReplayFeed(Recording(recorded[0]))
    yield f
    f.close()


def test_is_a_feed_with_no_source_and_gives_the_recorded_snapshots_in_order(feed, recorded):
    snaps = recorded[1]
    assert isinstance(feed, Feed) and feed.source is None
    assert feed.label == "replay demo.kvmrec"
    got = [feed.next() for _ in range(3)]
    assert [s.to_json() for s in got] == [s.to_json() for s in snaps[:3]]
    assert feed.position == 2 and feed.time == snaps[2].time and not feed.at_end


def test_seek_step_and_the_end(feed, recorded):
    snaps = recorded[1]
    assert feed.seek(10) == 10 and feed.next().time == snaps[10].time
    assert feed.step(-3) == 7 and feed.next().time == snaps[7].time
    assert feed.step(-100) == 0 and feed.seek(10**6) == 69
    last = feed.next()
    assert feed.at_end and last.time == snaps[-1].time
    assert feed.next().time == snaps[-1].time      # nothing more written: the last one again
    assert feed.target(5) == 69


def test_time_jumps_land_on_the_sample_at_or_before(feed, recorded):
    snaps = recorded[1]
    feed.seek(10)
    feed.next()
    assert feed.index_after(60) == 40               # 2 s apart: one minute is 30 samples
    assert feed.index_after(-60) == 0
    assert feed.index_at(snaps[5].time + 1.5) == 5


def test_next_and_previous_event_find_the_recorded_action(feed):
    assert feed.event_near(forward=False) is None
    index, ev = feed.event_near(forward=True)
    assert index == 20 and ev.kind == "action" and ev.summary == "#1 ksm host: applied"
    feed.seek(index)
    feed.next()
    assert feed.event_near(forward=True) is None    # strictly after the sample shown
    feed.seek(50)
    feed.next()
    assert feed.event_near(forward=False)[0] == 20


def test_chain_start_is_the_key_before(feed):
    k = KEY_EVERY
    assert feed.key_start(0) == 0 and feed.key_start(k - 1) == 0 and feed.key_start(k + 5) == k


def test_speed_cycles_and_sets_the_poll_interval(feed):
    assert feed.speed == 1 and feed.poll_interval == 2.0
    seen = [feed.cycle_speed() for _ in SPEEDS]
    assert seen == [2, 10, 60, 1]
    feed.speed = 10
    assert feed.poll_interval == 0.2


def test_the_poll_interval_is_the_recorded_time_between_samples(tmp_path):
    # a recorder told 0.5 s on a feed whose samples are 2 s apart (the demo's clock), then a
    # gap of an hour: 1x plays real time, the gap as five intervals
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.record.live import LiveRecording
    demo = DemoFeed(open_demo(seed=1))
    rec = LiveRecording(tmp_path / "gap.kvmrec", source="demo", interval=0.5, log_path=tmp_path / "log")
    for _ in range(2):
        rec.add(demo.next())
    demo.sim.clock += 3600
    rec.add(demo.next())
    rec.close()
    demo.close()
    feed = ReplayFeed(Recording(tmp_path / "gap.kvmrec"))
    feed.next()
    assert feed.poll_interval == 2.0
    feed.next()
    assert feed.poll_interval == 2.5
    feed.speed = 10
    assert feed.poll_interval == 0.25
    feed.close()


def test_a_file_still_being_recorded_goes_on_after_refresh(tmp_path):
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.record.live import LiveRecording
    demo = DemoFeed(open_demo(seed=1))
    rec = LiveRecording(tmp_path / "live.kvmrec", source="demo", interval=2.0, log_path=tmp_path / "log")
    rec.add(demo.next())
    rec.add(demo.next())
    feed = ReplayFeed(Recording(tmp_path / "live.kvmrec"))
    feed.seek(1)
    feed.next()
    assert feed.at_end and feed.growing()
    new = demo.next()
    rec.add(new)
    assert feed.refresh() == 1 and not feed.at_end
    assert feed.next().time == new.time
    rec.close()
    demo.close()
    assert not feed.growing(now=new.time + 10**9)
    feed.close()


def test_a_typed_time_without_a_date_falls_inside_the_recording(feed, recorded):
    snaps = recorded[1]
    at = dt.datetime.fromtimestamp(snaps[30].time)
    assert feed.index_at(feed.resolve(inputs.moment(at.strftime("%H:%M:%S")))) == 30
    assert feed.index_at(feed.resolve(inputs.moment(at.strftime("%Y-%m-%d %H:%M:%S")))) == 30
    assert feed.index_at(feed.resolve(inputs.moment("+60s"))) == 30   # 2 s apart


@pytest.mark.parametrize("text", ["", "25:00", "12:60", "12:00:99", "2026-13-01 10:00", "noon", "１２:００"])
def test_moment_refuses_what_is_not_a_time(text):
    with pytest.raises(ValueError, match="is not a time"):
        inputs.moment(text)


def test_speed_input():
    assert inputs.speed("10x") == 10 and inputs.speed("0.5") == 0.5
    for bad in ("0", "-2", "fast", "inf"):
        with pytest.raises(ValueError):
            inputs.speed(bad)


def test_timeline():
    assert fmt.timeline(0, 10, 5) == "●────"
    assert fmt.timeline(9, 10, 5) == "━━━━●"
    assert fmt.timeline(0, 1, 3) == "●──"
    assert len(fmt.timeline(341, 1800, 30)) == 30
