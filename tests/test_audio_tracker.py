"""TempoTracker (audio/tracker.py) on onset functions of known shape.

The tracker's accuracy on real audio is tested through the Analyzer (test_audio_analyzer.py)."""

import math

import numpy as np
import pytest

from livecppn.audio.config import TempoConfig
from livecppn.audio.tracker import TempoTracker

HOP_RATE = 48000 / 256


def pulse_train(bpm, seconds, rng, noise=0.1, offset=0.1):
    """An onset function at HOP_RATE: a spike on every beat (the hop holding it) over some noise."""
    n = int(seconds * HOP_RATE)
    x = noise * rng.random(n)
    beats = np.arange(offset, seconds, 60.0 / bpm)
    x[(beats * HOP_RATE).astype(int)] += 1.0
    return x, beats


def feed(tracker, x):
    for i, v in enumerate(x):
        tracker.push(float(v), (i + 1) / HOP_RATE)


@pytest.mark.parametrize("bpm", [85, 100, 120, 140, 172])
def test_tracker_locks_to_a_pulse_train(bpm):
    x, beats = pulse_train(bpm, 8.0, np.random.default_rng(bpm))
    tracker = TempoTracker(HOP_RATE)
    feed(tracker, x)
    assert tracker.grid is not None and tracker.confidence > 0.5
    assert tracker.grid.bpm == pytest.approx(bpm, abs=0.5)
    # Its beats fall on the spikes (the hop holding a spike ends up to one hop after the beat).
    last = tracker.grid.time_of(math.floor(tracker.grid.position(8.0)))
    assert np.min(np.abs(beats - last)) < 2 / HOP_RATE


@pytest.mark.parametrize("bpm", [62, 70, 170, 185])
def test_tracker_hears_slow_and_fast_tempi_as_they_are(bpm):
    """50-220 BPM under a log-Gaussian prior: a clear pulse at 62 or 185 is not folded into 80-180."""
    x, _ = pulse_train(bpm, 12.0, np.random.default_rng(1))
    tracker = TempoTracker(HOP_RATE)
    feed(tracker, x)
    assert tracker.grid.bpm == pytest.approx(bpm, abs=0.5)


@pytest.mark.parametrize("bpm", [200, 215])
def test_an_even_pulse_far_from_the_prior_reads_at_an_octave(bpm):
    """Every onset alike at 200: 100 explains it as well (each other click), and the prior prefers it."""
    x, _ = pulse_train(bpm, 12.0, np.random.default_rng(1))
    tracker = TempoTracker(HOP_RATE)
    feed(tracker, x)
    assert tracker.grid.bpm == pytest.approx(bpm / 2, abs=0.5)


def test_tracker_ignores_noise_and_lets_go_after_the_hold_time():
    rng = np.random.default_rng(2)
    tracker = TempoTracker(HOP_RATE, TempoConfig(hold=3.0))
    feed(tracker, rng.random(int(8 * HOP_RATE)))
    assert tracker.grid is None and tracker.confidence < 0.2
    x, _ = pulse_train(120, 8.0, rng)
    tracker.reset()
    feed(tracker, x)
    assert tracker.grid is not None
    # Silence: the grid holds while the history still shows the pulse, then `hold` seconds more
    # (through a breakdown), and is let go once both have passed (8 s + 3 s here).
    assert tracker.config.history == 8.0
    for i in range(int(12 * HOP_RATE)):
        tracker.push(0.0, 8.0 + (i + 1) / HOP_RATE)
        if i == int(7 * HOP_RATE):
            assert tracker.grid is not None
    assert tracker.grid is None
