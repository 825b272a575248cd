"""A beat grid: the value the tempo tracker, tap and an external clock hand the beat clock.

Times are audio-clock seconds: sample index / sample rate of the ring the audio
came from (or of the file offline).
"""

from __future__ import annotations

from dataclasses import dataclass

BAR = 4  # beats per bar unless the meter says otherwise (3 for a waltz)


@dataclass
class Grid:
    """A beat grid: beat number `index` fell at audio time `anchor`, one beat every `period` seconds.
    Beat numbers `downbeat` (mod `beats_per_bar`) start a bar."""

    period: float
    anchor: float
    index: int = 0
    downbeat: int = 0
    beats_per_bar: int = BAR

    def position(self, t: float) -> float:
        """Beat number at time t, fractional."""
        return self.index + (t - self.anchor) / self.period

    def time_of(self, index: int) -> float:
        return self.anchor + (index - self.index) * self.period

    @property
    def bpm(self) -> float:
        return 60.0 / self.period
