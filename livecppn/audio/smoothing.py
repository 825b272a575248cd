"""The one smoothing primitive (DESIGN §1): time constants in seconds, attack/release followers, auto-gain.

Every time constant is applied as `a = 1 - exp(-dt / tau)` (and a decay as
`exp(-dt / tau)`), so a value moves the same distance in a second at 24 fps
as at 144 fps: the look does not change with the frame rate.

- `follow`: an asymmetric follower, rising with `attack`, falling with `release`.
- `auto_gain`: a level divided by its running peak, so a quiet room and a loud
  club both use the full range. The peak decays with `decay`, never below
  `floor` (near-silence is not blown up into noise), and rises with `attack`
  rather than at once (one transient caught by a frame must not set the scale);
  the result is clamped to 1. Under the silence gate the peak only decays and
  the result is 0.

The scalar functions serve the extractor's levels and the Analyzer's onset
strength; `ArrayFollower` and `ArrayAutoGain` do the same element-wise, in
place on float32 arrays, for the shaders' spectrum bands. Pure arithmetic: no
allocation per call, no logging; one caller per object.
"""

from __future__ import annotations

import math

import numpy as np


def coefficient(dt: float, tau: float) -> float:
    """How far a smoothed value moves towards its target in `dt` seconds: 1 - exp(-dt / tau)."""
    return 1.0 - math.exp(-dt / tau)


def retention(dt: float, tau: float) -> float:
    """What is left of a decaying value after `dt` seconds: exp(-dt / tau)."""
    return math.exp(-dt / tau)


def follow(current: float, target: float, dt: float, attack: float, release: float) -> float:
    """`current` moved towards `target`: with the `attack` time constant when rising, `release` when falling."""
    tau = attack if target > current else release
    return current + coefficient(dt, tau) * (target - current)


def auto_gain(level: float, peak: float, dt: float, gated: bool, floor: float, attack: float,
              decay: float) -> tuple[float, float]:
    """(level / running peak in [0, 1], the new peak); see the module docstring. Gated: (0.0, decayed peak)."""
    peak = max(peak * retention(dt, decay), floor)
    if gated:
        return 0.0, peak
    if level > peak:
        peak += coefficient(dt, attack) * (level - peak)
    return min(level / peak, 1.0), peak


class ArrayFollower:
    """`follow` element-wise on `values` (float32, updated in place). One caller."""

    def __init__(self, n: int):
        self.values = np.zeros(n, dtype=np.float32)
        self._rising = np.zeros(n, dtype=bool)
        self._rate = np.zeros(n, dtype=np.float32)

    def reset(self) -> None:
        self.values[:] = 0.0

    def step(self, target: np.ndarray, dt: float, attack: float, release: float) -> np.ndarray:
        """Move `values` towards `target` (float32; overwritten as scratch); returns `values`."""
        values = self.values
        np.greater(target, values, out=self._rising)
        a_up, a_down = coefficient(dt, attack), coefficient(dt, release)
        np.multiply(self._rising, np.float32(a_up - a_down), out=self._rate)
        self._rate += np.float32(a_down)
        np.subtract(target, values, out=target)
        target *= self._rate
        values += target
        return values


class ArrayAutoGain:
    """`auto_gain` element-wise: `peak` (float32) is kept here. One caller.

    `spread` (linear, 0 for none) keeps every peak at least `spread` times the
    largest: each element reads "loud for itself", but one far below the
    loudest (a tone's leakage into its neighbours) stays dark instead of being
    gained up to full scale.
    """

    def __init__(self, n: int, floor: float, spread: float = 0.0):
        self.peak = np.zeros(n, dtype=np.float32)
        self._floor = np.float32(floor)
        self._spread = np.float32(spread)

    def reset(self) -> None:
        self.peak[:] = 0.0

    def step(self, level: np.ndarray, dt: float, gated: bool, attack: float, decay: float,
             out: np.ndarray) -> np.ndarray:
        """level / peak, clamped to 1, into `out` (float32, same shape); returns `out`."""
        peak = self.peak
        peak *= np.float32(retention(dt, decay))
        np.maximum(peak, max(self._floor, float(peak.max()) * self._spread), out=peak)
        if gated:
            out[:] = 0.0
            return out
        np.subtract(level, peak, out=out)  # the rise, where the level is above the peak ...
        np.maximum(out, 0.0, out=out)
        out *= np.float32(coefficient(dt, attack))
        peak += out  # ... taken in time
        np.divide(level, peak, out=out)
        np.minimum(out, 1.0, out=out)
        return out
