"""The audio tempo tracker: from an onset function to a beat grid ("120 BPM, this beat fell at 3.52 s").

Runs on the render thread (live) or the offline loop, inside `Analyzer`, which
feeds the tracker one value per hop of audio (~5.3 ms), every hop exactly once
and in order, so the result does not depend on the frame rate (DESIGN §2).

How it works (each step cites where it comes from; tools/eval_tempo.py measures it):
- The onset function is log-filtered spectral flux (odf.py).
- Every `update` seconds, the last `history` seconds of it give a tempo
  (periodicity.py: autocorrelation, a comb over its multiples, log-Gaussian
  prior over 50-220 BPM, a memory of the last estimates) and its salience.
- Beats are placed on BTrack's cumulative score (Stark, Davies & Plumbley,
  DAFx 2009; after Ellis 2007), computed causally, hop by hop, over the
  evidence of both fluxes (odf.py), each over its running mean, the linear one
  weighing three quarters (the loudest onsets choose the beat; a loud pad's
  swell alone does not):
  score[n] = (1 - a) * odf[n] + a * max over v in [T/2, 2T] of W(v) * score[n - v],
  with W log-Gaussian around the beat period T. A hop where a chain of onsets
  one period apart ends scores high; a lone syncopated onset does not. The
  beat chain is the comb of beats one period apart that best fits the last
  few seconds of that score (recent beats weigh more, so a change is followed);
  the log flux within ~60 ms of it places the beat to the millisecond. A beat
  measured far off the grid (the off-beat) moves it only when six estimates
  in a row agree.
- Confidence (0-1): the salience scaled between what noise gives and what a
  clear beat gives, times how steadily the estimates agree with the chosen
  tempo over the last `steady` estimates (noise and speech jump around). A
  grid is claimed when the confidence reaches `config.confidence`, kept while it
  stays above a third of that; once established (held `hold` seconds), it is
  held through a break (a breakdown with no drums) for `hold` seconds more
  before it is let go, while a grid newer than that goes at once.
- Meter (meter.py): bars of 3 or 4 and the downbeat, from the low-band accents
  on the beats.

A new tempo more than 4 % away must be estimated twice in a row to be taken;
the same tempo glides the grid half way to each estimate. Tap or an external
clock override everything (beatclock.py). All times are audio-clock seconds (see grid.py).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .config import TempoConfig
from .grid import Grid
from .meter import Meter
from .periodicity import TempoEstimator, parabolic

SALIENCE_NOISE = 0.07  # salience (periodicity.py) that white/pink noise and speech stay under (eval_tempo.py)
SALIENCE_BEAT = 0.2  # salience at and above which the pulse is as clear as it gets
FIRST_ESTIMATE = 2.0  # seconds of audio before the first estimate
ESTIMATE_STEP = 6  # hops between taking the history and estimating from it (never the same 60 fps frame)
STEADY = 8  # estimates (2 s at the default update) whose agreement is the confidence's steadiness
ALPHA = 0.9  # cumulative score: the weight of the past chain against the new onset (BTrack's alpha)
PHASE_JUMP = 0.15  # a beat measured further than this (share of a beat) from the grid is a jump, not a drift
PHASE_CONFIRM = 6  # measurements in a row that must agree before the grid jumps to a new phase
LOUD_SHARE = 0.75  # the beat's evidence: the share of the linear flux beside the log flux (each over its mean)
TIGHTNESS = 5.0  # cumulative score: how strictly the previous beat must be one period back (BTrack's tightness)


def _comb(x: np.ndarray, first: int, count: int, beats: int, period: float) -> np.ndarray:
    """For each offset o in first..first+count-1 (hops back from x's newest value): the sum of x at
    o, o + period, o + 2 period ... (`beats` of them, as far as x reaches), each beat weighing 0.8 of the
    one after it, so recent beats count more."""
    out = np.zeros(count)
    n, weight = len(x), 1.0
    for b in range(beats):
        start = n - 1 - first - round(b * period)  # x index of offset `first` for this beat
        if start - count + 1 < 0:
            break
        out += weight * x[start - count + 1:start + 1][::-1]
        weight *= 0.8
    return out


class _Ring:
    """The newest `n` values of a stream, contiguous: each value is written twice."""

    def __init__(self, n: int):
        self.n = n
        self.buf = np.zeros(2 * n, dtype=np.float64)

    def put(self, count: int, value: float) -> None:
        i = count % self.n
        self.buf[i] = self.buf[i + self.n] = value

    def last(self, count: int, k: int) -> np.ndarray:
        """The newest k values (k <= n) after `count` values were put, oldest first (a view)."""
        end = count % self.n + self.n
        return self.buf[end - k:end]


class TempoTracker:
    """Onset function in (one value per hop), a beat grid out (`grid`, None until locked).

    Render thread; one caller. `push` costs a few microseconds; every `update`
    seconds one push also re-estimates the tempo (~0.3 ms). `odf_delay` is how
    late the onset function peaks after the sound (seconds), taken off the beat times.
    """

    def __init__(self, hop_rate: float, config: TempoConfig | None = None, odf_delay: float = 0.0):
        self.config = cfg = config or TempoConfig()
        self.hop_rate = hop_rate
        self._n = int(round(cfg.history * hop_rate))
        self._flux, self._low, self._score = _Ring(self._n), _Ring(self._n), _Ring(self._n)
        # The tempo is estimated on the onset function summed over pairs of hops (~94 values a second,
        # BTrack's rate): the autocorrelation costs a quarter, and the period is refined between values.
        self._odf = _Ring(self._n // 2)
        self._mean_rate = 1.0 / (4.0 * hop_rate)  # the fluxes' running means follow the last ~4 s
        self._every = max(4 * ESTIMATE_STEP, round(cfg.update * hop_rate))
        self._estimator = TempoEstimator(hop_rate / 2, self._n // 2, cfg.bpm_range, cfg.prior_bpm,
                                         cfg.prior_octaves)
        self._odf_delay = odf_delay
        self._meter = Meter()
        self._box_n, self._box_count = 0, np.ones(0)
        self.reset()

    def reset(self) -> None:
        for ring in (self._odf, self._flux, self._low, self._score):
            ring.buf[:] = 0.0
        self._estimator.reset()
        self._meter.reset()
        self._count = 0  # hops pushed (and skipped)
        self._mean_loud = self._mean_value = 0.0  # running means of the two fluxes (~4 s)
        self._pair = 0.0  # the onset function of the first hop of a pair
        self._due: float | None = None  # a period whose beat phase is to be placed (next half update)
        self._x: np.ndarray | None = None  # the history taken for the next estimate
        self._time = 0.0  # audio time at the end of the newest hop
        self.grid: Grid | None = None
        self.confidence = 0.0  # [0, 1]
        self.salience = 0.0  # of the latest estimate
        self._recent: deque[int] = deque(maxlen=STEADY)  # raw best periods of the latest estimates (hop pairs)
        self._candidate: float | None = None  # a new period seen once, waiting for a second agreeing estimate
        self._weak_since: float | None = None
        self._locked_at = 0.0  # when the grid was claimed
        self._jumps = 0  # measurements in a row far off the grid, at one new place
        self._jump_to: float | None = None  # the beat time those measurements put the grid at
        self._scored = -1  # last beat number whose accent went to the meter
        self._set_period(60.0 / 120.0 * self.hop_rate)

    def _set_period(self, period: float) -> None:
        """The beat period (hops) the cumulative score looks back by; its window W over [T/2, 2T]."""
        self._period = period
        v = np.arange(max(1, round(period / 2)), round(2 * period) + 1)
        self._gather = v[-1] - v  # score.last(count, v[-1])[gather] is the score v hops back
        self._window = np.exp(-0.5 * (TIGHTNESS * np.log(v / period)) ** 2)

    # --- per hop ---------------------------------------------------------------------------------

    def push(self, value: float, time: float, low: float = 0.0, loud: float | None = None) -> None:
        """One hop's onset function value, its low-band part and its linear-magnitude flux (odf.BandFlux;
        the value itself where not given); `time`: audio time at the end of the hop."""
        if loud is None:
            loud = value
        gather = self._gather
        chain = 0.0
        if self._count > gather[0]:
            chain = float((self._window * self._score.last(self._count, gather[0] + 1)[gather]).max())
        if self._count % 2:
            self._odf.put(self._count // 2, self._pair + value)
        self._pair = value
        self._flux.put(self._count, value)
        self._low.put(self._count, low)
        # The beat's evidence: both fluxes, each against its running mean, so neither a loud pad swell (linear)
        # nor soft off-beat hats (log) decide alone.
        self._mean_loud += self._mean_rate * (loud - self._mean_loud)
        self._mean_value += self._mean_rate * (value - self._mean_value)
        evidence = LOUD_SHARE * loud / (self._mean_loud + 1e-9) + (1 - LOUD_SHARE) * value / (self._mean_value + 1e-9)
        self._score.put(self._count, (1.0 - ALPHA) * evidence + ALPHA * chain)
        self._count += 1
        self._time = time
        # The history, the estimate and the beat placement run on hops in different frames (a 60 fps frame
        # holds ~3 hops): three small costs instead of one large one.
        step = self._count % self._every
        if step == 0 and self._count >= FIRST_ESTIMATE * self.hop_rate:
            self._x = self._history()
        elif step == ESTIMATE_STEP and self._x is not None:
            self._estimate(self._x)
            self._x = None
        elif step == self._every // 2 and self._due is not None:
            self._follow(self._due / self.hop_rate, self._phase(self._due))
            self._due = None

    def skip(self, hops: int, time: float) -> None:
        """Audio was dropped (the reader fell behind): the missing hops read as silence, so time stays aligned."""
        for _ in range(min(hops, self._n)):
            for ring in (self._flux, self._low, self._score):
                ring.put(self._count, 0.0)
            if self._count % 2:
                self._odf.put(self._count // 2, self._pair)
            self._pair = 0.0
            self._count += 1
        self._count += max(0, hops - self._n)
        self._time = time

    # --- per estimate ----------------------------------------------------------------------------

    def _history(self) -> np.ndarray:
        """The newest onset values (up to `history` s), oldest first, as peaks above their local mean."""
        rate = self.hop_rate / 2
        n = min(self._count // 2, self._odf.n)
        x = self._odf.last(self._count // 2, n).copy()
        # Local mean over ~0.1 s: what stands above it is an onset, whatever the level of the music.
        box = np.ones(2 * max(1, round(0.05 * rate)) + 1)
        if self._box_n != n:  # how many values each local mean averages (fewer at the edges)
            self._box_n, self._box_count = n, np.convolve(np.ones(n), box, "same")
        x = np.maximum(x - np.convolve(x, box, "same") / self._box_count, 0.0)
        # One huge event (the music starting, a crash) must not outweigh every beat in the
        # autocorrelation: cap at the typical beat, the median of the m strongest values, where m
        # is how many beats the history holds at a middling tempo (100 BPM).
        m = max(2, int(n / rate * 100.0 / 60.0))
        typical = np.partition(x, n - m // 2 - 1)[n - m // 2 - 1]  # the median of the m strongest
        return np.minimum(x, typical)

    def _estimate(self, history: np.ndarray) -> None:
        est = self._estimator.estimate(history, hold=self.grid is not None and self._weak_since is None)
        if est is None:
            self._recent.append(0)
            self.salience = 0.0
            self.confidence *= 0.5
            self._weak()
            return
        self.salience = est.salience
        self._recent.append(est.raw_period)
        chosen = 2.0 * est.period  # in hops
        # Steadiness: the share of the latest estimates whose own best period agrees with the chosen one
        # (or its double or half: music with a clear beat often flips between those; noise jumps anywhere).
        seen = len(self._recent)
        agree = sum(1 for p in self._recent
                    if p and min(abs(2.0 * p * m / chosen - 1.0) for m in (0.5, 1.0, 2.0)) <= 0.05)
        agree = agree / seen if seen >= 2 else 0.0
        # A shorter history (the first seconds) gives a noisier autocorrelation: its floor rises as 1/sqrt(n).
        noise = SALIENCE_NOISE * math.sqrt(self._n / min(self._count, self._n))
        clarity = min(1.0, max(0.0, (est.salience - noise) / (SALIENCE_BEAT - SALIENCE_NOISE)))
        self.confidence += 0.5 * (clarity * agree - self.confidence)
        self._set_period(chosen)
        threshold = self.config.confidence if self.grid is None else self.config.confidence / 3.0
        if self.confidence < threshold:
            self._weak()
            return
        self._weak_since = None
        self._due = chosen

    def _phase(self, period: float) -> float:
        """Audio time of the latest beat: the comb of beats `period` hops apart that best fits the recent
        cumulative score (which beat chain), then the onsets within ~60 ms of it (where exactly)."""
        n = min(self._count, self._n)
        beats = max(2, min(int(4.0 * self.hop_rate / period), int((n - period) / period)))
        span = int(math.ceil(period)) + 2
        coarse = _comb(self._score.last(self._count, n), 0, span, beats, period)
        j = int(np.argmax(coarse[:-1]))
        near = round(0.06 * self.hop_rate)
        first = max(0, j - near)
        fine = _comb(self._flux.last(self._count, n), first, j + near + 2 - first, beats, period)
        i = int(np.argmax(fine[1:-1])) + 1
        hops_back = first + i + parabolic(fine[i - 1], fine[i], fine[i + 1])
        return self._time - hops_back / self.hop_rate - self._odf_delay

    def _follow(self, period: float, beat: float) -> None:
        """Lock, nudge or re-lock the grid towards one estimate (period s, a beat's time)."""
        grid = self.grid
        if grid is None or abs(period / grid.period - 1.0) > 0.04:
            if grid is None or (self._candidate is not None and abs(period / self._candidate - 1.0) <= 0.02):
                # A first lock (the confidence already asked for agreeing estimates), or a new tempo seen
                # twice: (re)lock, numbering beats on from the old grid so counts stay continuous.
                index = round(grid.position(beat)) if grid is not None else 0
                if grid is None:
                    self._locked_at = self._time
                self.grid = Grid(period, beat, index, self._meter.downbeat, self._meter.beats_per_bar)
                self._scored = index - self._n  # the beats still in the history count towards the meter
                self._candidate = None
            else:
                self._candidate = period
            return
        self._candidate = None
        index = round(grid.position(beat))
        error = beat - grid.time_of(index)  # + when the grid runs early
        grid.period += 0.5 * (period - grid.period)
        if abs(error) <= PHASE_JUMP * grid.period:
            grid.anchor, grid.index = beat - 0.5 * error, index  # glide half way
            self._jumps = 0
        else:
            # Far off the grid (often the off-beat: a chain as strong as the beat's for a moment): move
            # only once `PHASE_CONFIRM` estimates in a row agree on the new place, then at once.
            apart = (beat - self._jump_to) / grid.period if self._jump_to is not None else 0.5
            self._jumps = self._jumps + 1 if abs(apart - round(apart)) <= PHASE_JUMP else 1
            self._jump_to = beat
            if self._jumps >= PHASE_CONFIRM:
                grid.anchor, grid.index = beat, index
                self._jumps = 0
            else:  # the same grid, pinned at this beat so the new period turns it about now
                grid.anchor, grid.index = grid.time_of(index), index
        self._score_accents()

    def _score_accents(self) -> None:
        """Hand the meter the low-band accent on each beat passed since the last call."""
        grid, end = self.grid, self._time - self._odf_delay
        last = math.floor(grid.position(end - 3 / self.hop_rate))  # its onset peak is in the history by now
        n = min(self._count, self._n)
        low = self._low.last(self._count, n)
        first = last - int(n / self.hop_rate / grid.period) + 1  # the oldest beat in the history
        for index in range(max(self._scored + 1, first), last + 1):
            j = n - 1 - round((end - grid.time_of(index)) * self.hop_rate)
            if 2 <= j < n - 2:
                self._meter.add(index, float(low[j - 2:j + 3].max()))
            self._scored = index
        grid.beats_per_bar, grid.downbeat = self._meter.beats_per_bar, self._meter.downbeat

    def _weak(self) -> None:
        """No clear pulse in this estimate: keep an established grid (one that held `hold` seconds) through
        a break until `hold` seconds of these; a grid newer than that goes at once."""
        self._candidate = self._due = None
        if self._weak_since is None:
            self._weak_since = self._time
        if self.grid is not None and (self._time - self._weak_since > self.config.hold
                                      or self._time - self._locked_at < self.config.hold):
            self.grid = None  # held long enough, or never established (a chance pulse in speech or noise)
