"""The built-in synthetic beat (audio/synth.py)."""

import numpy as np

from livecppn.audio.synth import synthetic_beat


def test_synthetic_beat_is_deterministic_with_kicks_on_the_beat():
    a, b = synthetic_beat(4.0, 48000, 120.0), synthetic_beat(4.0, 48000, 120.0)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (192000,) and 0.5 < np.abs(a).max() <= 1.0
    # Low-passed energy in the 50 ms after each beat is far above the 50 ms before it.
    low = np.convolve(a, np.ones(96) / 96, mode="same")  # crude low-pass: keeps the kick, drops the hat
    for k in range(1, 8):
        at = k * 24000
        assert np.mean(low[at:at + 2400] ** 2) > 4 * np.mean(low[at - 2400:at] ** 2), k
