"""The beat clock: where the beat stands now ("120 BPM, beat 3 of the bar, 40 % through it").

Runs on the render thread (live) or the offline loop, inside `Analyzer`.
BeatClock chooses the grid from the best source present: external clock >
tap > tracker (tracker.py), and counts beats. All times are audio-clock
seconds: sample index / sample rate of the ring the audio came from (or of
the file offline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .grid import BAR, Grid


@dataclass(frozen=True, slots=True)
class BeatState:
    """Where the beat clock stands at one moment."""

    bpm: float = 0.0
    beat_phase: float = 0.0  # [0, 1) within the beat
    bar_phase: float = 0.0  # [0, 1) within the bar
    beats_per_bar: int = BAR
    beat_count: int = 0  # beats counted since reset; never goes back
    source: str = "none"  # 'clock' | 'tap' | 'tracker' | 'none'
    new_beats: int = 0  # beats that began since the previous state()
    confidence: float = 0.0  # [0, 1]: how sure the source is of this grid (tap and clock: 1)


class BeatClock:
    """Chooses the beat grid (external clock > tap > tracker) and counts beats. Render thread; one caller.

    Tap: taps less than `tap_gap` seconds apart form one sequence; two or more
    give the tempo (median interval of the last eight) with the phase anchored
    at the last tap, and the first tap of a sequence starts a bar. A lone tap
    after a pause re-anchors a held tap tempo there (and starts a bar). The tap
    tempo holds until clear_tap(). External clock: holds while updated at least
    every `clock_timeout` seconds of audio time, until clear_external().
    """

    def __init__(self, tap_gap: float = 2.0, clock_timeout: float = 2.0):
        self._tap_gap = tap_gap
        self._clock_timeout = clock_timeout
        self.reset()

    def reset(self) -> None:
        self._taps: list[float] = []
        self._tap_grid: Grid | None = None
        self._clock_grid: Grid | None = None
        self._clock_seen = -math.inf
        self._count = 0
        self._source = "none"
        self._last_time = -math.inf  # of the previous state()
        self._last_beat = -math.inf  # time of the last beat counted

    def tap(self, t: float) -> None:
        if self._taps and not 0.0 < t - self._taps[-1] < self._tap_gap:
            self._taps = []
        self._taps.append(t)
        if len(self._taps) >= 2:
            self._tap_grid = Grid(float(np.median(np.diff(self._taps[-9:]))), t, len(self._taps) - 1)
        elif self._tap_grid is not None:
            self._tap_grid = Grid(self._tap_grid.period, t)

    def clear_tap(self) -> None:
        self._taps = []
        self._tap_grid = None

    def set_external(self, bpm: float, beat_time: float, now: float) -> None:
        if not (math.isfinite(bpm) and bpm > 0 and math.isfinite(beat_time)):
            raise ValueError(f"external clock needs a positive bpm and a finite beat time, got {bpm!r}, {beat_time!r}")
        old = self._clock_grid
        index = round(old.position(beat_time)) if old is not None else 0  # keep numbering: the bar goes on
        self._clock_grid = Grid(60.0 / bpm, beat_time, index)
        self._clock_seen = now

    def clear_external(self) -> None:
        self._clock_grid = None

    def state(self, now: float, tracker: Grid | None, tracker_confidence: float = 0.0,
              beats_per_bar: int | None = None) -> BeatState:
        """The beat at audio time `now` from the best grid present; counts the beats begun since the last call.
        `beats_per_bar` overrides the grid's meter (the performer's `meter` parameter)."""
        if self._clock_grid is not None and now - self._clock_seen > self._clock_timeout:
            self._clock_grid = None
        for source, grid in (("clock", self._clock_grid), ("tap", self._tap_grid), ("tracker", tracker)):
            if grid is not None:
                break
        else:
            self._source, self._last_time = "none", now
            return BeatState(beat_count=self._count)
        pos = grid.position(now)
        index = math.floor(pos)
        latest = grid.time_of(index)  # the beat now in progress began here
        new = 0
        if source == self._source:
            # Beats of this grid begun since the last call, but never one within half a beat of the
            # last beat counted: a grid nudged back across a beat must not count it twice.
            since = max(self._last_time, self._last_beat + 0.5 * grid.period)
            new = max(0, index - math.floor(grid.position(since))) if since < now else 0
        if new or source != self._source:
            self._last_beat = latest
        self._count += new
        self._source, self._last_time = source, now
        phase = pos - index
        bar = beats_per_bar or grid.beats_per_bar
        in_bar = (index - grid.downbeat) % bar
        confidence = tracker_confidence if source == "tracker" else 1.0
        return BeatState(bpm=float(grid.bpm), beat_phase=float(phase), bar_phase=float((in_bar + phase) / bar),
                         beats_per_bar=bar, beat_count=self._count, source=source, new_beats=new,
                         confidence=float(confidence))
