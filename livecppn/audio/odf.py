"""The beat tracker's onset function: log-filtered spectral flux, one value per hop.

The field's standard onset function for beat tracking (Böck, Krebs & Schedl,
"Evaluating the online capabilities of onset detection methods", ISMIR 2012;
madmom's `SpectralFlux` over a `LogarithmicFilteredSpectrogram`; the onset
function of BTrack, Stark 2011, and of Ellis's dynamic-programming tracker are
the same family): the magnitude spectrum is pooled into log-spaced bands
(`bands_per_octave`, each band at least one FFT bin), compressed with
log(1 + gain * |X|), and the rises since `diff_hops` hops ago are summed over
the bands with half-wave rectification, each band weighted by the octaves it
spans. Every octave counts alike, so a kick's two octaves count as much as a
hi-hat's five and a comb does not lock onto off-beat hats; comparing with two hops back (frames overlapping
by half, as madmom's `diff_ratio=0.5`) makes each onset one clear rise.

A second value, the flux of the bands below `low_hz` (kick, bass), marks the
accents the meter and the downbeat are read from (meter.py). A third, the same
flux of the linear magnitudes, places the beat (tracker.py): log compression
makes soft onsets count, which the tempo needs, but it also lets a house
track's off-beat bass and hats outweigh its kicks; in linear magnitude the
loudest onsets, the kicks, stand out. (It peaks later, as a kick's body swells
after its attack, so the log flux then places the beat to the millisecond.)
Render thread; one hop at a time, in order.
"""

from __future__ import annotations

import math

import numpy as np

from .base import AudioError


def aubio_module():
    """aubio, imported when an analyser is made (not at import: rendering, the benchmarks and the GPU
    tests run without it, tools/gpu_prepare.sh). Raises AudioError saying what to install."""
    try:
        import aubio
    except ImportError as e:
        raise AudioError(f"onset detection needs aubio (pip install aubio-ledfx): {e}") from e
    return aubio


def log_bands(sample_rate: int, n_fft: int, lo_hz: float, hi_hz: float,
              per_octave: int) -> tuple[np.ndarray, np.ndarray]:
    """(bands, bins) float32 matrix averaging the magnitude bins of each log-spaced band, and each
    band's width in octaves.

    Band edges are `per_octave` to the octave from `lo_hz` to `hi_hz` (clipped to
    Nyquist), rounded to bins; bands that round to the same bins are merged, so
    the low bands, narrower than a bin, become one band per bin (and span more
    than 1/per_octave of an octave: their weight says how much)."""
    n_bins = n_fft // 2 + 1
    hi_hz = min(hi_hz, sample_rate / 2)
    octaves = math.log2(hi_hz / lo_hz)
    edges_hz = lo_hz * 2.0 ** (np.arange(int(octaves * per_octave) + 1) / per_octave)
    edges = np.unique(np.round(edges_hz * n_fft / sample_rate).astype(int))
    edges = edges[(edges >= 1) & (edges < n_bins)]
    rows, octaves = [], []
    bin_hz = sample_rate / n_fft
    for lo, hi in zip(edges[:-1], edges[1:]):
        row = np.zeros(n_bins, dtype=np.float32)
        row[lo:hi] = 1.0 / (hi - lo)
        rows.append(row)
        octaves.append(math.log2(hi * bin_hz / max(lo * bin_hz, lo_hz)))
    return np.array(rows, dtype=np.float32), np.array(octaves, dtype=np.float32)


class BandFlux:
    """Spectral flux of each hop: `(log flux, its bands below low_hz, linear flux)` per call."""

    def __init__(self, sample_rate: int, hop: int, *, frame_hops: int = 4, bands_per_octave: int = 6,
                 lo_hz: float = 30.0, hi_hz: float = 16000.0, low_hz: float = 200.0, gain: float = 100.0,
                 diff_hops: int = 2):
        n_fft = frame_hops * hop
        self._pvoc = aubio_module().pvoc(n_fft, hop)
        self._bands, octaves = log_bands(sample_rate, n_fft, lo_hz, hi_hz, bands_per_octave)
        self._weight = octaves * np.float32(bands_per_octave)  # every octave counts alike
        centres = (self._bands * np.arange(n_fft // 2 + 1)).sum(1) / self._bands.sum(1) * sample_rate / n_fft
        self._n_low = int(np.sum(centres < low_hz))
        self._gain = np.float32(gain)  # log1p(gain * |X|): ~level-independent above -70 dBFS
        self._past = np.zeros((diff_hops, len(self._bands)), dtype=np.float32)  # the last diff_hops hops' bands
        self._past_lin = np.zeros_like(self._past)
        self._i = 0
        self._rise = np.zeros(len(self._bands), dtype=np.float32)

    def __call__(self, hop_samples: np.ndarray) -> tuple[float, float, float]:
        """(log flux, its low bands' part, linear flux) of one hop."""
        bands = self._bands @ self._pvoc(hop_samples).norm
        rise, weight, i = self._rise, self._weight, self._i
        np.subtract(bands, self._past_lin[i], out=rise)
        np.maximum(rise, 0.0, out=rise)
        loud = float(np.dot(rise, weight))
        self._past_lin[i] = bands
        np.multiply(bands, self._gain, out=bands)
        np.log1p(bands, out=bands)
        np.subtract(bands, self._past[i], out=rise)
        self._past[i] = bands
        np.maximum(rise, 0.0, out=rise)
        n = self._n_low
        self._i = (i + 1) % len(self._past)
        return float(np.dot(rise, weight)), float(np.dot(rise[:n], weight[:n])), loud
