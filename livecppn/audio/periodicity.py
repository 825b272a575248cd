"""Tempo from an onset function: autocorrelation, a comb over its multiples, a log-Gaussian prior, a memory.

What is taken from where:
- Autocorrelation of the adaptively thresholded onset function, scored by a
  comb of its multiples (a pulse at period T correlates at T, 2T, 3T ...; a
  click on every other beat of the faster tempo scores half): BTrack
  (A. Stark, "Real-time beat-synchronous analysis of musical audio", DAFx 2009;
  `BTrack::calculateTempo`), and Davies & Plumbley's comb-filter tempo
  induction (2007).
- The log-Gaussian tempo prior over 50-220 BPM, one octave wide, instead of
  folding every tempo into an octave: Ellis, "Beat tracking by dynamic
  programming" (JNMR 2007), as in librosa's `tempo(start_bpm=120, std_bpm=1)`;
  centred here on 130 BPM (TempoConfig.prior_bpm), which measured better than
  120 and 110 on tools/eval_tempo.py's set as a whole (each centre wins some
  tracks' octave and loses others').
- Once a grid stands on a tempo, its metrical relatives (double, half, 4:3,
  3:2 and their inverses) take over only with a clear margin: a 16th-note
  groove fits 4/3 of its beat nearly as well as the beat, and 85 and 170 BPM
  of a hip-hop beat are close; flipping between them throws the beat.
- The candidates' scores are averaged over the last few estimates (a leaky
  mean, time constant `memory` estimates), so one estimate every `update`
  seconds moves the tempo only where the evidence keeps pointing, and a real
  change takes over within a second or two: the role of BTrack's tempo
  Viterbi step and of madmom's tempo state space, in the simplest form that
  measured as well here (a forward HMM over the candidates held on to a
  wrong octave for tens of seconds).

`salience` is how far the comb at the chosen period stands above its median
over all candidates (the comb is the mean normalised autocorrelation, -1..1,
at a period's multiples). Measured with tools/eval_tempo.py: white and pink
noise and speech stay under ~0.08 (the best candidate is a fluctuation, no
higher than the rest); music with a beat reads 0.2 and more. The tracker turns
it, and how steadily the best candidate stays put, into a confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HARMONICS = 8  # multiples of a period the comb reads (eight: a 16th-note groove fits 4/3 of the beat at four)
RELATED = (2.0, 0.5, 4 / 3, 3 / 4, 3 / 2, 2 / 3)  # period ratios of metrical relatives of a tempo
REFINE_MULTIPLES = 4  # the first multiples whose autocorrelation peaks pin the period between hops
OCTAVE_MARGIN = 1.25  # a relative of the tempo held takes over only when it scores this much better


def max_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """max(x[i - radius:i + radius + 1]) for each i (edges clipped)."""
    out = x.copy()
    for r in range(1, radius + 1):
        np.maximum(out[r:], x[:-r], out=out[r:])
        np.maximum(out[:-r], x[r:], out=out[:-r])
    return out


def parabolic(y_left: float, y_mid: float, y_right: float) -> float:
    """Offset in (-0.5, 0.5) of the peak of a parabola through three equally spaced points."""
    denom = y_left - 2.0 * y_mid + y_right
    return 0.0 if denom >= 0.0 else 0.5 * (y_left - y_right) / denom


@dataclass(frozen=True, slots=True)
class TempoEstimate:
    period: float  # hops, to a fraction of a hop (the best of the averaged scores, refined)
    salience: float  # the comb at that period above the comb's median over all candidates
    raw_period: int  # hops: the best candidate of this estimate alone


class TempoEstimator:
    """One tempo estimate from the newest onset-function history. Render thread; one caller.

    `history` samples at `hop_rate`; candidates are the whole-hop periods of
    `bpm_range`; `memory` is how many estimates the scores are averaged over.
    """

    def __init__(self, hop_rate: float, history: int, bpm_range: tuple[float, float], prior_bpm: float,
                 prior_octaves: float, memory: float = 4.0, recency: float = 6.0):
        self.hop_rate = hop_rate
        lo_bpm, hi_bpm = bpm_range
        self.lags = np.arange(int(60.0 / hi_bpm * hop_rate), int(math.ceil(60.0 / lo_bpm * hop_rate)) + 1)
        self._nfft = 1 << (2 * history - 1).bit_length()  # no circular wrap in the autocorrelation
        octaves = np.log2(60.0 * hop_rate / self.lags / prior_bpm)
        self._prior = np.exp(-0.5 * (octaves / prior_octaves) ** 2)
        self._keep = 1.0 - 1.0 / memory
        self.recency = recency
        self._w: np.ndarray | None = None  # the recency window for the history length last seen
        self.reset()

    def reset(self) -> None:
        self._chosen: int | None = None
        self._mean = np.zeros(len(self.lags))
        self._seen = 0

    def estimate(self, x: np.ndarray, hold: bool = True) -> TempoEstimate | None:
        """x: the thresholded onset function, oldest first. None when it holds no energy at all.
        `hold`: the tempo chosen last is trusted (a grid stands on it), so its relatives need a margin."""
        n = len(x)
        # Recent onsets weigh more (a window decaying over `recency` seconds into the past), so a new tempo
        # takes over in a few seconds; each lag is divided by the window's own autocorrelation (unbiased).
        x = (x - x.mean()) * self._window(n)
        spec = np.fft.rfft(x, self._nfft)
        acf = np.fft.irfft(spec.real ** 2 + spec.imag ** 2, self._nfft)[:n]
        if acf[0] <= 1e-12:
            return None
        acf /= self._w_acf * (acf[0] / self._w_acf[0])  # 1 at lag 0
        usable = n - int(self.hop_rate)  # lags with at least a second of overlap
        comb = self._comb(acf, usable)
        comb = np.maximum(comb, 0.0)
        raw = self._best(comb)
        # The leaky mean of the scores: a plain mean while the first estimates come in.
        self._seen += 1
        self._mean += max(1.0 - self._keep, 1.0 / self._seen) * (comb - self._mean)
        best = self._best(self._mean)
        if hold and self._chosen is not None and best != self._chosen:
            # Sticking to a metrical level: a tempo related to the one held (double or half, or 3:4 and 2:3,
            # which a 16th-note groove fits nearly as well) must score clearly better to take over; a hip-hop
            # beat's 85 and 170 BPM are close, and flipping between them throws the beat. A real change of
            # tempo leaves the old one without support, and then it takes over at once.
            ratio = self.lags[best] / self.lags[self._chosen]
            held = self._mean[self._chosen] * self._prior[self._chosen]
            if min(abs(ratio / r - 1.0) for r in RELATED) < 0.04 and \
                    self._mean[best] * self._prior[best] < OCTAVE_MARGIN * held:
                best = self._local_best(self._chosen)
        self._chosen = best
        period = self._refine(acf, int(self.lags[best]), usable)
        middle = len(comb) // 2  # the median (np.median costs ten times as much)
        return TempoEstimate(period, float(comb[best] - np.partition(comb, middle)[middle]), int(self.lags[raw]))

    def _window(self, n: int) -> np.ndarray:
        """The recency window for a history of n values, and (in _w_acf) its autocorrelation."""
        if self._w is None or len(self._w) != n:
            self._w = np.exp(-np.arange(n)[::-1] / (self.recency * self.hop_rate))
            spec = np.fft.rfft(self._w, self._nfft)
            self._w_acf = np.fft.irfft(spec.real ** 2 + spec.imag ** 2, self._nfft)[:n]
        return self._w

    def _best(self, comb: np.ndarray) -> int:
        return int(np.argmax(comb * self._prior))

    def _local_best(self, i: int) -> int:
        """The best candidate within 4 % of candidate i (the tempo held may drift)."""
        lag = self.lags[i]
        near = np.flatnonzero(np.abs(self.lags / lag - 1.0) <= 0.04)
        return int(near[np.argmax(self._mean[near] * self._prior[near])])

    def _comb(self, acf: np.ndarray, usable: int) -> np.ndarray:
        """For each candidate period: the mean autocorrelation at those of its first eight multiples that the
        history holds. The k-th multiple of a period between hops can be k/2 hops from k * lag: it is read
        as the max of a neighbourhood that widens with k."""
        last = len(acf) - 1
        scores = np.zeros(len(self.lags))
        counted = np.zeros(len(self.lags))
        radius = -1
        for k in range(1, HARMONICS + 1):
            if (k + 1) // 2 != radius:
                radius = (k + 1) // 2
                near = max_filter(acf, radius)
                near[usable:] = 0.0  # lags without a second of overlap do not count
            idx = k * self.lags
            scores += near[np.minimum(idx, last)]
            counted += idx < usable
        return scores / np.maximum(counted, 1)

    def _refine(self, acf: np.ndarray, lag: int, usable: int) -> float:
        """The period in hops to a fraction of a hop, from the autocorrelation peaks at its multiples."""
        total = weight = 0.0
        for k in range(1, REFINE_MULTIPLES + 1):
            lo, hi = max(1, lag * k - max(2, k)), min(usable - 1, lag * k + max(2, k) + 1)
            if hi - lo < 3:
                break
            j = lo + int(np.argmax(acf[lo:hi]))
            if lo < j < hi - 1:  # a peak, not the edge of the search
                total += j + parabolic(acf[j - 1], acf[j], acf[j + 1])  # = k periods: later ones pin it finer
                weight += k
        return total / weight if weight else float(lag)
