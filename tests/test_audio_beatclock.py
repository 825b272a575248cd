"""BeatClock (audio/beatclock.py): tap, external clock, tracker grid; counting."""

import numpy as np
import pytest

from livecppn.audio.beatclock import BeatClock
from livecppn.audio.grid import Grid


def states(clock, start, stop, tracker=None, fps=60.0):
    """clock.state() at every frame of a 60 fps loop from `start` to `stop` seconds."""
    return [clock.state(t, tracker) for t in np.arange(start, stop, 1.0 / fps)]


# --- tap -----------------------------------------------------------------------------------------

def test_two_taps_give_the_tempo_and_anchor_the_phase_at_the_last_tap():
    clock = BeatClock()
    clock.tap(10.0)
    assert clock.state(10.1, None).source == "none"  # one tap says nothing yet
    clock.tap(10.5)
    s = clock.state(10.75, None)
    assert s.source == "tap" and s.bpm == pytest.approx(120.0)
    assert s.beat_phase == pytest.approx(0.5)
    # The first tap starts the bar: at 10.75 we are half way through its second beat.
    assert s.bar_phase == pytest.approx(1.5 / 4)


def test_tap_tempo_is_the_median_interval_and_holds_until_cleared():
    clock = BeatClock()
    for t in (0.0, 0.5, 1.1, 1.5, 2.0):  # one sloppy tap: intervals .5 .6 .4 .5
        clock.tap(t)
    assert clock.state(2.1, None).bpm == pytest.approx(120.0)
    tracker = Grid(60 / 128, 0.0)
    s = clock.state(60.0, tracker)  # a minute later, with a tracker tempo present: the tap still rules
    assert s.source == "tap" and s.bpm == pytest.approx(120.0)
    clock.clear_tap()
    s = clock.state(60.1, tracker)
    assert s.source == "tracker" and s.bpm == pytest.approx(128.0)


def test_a_pause_starts_a_new_sequence_and_a_lone_tap_moves_the_downbeat():
    clock = BeatClock()
    clock.tap(0.0)
    clock.tap(0.5)
    clock.tap(10.25)  # > 2 s later: a new sequence; alone, it re-anchors the held 120 BPM here
    s = clock.state(10.5, None)
    assert s.bpm == pytest.approx(120.0) and s.beat_phase == pytest.approx(0.5)
    assert s.bar_phase == pytest.approx(0.5 / 4)  # and it is the new downbeat
    clock.tap(10.25 + 0.4)  # the new sequence's second tap sets a new tempo
    assert clock.state(10.7, None).bpm == pytest.approx(150.0)


# --- external clock and priority -----------------------------------------------------------------

def test_external_clock_overrides_tap_and_tracker_until_it_stops_or_is_cleared():
    clock = BeatClock(clock_timeout=2.0)
    tracker = Grid(0.5, 0.0)
    clock.tap(0.0)
    clock.tap(0.6)
    assert clock.state(1.0, tracker).source == "tap"
    clock.set_external(140.0, 1.0, now=1.0)
    s = clock.state(1.2, tracker)
    assert s.source == "clock" and s.bpm == pytest.approx(140.0)
    assert s.beat_phase == pytest.approx(0.2 / (60 / 140))
    assert clock.state(2.9, tracker).source == "clock"
    assert clock.state(3.1, tracker).source == "tap"  # no update for 2 s: dropped
    clock.set_external(140.0, 3.2, now=3.2)
    assert clock.state(3.3, tracker).source == "clock"
    clock.clear_external()
    assert clock.state(3.4, tracker).source == "tap"
    clock.clear_tap()
    assert clock.state(3.5, tracker).source == "tracker"
    with pytest.raises(ValueError):
        clock.set_external(0.0, 1.0, now=1.0)


def test_external_clock_updated_every_beat_keeps_counting_bars():
    clock = BeatClock()
    period = 0.5
    seen = []
    for k in range(12):  # a MIDI clock says "beat" on every beat, a little late and jittery
        clock.set_external(120.0, k * period, now=k * period + 0.01)
        seen += states(clock, k * period + 0.01, (k + 1) * period + 0.01)
    bars = [s.bar_phase for s in seen]
    assert all(b2 >= b1 or b1 - b2 > 0.9 for b1, b2 in zip(bars, bars[1:]))  # only wraps at bar lines
    assert sum(b1 - b2 > 0.9 for b1, b2 in zip(bars, bars[1:])) == 2  # 12 beats = 3 bars: 2 bar lines crossed
    # The beat under way when the clock appeared is not counted (the source may appear mid-beat).
    assert seen[-1].beat_count == 11 and all(s.new_beats <= 1 for s in seen)


# --- counting ------------------------------------------------------------------------------------

def test_each_beat_is_counted_once_even_when_the_grid_is_nudged_back():
    grid = Grid(0.5, 0.0)
    clock = BeatClock()
    counts = []
    for t in np.arange(0.0, 10.0, 1 / 60):
        if abs(t % 0.5 - 0.01) < 1 / 120:
            grid.anchor += 0.012  # just after each beat, the tracker decides the beat is a bit later
            grid.anchor -= 0.012 if int(t) % 2 else 0.0
        counts.append(clock.state(t, grid))
    total = counts[-1].beat_count
    assert total == pytest.approx(20, abs=1)
    assert sum(s.new_beats for s in counts) == total
    assert all(b.beat_count >= a.beat_count for a, b in zip(counts, counts[1:]))
    assert max(s.new_beats for s in counts) == 1


def test_no_grid_no_tempo_and_the_count_holds():
    clock = BeatClock()
    grid = Grid(0.5, 0.0)
    states(clock, 0.0, 2.0, grid)  # beats at 0.5, 1.0, 1.5 (the one under way at the start is not counted)
    held = clock.state(2.0, None)
    assert held.source == "none" and held.bpm == 0.0 and held.beat_count == 3
    assert clock.state(5.0, None).beat_count == 3
