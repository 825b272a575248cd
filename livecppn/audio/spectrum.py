"""Stages that read the feature extractor's spectrum, once per frame on the render thread (no FFT of their own).

- BandSpectrum, the shaders' spectrum: the power spectrum folded into
  log-spaced bands, each auto-gained and smoothed.
- KickOnsets, the seed's hand-written onset detector on the kick band (the
  extractor's `beat` when used alone). tools/eval_onsets.py measures it
  against aubio's; the Analyzer uses aubio's (see there for why).

BandSpectrum: Band edges are fixed in Hz
(20 Hz to 24 kHz, Nyquist at 48 kHz, by default), not in bins, so a tone lands
in the same band at 44.1, 48 or 96 kHz; above the input's Nyquist a band simply
stays dark. Bands narrower than an FFT bin (the lowest few at a 2048-point
FFT) take their share of that bin's power, so they move with their neighbours
instead of reading zero.
"""

from __future__ import annotations

import math

import numpy as np

from .config import FeatureConfig
from .smoothing import ArrayAutoGain, ArrayFollower, coefficient

_KICK_HISTORY = 32  # kick-band spectra kept for the onset lag (enough for beat_lag at 1000 fps)


def band_edges(bands: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    """bands + 1 log-spaced edges from lo_hz to hi_hz."""
    return lo_hz * (hi_hz / lo_hz) ** (np.arange(bands + 1) / bands)


def band_matrix(edges: np.ndarray, bin_hz: float, n_bins: int) -> np.ndarray:
    """(bands, n_bins) float32: the share of each rfft bin's power in each band.

    Bin k covers [(k - 0.5), (k + 0.5)) * bin_hz; its power is split by the
    overlap of that interval with each band (DC excluded).
    """
    lo_bin = (np.arange(n_bins) - 0.5) * bin_hz
    hi_bin = lo_bin + bin_hz
    lo_bin[0] = hi_bin[0]  # no DC
    overlap = (np.minimum(hi_bin[None, :], edges[1:, None]) - np.maximum(lo_bin[None, :], edges[:-1, None]))
    return (np.clip(overlap, 0.0, None) / bin_hz).astype(np.float32)


class BandSpectrum:
    """Power spectrum in, `bands` levels in [0, 1] out. Render thread; one caller.

    Each band's RMS level (Parseval-scaled like bass/mid/treble) is divided by
    its own running peak (rising with `gain_attack`, decaying with
    `gain_decay`), then smoothed up with `attack` and down with `release`
    (seconds). A band's peak never sits below `gain_floor / sqrt(bands)` (its
    share of pink noise at gain_floor: a quiet room still fills the bands,
    near-silence is not blown up), nor more than `range_db` below the loudest
    band's peak: each band reads "loud for this band", but the leakage
    around a loud tone stays dark instead of reading full scale.
    """

    def __init__(self, sample_rate: int, n_fft: int, power_scale: float, bands: int = 32,
                 lo_hz: float = 20.0, hi_hz: float = 24000.0, range_db: float = 30.0,
                 gain_floor: float = 10 ** (-50 / 20)):
        n_bins = n_fft // 2 + 1
        self.edges = band_edges(bands, lo_hz, hi_hz)
        self._matrix = band_matrix(self.edges, sample_rate / n_fft, n_bins)
        self._scale = np.float32(power_scale)
        self._level = np.zeros(bands, dtype=np.float32)
        self._target = np.zeros(bands, dtype=np.float32)
        self._gain = ArrayAutoGain(bands, gain_floor / math.sqrt(bands), 10 ** (-range_db / 20))
        self._smooth = ArrayFollower(bands)
        self.values = self._smooth.values
        self.reset()

    def reset(self) -> None:
        self._gain.reset()
        self._smooth.reset()

    def update(self, power: np.ndarray, dt: float, gated: bool, gain_attack: float, gain_decay: float,
               attack: float, release: float) -> np.ndarray:
        """Fold `power` (the rfft's |X|^2) into the bands; returns `values` (updated in place)."""
        level = self._level
        np.matmul(self._matrix, power, out=level)
        level *= self._scale
        np.sqrt(level, out=level)
        target = self._gain.step(level, dt, gated, gain_attack, gain_decay, out=self._target)
        return self._smooth.step(target, dt, attack, release)


class KickOnsets:
    """The seed's kick-band onset detector: kick-band magnitudes in, once per frame; True on an onset.

    An onset is a rise of the kick band (config.beat_hz) over the last
    `beat_lag` seconds (not one frame ago, so a kick's rise reads the same at
    24 and 144 fps), in decades above a floor `beat_range_db` below the bass
    band's running peak (a hat's edge or rumble between kicks cannot make a
    large log rise out of near-nothing), that clears an adaptive threshold
    (mean + beat_k * std over ~beat_history seconds, at least beat_min_flux), at
    least `beat_refractory` seconds after the previous one.
    """

    def __init__(self, config: FeatureConfig, n_bins: int, mag_scale: float):
        self.config = config
        self._mag_scale = mag_scale
        self._floor = 10 ** (config.spectrum_floor_db / 20)
        self._range = 10 ** (-config.beat_range_db / 20)
        self._now, self._ref, self._tmp = (np.zeros(n_bins, dtype=np.float32) for _ in range(3))
        self._hist = np.zeros((_KICK_HISTORY, n_bins), dtype=np.float32)  # recent kick-band spectra ...
        self._times = np.zeros(_KICK_HISTORY)  # ... and when they were seen
        self.reset()

    def reset(self) -> None:
        self._times[:] = -math.inf
        self._head = 0
        self._clock = 0.0  # seconds of frames seen
        self._last = -math.inf  # last onset
        self._mean = self._var = 0.0

    def update(self, kick_mag: np.ndarray, bass_peak: float, dt: float, detect: bool) -> bool:
        """`kick_mag`: the kick band's rfft magnitudes; `bass_peak`: the bass band's running peak (RMS).
        Remembers the spectrum every frame; looks for an onset only when `detect` (not gated)."""
        self._clock += dt
        flux = self._flux(kick_mag, bass_peak)
        if not detect:
            return False
        cfg = self.config
        threshold = max(self._mean + cfg.beat_k * math.sqrt(self._var), cfg.beat_min_flux)
        onset = flux > threshold and self._clock - self._last >= cfg.beat_refractory
        if onset:
            self._last = self._clock
        # Exponentially weighted mean and variance (~beat_history seconds at any frame rate) of the flux
        # clipped at the threshold, so the kicks themselves do not raise the bar they must clear.
        a = coefficient(dt, cfg.beat_history)
        d = min(flux, threshold) - self._mean
        self._mean += a * d
        self._var = (1.0 - a) * (self._var + a * d * d)
        return onset

    def _flux(self, kick_mag: np.ndarray, bass_peak: float) -> float:
        """Mean rise (decades) of the kick-band magnitudes over the last ~beat_lag seconds."""
        now, ref, tmp = self._now, self._ref, self._tmp
        np.multiply(kick_mag, self._mag_scale, out=now)
        # The newest stored spectrum at least beat_lag old (or the oldest kept, at absurd frame rates).
        cutoff, k, found = self._clock - self.config.beat_lag, self._head, False
        for _ in range(_KICK_HISTORY):
            k = (k - 1) % _KICK_HISTORY
            if self._times[k] <= cutoff:
                found = True
                break
        if not found:
            k = self._head  # the oldest slot
        usable = math.isfinite(self._times[k])
        floor = max(self._floor, bass_peak * self._range)
        np.maximum(self._hist[k], floor, out=ref)  # read before the slot may be overwritten below
        np.log10(ref, out=ref)
        self._hist[self._head] = now
        self._times[self._head] = self._clock
        self._head = (self._head + 1) % _KICK_HISTORY
        if not usable:
            return 0.0
        np.maximum(now, floor, out=tmp)
        np.log10(tmp, out=tmp)
        np.subtract(tmp, ref, out=tmp)
        np.maximum(tmp, 0.0, out=tmp)
        return float(tmp.mean())
