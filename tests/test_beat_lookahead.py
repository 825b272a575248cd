"""The tempo setup parameters, through the show's `tempo_setup` into a real Analyzer: `beat_lookahead`
moves every beat event earlier by exactly that much (to the frame), and `meter` sets the bar length.

A click track at 120 BPM is played twice through an Analyzer at the offline frame clock, tapped on its
first four clicks at their exact times (so the grid is the same in every run, whatever the tracker
hears). Frame n reads the beat clock at n / FPS + lookahead, so beat k is counted on the first frame n
with n / FPS + lookahead >= its time b_k, i.e. n = ceil(FPS * (b_k - lookahead)). The clicks fall
0.24 of a frame after a frame boundary (b_k = 1.004 + 0.5 k s; FPS * b_k = 60.24 + 30 k), so no beat
sits on a frame's edge: with a lookahead of 0.1 s (6 frames exactly) every beat is counted exactly 6
frames earlier, and in general on the first frame at or after b_k - lookahead.
"""

import math

import numpy as np
import pytest

from livecppn.audio.analyzer import Analyzer
from livecppn.audio.frame_clock import frame_end
from livecppn.control.params import ParamBus
from livecppn.show.frame import tempo_setup

RATE, FPS = 48000, 60
PERIOD, FIRST = 0.5, 1.004  # 120 BPM; the first click
SECONDS = 12.0
CLICKS = [FIRST + PERIOD * k for k in range(int((SECONDS - FIRST) / PERIOD) + 1)]
TAPS = 4  # the performer taps the first four clicks


def click_track() -> np.ndarray:
    x = np.zeros(round(SECONDS * RATE), np.float32)
    burst = (0.8 * np.exp(-np.arange(48) / 8.0)).astype(np.float32)  # 1 ms
    for t in CLICKS:
        i = round(t * RATE)
        x[i:i + len(burst)] += burst
    return x


def params(lookahead_ms: float = 0.0, meter: int = 0):
    bus = ParamBus()
    bus.set("beat_lookahead", lookahead_ms)
    bus.set("meter", meter)
    return bus.step(0.0)


def play(p) -> list:
    """Every frame's features, the show's way: tempo_setup, then the analyser; a tap on each of the first
    clicks once it has been heard, at its exact time."""
    samples, analyzer, frames, pos = click_track(), Analyzer(RATE), [], 0
    n_frames = round(SECONDS * FPS)
    for n in range(n_frames):
        tempo_setup(analyzer, p)
        end = frame_end(n, FPS, RATE, len(samples))
        frames.append(analyzer.process(samples[pos:end], 1 / FPS))
        pos = end
        for t in CLICKS[:TAPS]:
            if (n - 1) / FPS < t <= n / FPS:
                analyzer.tap(t)
    return frames


def beat_frames(frames) -> list[int]:
    """The frames on which beat_count went up."""
    return [n for n in range(1, len(frames)) if frames[n].beat_count > frames[n - 1].beat_count]


def grid_beats(lookahead: float) -> list[float]:
    """The tapped grid's beats from the third on (the grid is there in every run by then) that a frame reads
    before the end: the grid goes on after the last click, and a lookahead reads that much past the end."""
    times = (FIRST + PERIOD * k for k in range(2, 2 * len(CLICKS)))
    return [t for t in times if math.ceil(FPS * (t - lookahead)) < round(SECONDS * FPS)]


@pytest.fixture(scope="module")
def on_time():
    return play(params(0.0))


def test_the_parameters_reach_the_analyser():
    analyzer = Analyzer(RATE)
    tempo_setup(analyzer, params(125.0, meter=1))
    assert analyzer.beat_lookahead == 0.125 and analyzer.beats_per_bar == 3
    tempo_setup(analyzer, params(0.0, meter=2))
    assert analyzer.beat_lookahead == 0.0 and analyzer.beats_per_bar == 4
    tempo_setup(analyzer, params(0.0, meter=0))
    assert analyzer.beats_per_bar is None  # auto: the meter heard in the audio


def test_without_lookahead_each_beat_is_counted_on_the_first_frame_at_or_after_it(on_time):
    # the second tap is heard on frame ceil(FPS * CLICKS[1]); from the next frame on the tempo is the tap's
    assert all(f.tempo_source == "tap" and f.bpm_confidence == 1.0 for f in on_time[math.ceil(CLICKS[1] * FPS) + 1:])
    expected = [math.ceil(FPS * t) for t in grid_beats(0.0)]
    assert [n for n in beat_frames(on_time) if n >= expected[0]] == expected


def test_a_lookahead_of_100_ms_counts_every_beat_exactly_6_frames_earlier(on_time):
    early = play(params(100.0))
    start = math.ceil(FPS * CLICKS[2])
    later = [n for n in beat_frames(on_time) if n >= start]
    sooner = [n for n in beat_frames(early) if n >= start - 6]
    assert len(later) == len(grid_beats(0.0)) and sooner[:len(later)] == [n - 6 for n in later]
    # the phases: the clock read 0.1 s ahead is the clock read 6 frames later, on every frame with a grid
    grid_from = math.ceil(FPS * CLICKS[1]) + 1
    for n in range(grid_from, len(early) - 6):
        assert early[n].beat_phase == pytest.approx(on_time[n + 6].beat_phase, abs=1e-9), n
        assert early[n].beat_phase == pytest.approx((n / FPS + 0.1 - FIRST) / PERIOD % 1.0, abs=1e-9), n
    # what the lookahead must not move: onsets heard in the audio
    assert [f.onset_time for f in early] == [f.onset_time for f in on_time]


@pytest.mark.parametrize("lookahead_ms", [25.0, 200.0])  # 1.5 and 12 frames
def test_any_lookahead_fires_within_one_frame_after_the_beat_minus_the_lookahead(lookahead_ms):
    frames = play(params(lookahead_ms))
    lookahead = lookahead_ms / 1000
    start = math.ceil(FPS * (CLICKS[2] - lookahead))
    fired = [n for n in beat_frames(frames) if n >= start]
    assert len(fired) == len(grid_beats(lookahead))
    for n, t in zip(fired, grid_beats(lookahead)):
        assert t - lookahead <= n / FPS < t - lookahead + 1 / FPS, (n, t)


@pytest.mark.parametrize("meter,beats", [(1, 3), (2, 4), (0, 4)])  # auto: a tapped grid's bars are 4 beats
def test_the_meter_sets_the_bar(meter, beats):
    frames = play(params(0.0, meter=meter))
    counted = [n for n in beat_frames(frames) if n > math.ceil(FPS * CLICKS[1])]
    assert all(frames[n].beats_per_bar == beats for n in counted)
    # beat k of the click track (the first tap starts a bar) is beat k % beats of its bar
    for n in counted:
        k = round((n / FPS - FIRST) / PERIOD)
        assert math.floor(frames[n].bar_phase * beats) == k % beats, (n, k, frames[n].bar_phase)
    # the bar phase wraps (a new bar) exactly every `beats` beats
    wraps = [n for n in range(counted[0], len(frames)) if frames[n].bar_phase < frames[n - 1].bar_phase]
    assert all(b - a == beats * PERIOD * FPS for a, b in zip(wraps, wraps[1:])) and len(wraps) >= 3, wraps
