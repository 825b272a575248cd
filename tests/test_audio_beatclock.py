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
    assert s.beat_phase % 1.0 == pytest.approx(0.0, abs=1e-6)  # the tapped beat goes on (0.4 s + 0.2 s: one beat)
    s = clock.state(2.2, tracker)  # two of the clock's beats later the clock's own phase shows
    assert s.beat_phase == pytest.approx((1.2 / (60 / 140)) % 1.0)
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


# --- Link and hand-overs -------------------------------------------------------------------------

def test_link_overrides_every_other_source_with_bars_of_its_quantum_until_it_goes():
    clock = BeatClock(clock_timeout=2.0)
    tracker = Grid(0.5, 0.0)
    clock.set_external(140.0, 0.0, now=0.0)
    clock.tap(0.0)
    clock.tap(0.6)
    clock.set_link(128.0, 1.0, 9, 4, now=1.0)  # beat 9 of the session's timeline fell at 1.0 s
    s = clock.state(1.1, tracker)  # from no source before: the grid as it is
    beat = 60 / 128
    assert s.source == "link" and s.bpm == pytest.approx(128.0) and s.confidence == 1.0
    assert s.beat_phase == pytest.approx(0.1 / beat)
    assert s.bar_phase == pytest.approx((1 + 0.1 / beat) / 4)  # beat 9 is the second of its bar (9 % 4)
    clock.set_link(128.0, 1.0, 9, 3, now=1.2)
    assert clock.state(1.2, tracker).beats_per_bar == 3  # the quantum is the bar
    assert clock.state(3.1, tracker).source == "link"
    assert clock.state(3.3, tracker).source == "tap"  # no update for 2 s: Link's gone (so is the MIDI clock)
    clock.set_link(128.0, 3.3, 12, 4, now=3.3)
    assert clock.state(3.4, tracker).source == "link"
    clock.clear_link()
    assert clock.state(3.5, tracker).source == "tap"
    with pytest.raises(ValueError):
        clock.set_link(float("nan"), 1.0, 0, 4, now=1.0)


def _phase_steps(seen, fps):
    """Each frame's beat-phase advance minus what its bpm alone would advance (wrapped to ±0.5 beat)."""
    return [((b.beat_phase - a.beat_phase) - b.bpm / 60 / fps + 0.5) % 1.0 - 0.5 for a, b in zip(seen, seen[1:])]


def test_a_hand_over_slews_the_phase_and_counts_each_beat_once():
    fps = 60.0
    tracker = Grid(0.5, 0.013)  # 120 BPM
    clock = BeatClock()
    seen = []
    for t in np.arange(0.0, 12.0, 1 / fps):
        if 3.0 <= t < 3.0 + 1 / fps:
            clock.set_link(128.0, 3.3, 100, 4, now=t)  # a Link session far out of phase with the tracker
        elif 3.0 < t < 8.0:
            clock.set_link(128.0, 3.3, 100, 4, now=t)
        elif 8.0 <= t < 8.0 + 1 / fps:
            clock.clear_link()  # its peers left: back to the tracker
        seen.append(clock.state(t, tracker))
    assert [s.source for s in seen[::60]] == ["tracker"] * 3 + ["link"] * 5 + ["tracker"] * 4
    steps = _phase_steps(seen, fps)
    # No jump: a hand-over moves the phase by at most 1/(2·SLEW_BEATS) of its normal rate, never all at once.
    assert max(abs(x) for x in steps) <= 0.25 * 128 / 60 / fps + 1e-9
    # Two beats after each hand-over the new grid's own phase shows.
    at = seen[int(6.0 * fps)]
    assert at.beat_phase == pytest.approx(((6.0 - 3.3) / (60 / 128)) % 1.0, abs=1e-6)
    at = seen[int(11.0 * fps)]
    assert at.beat_phase == pytest.approx(((11.0 - 0.013) / 0.5) % 1.0, abs=1e-6)
    # Every beat counted once: one per wrap of the phase shown.
    wraps = sum(b.beat_phase < a.beat_phase for a, b in zip(seen, seen[1:]))
    assert seen[-1].beat_count == wraps and sum(s.new_beats for s in seen) == wraps
    assert max(s.new_beats for s in seen) == 1


def test_set_tempo_holds_a_tap_tempo_from_the_beat_shown():
    clock = BeatClock()
    tracker = Grid(0.5, 0.0)
    before = clock.state(10.2, tracker)  # 120 BPM, 0.4 through a beat
    clock.set_tempo(90.0, 10.2)
    s = clock.state(10.2, tracker)
    assert s.source == "tap" and s.bpm == pytest.approx(90.0) and clock.tap_bpm == pytest.approx(90.0)
    assert s.beat_phase == pytest.approx(before.beat_phase) and s.bar_phase == pytest.approx(before.bar_phase)
    assert clock.state(30.0, tracker).bpm == pytest.approx(90.0)  # held, like a tapped tempo
    clock.clear_tap()
    assert clock.tap_bpm is None and clock.state(30.1, tracker).source == "tracker"
