"""How far the show trusts the beat grid: the tempo's confidence turned into decisions (DESIGN §2, §7).

The beat clock publishes a confidence with its tempo (`AudioFeatures.bpm_confidence`:
the tracker's, in [0, 1]; tap tempo and an external clock are 1; no tempo is 0).
A wrong grid is worse than none: flashes on the wrong beat, a `go` that waits
for a bar line that is not there. So everything synced to beats and bars asks
here first, and below the thresholds behaves as it does with no tempo at all:

- Beat-synced effects (flash, pulse and strobe on beats or bars, spin in °/beat,
  hue in turns/bar) follow the grid by `BeatTrust.weight`: 0 at a confidence
  of `WEIGHT_LOW` or less, 1 from `WEIGHT_HIGH`, linear in between, followed
  in time (`follow`: falling with `WEIGHT_RELEASE_S`, so a lost grid stops
  flashing quickly; rising with `WEIGHT_ATTACK_S`, so a grid found is let in
  gently). Tap tempo and an external clock are trusted at once. What the
  weight takes from the grid goes to the no-tempo behaviour: pulses on
  onsets, spin and hue at 120 BPM (render/effects.py).
- Decisions that are yes or no (`go` waiting for the beat or bar, the
  autopilot counting the tracker's bars) use the grid from a confidence of
  `GRID_MIN`, where the effects are at half weight; below it a `go` starts at
  once and the autopilot's phrases run on a 120 BPM clock, as with no tempo.

Render thread; pure arithmetic.
"""

from __future__ import annotations

from ..audio.smoothing import follow

WEIGHT_LOW = 0.3  # confidence at or below which beat-synced effects are off (no-tempo behaviour)
WEIGHT_HIGH = 0.6  # confidence from which they are fully on
WEIGHT_ATTACK_S = 1.0  # the weight rises with this time constant (a grid found)
WEIGHT_RELEASE_S = 0.3  # and falls with this one (a grid lost)
GRID_MIN = 0.45  # from here `go` and the autopilot follow the grid: midway, where the effects are at half weight
EXACT_SOURCES = ("link", "tap", "clock")  # a person or a machine said so: confidence 1, trusted at once


def confidence_of(features) -> float:
    """The grid's confidence in a frame's features: 0 with no features or no tempo."""
    if features is None or features.bpm <= 0:
        return 0.0
    return min(1.0, max(0.0, float(features.bpm_confidence)))


def weight_for(confidence: float) -> float:
    """The beat-synced weight a confidence asks for, before smoothing: 0 to 1 from WEIGHT_LOW to WEIGHT_HIGH."""
    return min(1.0, max(0.0, (confidence - WEIGHT_LOW) / (WEIGHT_HIGH - WEIGHT_LOW)))


def grid_trusted(features) -> bool:
    """Whether a yes-or-no decision (go quantize, the autopilot's bars) may follow this frame's grid."""
    return confidence_of(features) >= GRID_MIN


class BeatTrust:
    """The smoothed beat-synced weight, 0..1. `update()` once per frame with the frame's features."""

    def __init__(self) -> None:
        self.weight = 0.0

    def update(self, features, dt: float) -> float:
        if features is not None and features.bpm > 0 and features.tempo_source in EXACT_SOURCES:
            self.weight = 1.0
        else:
            self.weight = follow(self.weight, weight_for(confidence_of(features)), dt, WEIGHT_ATTACK_S,
                                 WEIGHT_RELEASE_S)
        return self.weight
