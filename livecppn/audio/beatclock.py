"""The beat clock: where the beat stands now ("120 BPM, beat 3 of the bar, 40 % through it").

Runs on the render thread (live) or the offline loop, inside `Analyzer`.
BeatClock chooses the grid from the best source present: Ableton Link >
external clock > tap > tracker (tracker.py; DESIGN §2), and counts beats.
When the source changes, the beat phase does not jump: the difference is
slewed away over `SLEW_BEATS` beats. All times are audio-clock seconds:
sample index / sample rate of the ring the audio came from (or of the file
offline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .grid import BAR, Grid

SLEW_BEATS = 2.0  # a source change eases the beat phase over to the new grid over this many of its beats


@dataclass(frozen=True, slots=True)
class BeatState:
    """Where the beat clock stands at one moment."""

    bpm: float = 0.0
    beat_phase: float = 0.0  # [0, 1) within the beat
    bar_phase: float = 0.0  # [0, 1) within the bar
    beats_per_bar: int = BAR
    beat_count: int = 0  # beats counted since reset; never goes back
    source: str = "none"  # 'link' | 'clock' | 'tap' | 'tracker' | 'none'
    new_beats: int = 0  # beats that began since the previous state()
    confidence: float = 0.0  # [0, 1]: how sure the source is of this grid (link, tap and clock: 1)


class BeatClock:
    """Chooses the beat grid (Link > external clock > tap > tracker) and counts beats. Render thread; one caller.

    Tap: taps less than `tap_gap` seconds apart form one sequence; two or more
    give the tempo (median interval of the last eight) with the phase anchored
    at the last tap, and the first tap of a sequence starts a bar. A lone tap
    after a pause re-anchors a held tap tempo there (and starts a bar). The tap
    tempo holds until clear_tap(); set_tempo() sets it from a number. Link and
    the external clock: each holds while updated at least every `clock_timeout`
    seconds of audio time, until clear_link() / clear_external(). Link numbers
    beats on the session's timeline: a bar every `quantum` beats from beat 0.

    Hand-over: a new source's grid rarely has the phase that was showing. The
    difference (at most half a beat either way) is added to the new grid's
    position and slewed linearly to nothing over `slew_beats` of its beats, so
    beat_phase goes on without a jump (meanwhile the beat runs at most
    1 / (2 slew_beats) fast or slow) and no beat is counted twice; bar_phase
    follows the new grid's bars at once, and `bpm` is always the grid's own.
    From no source at all the new grid shows as it is.
    """

    def __init__(self, tap_gap: float = 2.0, clock_timeout: float = 2.0, slew_beats: float = SLEW_BEATS):
        self._tap_gap = tap_gap
        self._clock_timeout = clock_timeout
        self._slew_beats = slew_beats
        self.reset()

    def reset(self) -> None:
        self._taps: list[float] = []
        self._tap_grid: Grid | None = None
        self._clock_grid: Grid | None = None
        self._clock_seen = -math.inf
        self._link_grid: Grid | None = None
        self._link_seen = -math.inf
        self._count = 0
        self._source = "none"
        self._last_time = -math.inf  # of the previous state()
        self._last_beat = -math.inf  # time of the last beat counted
        self._shown: tuple[float, float, float] | None = None  # previous state(): (beat phase, bar position, period)
        self._slew: tuple[float, float, float] | None = None  # (offset in beats, start time, duration) of a hand-over

    # --- the sources -----------------------------------------------------------------------------

    def tap(self, t: float) -> float | None:
        """A tap at time t. Returns the tempo it set (the second tap of a sequence on); None: it set none."""
        if self._taps and not 0.0 < t - self._taps[-1] < self._tap_gap:
            self._taps = []
        self._taps.append(t)
        if len(self._taps) >= 2:
            self._tap_grid = Grid(float(np.median(np.diff(self._taps[-9:]))), t, len(self._taps) - 1)
            return self._tap_grid.bpm
        if self._tap_grid is not None:
            self._tap_grid = Grid(self._tap_grid.period, t)
        return None

    def clear_tap(self) -> None:
        self._taps = []
        self._tap_grid = None

    @property
    def tap_bpm(self) -> float | None:
        """The tempo tapped (or set) and held; None without one."""
        return self._tap_grid.bpm if self._tap_grid is not None else None

    def set_tempo(self, bpm: float, now: float) -> None:
        """Hold `bpm` as the tap tempo from audio time `now`, going on from the beat and bar shown then
        (a lone tap later re-anchors it, as after taps)."""
        _check_bpm(bpm, now)
        period = 60.0 / bpm
        if self._shown is None:
            self._tap_grid = Grid(period, now)
        else:
            _, bar_pos, shown_period = self._shown
            pos = bar_pos + (now - self._last_time) / shown_period  # the shown beat, carried on to now
            index = math.floor(pos)
            self._tap_grid = Grid(period, now - (pos - index) * period, index)
        self._taps = []

    def set_external(self, bpm: float, beat_time: float, now: float) -> None:
        _check_bpm(bpm, beat_time)
        old = self._clock_grid
        index = round(old.position(beat_time)) if old is not None else 0  # keep numbering: the bar goes on
        self._clock_grid = Grid(60.0 / bpm, beat_time, index)
        self._clock_seen = now

    def clear_external(self) -> None:
        self._clock_grid = None

    def set_link(self, bpm: float, beat_time: float, beat: int, quantum: int, now: float) -> None:
        """Link's session: beat number `beat` of its timeline falls at audio time `beat_time`; bars of `quantum`."""
        _check_bpm(bpm, beat_time)
        self._link_grid = Grid(60.0 / bpm, beat_time, int(beat), 0, max(1, int(quantum)))
        self._link_seen = now

    def clear_link(self) -> None:
        self._link_grid = None

    # --- the beat --------------------------------------------------------------------------------

    def state(self, now: float, tracker: Grid | None, tracker_confidence: float = 0.0,
              beats_per_bar: int | None = None) -> BeatState:
        """The beat at audio time `now` from the best grid present; counts the beats begun since the last call.
        `beats_per_bar` overrides the grid's meter (the performer's `meter` parameter)."""
        if self._link_grid is not None and now - self._link_seen > self._clock_timeout:
            self._link_grid = None
        if self._clock_grid is not None and now - self._clock_seen > self._clock_timeout:
            self._clock_grid = None
        for source, grid in (("link", self._link_grid), ("clock", self._clock_grid), ("tap", self._tap_grid),
                             ("tracker", tracker)):
            if grid is not None:
                break
        else:
            self._source, self._last_time, self._shown, self._slew = "none", now, None, None
            return BeatState(beat_count=self._count)
        new = self._hand_over(grid, now) if source != self._source else 0
        pos = grid.position(now) + self._offset(now)
        index = math.floor(pos)
        latest = now - (pos - index) * grid.period  # the beat now in progress began about here
        if source == self._source:
            # Beats of this grid begun since the last call, but never one within half a beat of the
            # last beat counted: a grid nudged back across a beat must not count it twice.
            since = max(self._last_time, self._last_beat + 0.5 * grid.period)
            new = max(0, index - math.floor(grid.position(since) + self._offset(since))) if since < now else 0
        if new or source != self._source:
            self._last_beat = latest
        if self._slew is not None and now >= self._slew[1] + self._slew[2]:
            self._slew = None
        self._count += new
        phase = pos - index
        bar = beats_per_bar or grid.beats_per_bar
        in_bar = (index - grid.downbeat) % bar
        self._source, self._last_time, self._shown = source, now, (phase, in_bar + phase, grid.period)
        confidence = tracker_confidence if source == "tracker" else 1.0
        return BeatState(bpm=float(grid.bpm), beat_phase=float(phase), bar_phase=float((in_bar + phase) / bar),
                         beats_per_bar=bar, beat_count=self._count, source=source, new_beats=new,
                         confidence=float(confidence))

    def _hand_over(self, grid: Grid, now: float) -> int:
        """A new source: start slewing from the phase shown onto `grid`'s. Returns the beats the shown
        beat crossed since the previous call (counted here: the new grid's own numbering starts now)."""
        if self._shown is None:  # from no tempo: the grid as it is; the beat under way is not counted
            self._slew = None
            return 0
        phase, _, period = self._shown
        shown = phase + (now - self._last_time) / period
        offset = (shown - grid.position(now) + 0.5) % 1.0 - 0.5
        self._slew = (offset, now, self._slew_beats * grid.period) if offset else None
        return max(0, math.floor(shown))

    def _offset(self, t: float) -> float:
        """Beats added to the grid's position at time t: a hand-over's offset, slewing to 0."""
        if self._slew is None:
            return 0.0
        offset, start, span = self._slew
        return offset * (1.0 - min(1.0, max(0.0, (t - start) / span)))


def _check_bpm(bpm: float, t: float) -> None:
    if not (math.isfinite(bpm) and bpm > 0 and math.isfinite(t)):
        raise ValueError(f"a tempo needs a positive bpm and a finite time, got {bpm!r}, {t!r}")
