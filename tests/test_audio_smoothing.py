"""The one smoothing primitive (audio/smoothing.py): time constants in seconds, followers, auto-gain."""

import math

import numpy as np
import pytest

from livecppn.audio.smoothing import ArrayAutoGain, ArrayFollower, auto_gain, coefficient, follow, retention


def test_a_time_constant_moves_the_same_distance_per_second_at_any_frame_rate():
    for fps in (24, 60, 144):
        x = 0.0
        for _ in range(fps):  # one second towards 1.0, tau = 0.5 s
            x = follow(x, 1.0, 1 / fps, 0.5, 0.5)
        assert x == pytest.approx(1 - math.exp(-2), rel=1e-9), fps
    assert coefficient(0.1, 0.2) + retention(0.1, 0.2) == pytest.approx(1.0)


def test_follow_rises_with_attack_and_falls_with_release():
    assert follow(0.0, 1.0, 0.01, 0.01, 1.0) == pytest.approx(1 - math.exp(-1))
    assert follow(1.0, 0.0, 0.01, 0.01, 1.0) == pytest.approx(math.exp(-0.01))
    assert follow(0.5, 0.5, 0.01, 0.01, 1.0) == 0.5


def test_auto_gain_divides_by_a_peak_that_rises_in_time_decays_and_keeps_its_floor():
    value, peak = auto_gain(0.5, 0.0, 0.01, False, 0.01, 0.1, 8.0)
    assert peak == pytest.approx(0.01 + (1 - math.exp(-0.1)) * 0.49)  # one transient does not set the scale
    assert value == 1.0  # clamped
    for _ in range(200):  # two seconds of the same level: the peak catches up, the value settles near 1
        value, peak = auto_gain(0.5, peak, 0.01, False, 0.01, 0.1, 8.0)
    assert peak == pytest.approx(0.5, rel=0.02) and value == 1.0  # (the decay holds it just below the level)
    quiet, _ = auto_gain(0.25, peak, 0.01, False, 0.01, 0.1, 8.0)
    assert quiet == pytest.approx(0.5, rel=0.02)  # relative to the recent peak
    gated, held = auto_gain(0.25, peak, 1.0, True, 0.01, 0.1, 8.0)
    assert gated == 0.0 and held == pytest.approx(peak * math.exp(-1 / 8))  # the gate only lets it decay
    tiny, _ = auto_gain(0.001, 0.0, 0.01, False, 0.01, 0.1, 8.0)
    assert tiny == pytest.approx(0.1)  # near-silence is not blown up past level / floor


def test_the_array_versions_compute_what_the_scalar_ones_do():
    rng = np.random.default_rng(3)
    levels = rng.random((50, 6)).astype(np.float32) * np.float32(0.3)
    gain, smooth = ArrayAutoGain(6, 0.01), ArrayFollower(6)
    peaks, values = [0.0] * 6, [0.0] * 6
    out = np.zeros(6, dtype=np.float32)
    for i, level in enumerate(levels):
        gated = i % 17 == 16
        target = gain.step(level, 1 / 60, gated, 0.1, 8.0, out=out)
        for j in range(6):
            t, peaks[j] = auto_gain(float(level[j]), peaks[j], 1 / 60, gated, 0.01, 0.1, 8.0)
            assert target[j] == pytest.approx(t, rel=1e-5, abs=1e-6)
            values[j] = follow(values[j], t, 1 / 60, 0.01, 0.15)
        smooth.step(target, 1 / 60, 0.01, 0.15)
        np.testing.assert_allclose(smooth.values, values, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(gain.peak, peaks, rtol=1e-5)


def test_array_auto_gain_keeps_every_peak_within_spread_of_the_loudest():
    gain = ArrayAutoGain(3, 1e-4, spread=0.1)
    out = np.zeros(3, dtype=np.float32)
    level = np.array([1.0, 0.05, 0.0], dtype=np.float32)
    for _ in range(300):
        gain.step(level, 1 / 60, False, 0.1, 8.0, out=out)
    assert gain.peak[1] >= 0.1 * gain.peak[0] * 0.99 and out[1] < 0.6  # leakage next to a loud band stays dark
    assert out[0] == pytest.approx(1.0, rel=1e-3) and out[2] == 0.0
