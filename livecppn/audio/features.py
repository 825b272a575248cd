"""Audio features: the newest audio window in, one frozen AudioFeatures out.

Runs on the render thread, once per frame (DESIGN §1). Live, the window comes
from the ring buffer; offline, frame n sees the window ending at n / fps
seconds of the file (DESIGN §2, frame_clock.py). Both go through the same
FeatureExtractor, so the live look and the offline render match.

Every time constant is in seconds and applied through smoothing.py
(`a = 1 - exp(-dt / tau)`), so the look does not change with the frame rate.

The seed's nine features (FEATURE_NAMES, the CPPN's input; all in [0, 1]
except `time`):
- bass / mid / treble: RMS level of the band (bass 20-250 Hz, mid 250-4000 Hz,
  treble 4-16 kHz) from a Hann-windowed rfft, scaled by Parseval so a sine of
  amplitude A reads A/sqrt(2) whatever the FFT size. Auto-gained, smoothed with
  their own attack and release (`smoothing`, else `attack` / `release`).
- centroid: magnitude-weighted mean frequency, as a log-frequency position on
  `scale_hz` (20 Hz = 0, 24 kHz = 1: Nyquist at 48 kHz, fixed in Hz so 44.1,
  48 and 96 kHz read alike); a 200 Hz tone sits near 0.32, 8 kHz near 0.85.
- rolloff: the frequency below which `rolloff_fraction` of the power lies,
  normalised the same way. Both are smoothed, not auto-gained.
- flux: positive spectral flux, the mean per-bin rise of the compressed
  magnitude (decades above `spectrum_floor_db`) since the previous snapshot.
  Auto-gained, smoothed.
- beat: a pulse, 1.0 at a beat, decaying with `beat_release`. The Analyzer
  pulses it on the beat clock (analyzer.py says why); the extractor alone, on
  the seed's kick-band onsets (spectrum.KickOnsets).
- rms: RMS of the window, auto-gained, smoothed.
- time: a motion clock in seconds advancing at dt * (time_base + time_energy *
  rms), so the picture moves faster when the music is louder and slowly in
  silence. Unbounded, never auto-gained.

Beyond the nine: `spectrum` (spectrum.py) and the onset and tempo fields the Analyzer fills in.

Auto-gain (smoothing.auto_gain) divides a level by its running peak (rising
with `gain_attack`, so one transient caught by a frame does not set the scale,
decaying with `gain_decay`), never by less than `gain_floor`, and clamps to 1,
so a quiet room and a loud club both use the full range but near-silence is not
blown up into noise. Each band has its own peak, so each reads as "loud for
this band" (a pure tone's leakage into a neighbouring band can read high too).
Smoothing (smoothing.follow) rises with `attack` and falls with `release`.
Below `silence_db` (window RMS, dBFS) the gate holds every target at 0, so the
features ease to 0 with the release time: silence looks calm, not noisy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .config import SMOOTHED, FeatureConfig
from .smoothing import auto_gain, follow, retention
from .spectrum import BandSpectrum, KickOnsets

FEATURE_NAMES = ("bass", "mid", "treble", "centroid", "rolloff", "flux", "time", "beat", "rms")

_REFERENCE_RATES = (44100, 48000)  # rates the default window size is chosen for


@dataclass(frozen=True, slots=True)
class AudioFeatures:
    """One frame's audio features: an immutable snapshot the generator and shaders read.

    The first nine fields are the seed's (FEATURE_NAMES, `vector()`: the CPPN's
    input). The rest have defaults, so a hand-made snapshot names only what it needs.
    """

    bass: float
    mid: float
    treble: float
    centroid: float
    rolloff: float
    flux: float
    time: float
    beat: float
    rms: float
    onset_strength: float = 0.0  # [0, 1]: the auto-gained onset function, peak since the previous snapshot
    onset: bool = False  # an onset since the previous snapshot
    onset_time: float = -1.0  # audio-clock seconds of the latest onset; -1.0 before the first
    bpm: float = 0.0  # 0.0 while no tempo is known
    beat_phase: float = 0.0  # [0, 1) within the beat; 0 on the beat
    bar_phase: float = 0.0  # [0, 1) within the bar (of `beats_per_bar` beats)
    beats_per_bar: int = 4  # the meter: 4, or 3 for a waltz (from the audio, or the `meter` parameter)
    bpm_confidence: float = 0.0  # [0, 1]: the beat tracker's confidence in its tempo (tap and clock: 1; none: 0)
    beat_count: int = 0  # beats counted since the analyser started (never goes back)
    tempo_source: str = "none"  # 'link' | 'clock' | 'tap' | 'tracker' | 'none'
    spectrum: tuple[float, ...] = (0.0,) * 32  # log-spaced bands, low to high, each in [0, 1]
    audio_time: float = 0.0  # audio-clock seconds at the end of the audio analysed
    level: float = 0.0  # window RMS in dBFS mapped to [0, 1] (-60 dB = 0, 0 dB = 1), smoothed, NOT auto-gained

    def vector(self) -> np.ndarray:
        """float32 (9,) in FEATURE_NAMES order: the CPPN's audio input."""
        return np.array([getattr(self, name) for name in FEATURE_NAMES], dtype=np.float32)

    def as_dict(self) -> dict:
        """Every field, JSON-ready (the spectrum as a list); the seed's nine first, in FEATURE_NAMES order."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # declared in that order
        d["spectrum"] = list(self.spectrum)
        return d

    @classmethod
    def silent(cls, time: float = 0.0) -> "AudioFeatures":
        return cls(bass=0.0, mid=0.0, treble=0.0, centroid=0.0, rolloff=0.0, flux=0.0,
                   time=float(time), beat=0.0, rms=0.0)


def window_size_for_rate(window: int, sample_rate: int) -> int:
    """FFT size giving the same duration as `window` samples at 44.1/48 kHz (kept as is there)."""
    if _REFERENCE_RATES[0] <= sample_rate <= _REFERENCE_RATES[1]:
        return window
    return max(64, 2 * round(window * sample_rate / (2 * _REFERENCE_RATES[1])))  # even, for a clean rfft


def _bins(freqs_hz: tuple[float, float], bin_hz: float, n_bins: int) -> slice:
    """rfft bins covering [lo, hi] Hz, at least one, never DC, clipped to the spectrum."""
    lo = min(max(1, math.ceil(freqs_hz[0] / bin_hz)), n_bins - 1)
    hi = min(max(lo + 1, math.floor(freqs_hz[1] / bin_hz) + 1), n_bins)
    return slice(lo, hi)


class FeatureExtractor:
    """Runs on the render thread, once per frame. Turns the newest audio window into one frozen AudioFeatures.

    `config` is the resolved config: its `window` is the FFT size actually used
    at this sample rate, the length to ask the ring for. `snapshot` is the
    whole job; the Analyzer calls `analyse` + `features` instead, to put its
    own onsets and beat clock in the snapshot.
    """

    _SMOOTHED = tuple(n for n in SMOOTHED if n not in ("spectrum", "onset_strength"))  # BandSpectrum's, the Analyzer's
    _GAINED = ("bass", "mid", "treble", "flux", "rms")

    def __init__(self, sample_rate: int, config: FeatureConfig | None = None):
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        config = config or FeatureConfig()
        self.config = dataclasses.replace(config, window=window_size_for_rate(config.window, sample_rate))
        self.sample_rate = int(sample_rate)
        n = self.config.window
        n_bins = n // 2 + 1
        bin_hz = sample_rate / n

        # Everything per-frame works in these preallocated buffers; only rfft allocates.
        self._frame = np.zeros(n, dtype=np.float32)
        self._windowed = np.zeros(n, dtype=np.float32)
        self._hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann
        self._mag = np.zeros(n_bins, dtype=np.float32)
        self._power = np.zeros(n_bins, dtype=np.float32)
        self._comp = np.zeros(n_bins, dtype=np.float32)
        self._prev_comp = np.zeros(n_bins, dtype=np.float32)
        self._rise = np.zeros(n_bins, dtype=np.float32)
        self._cumsum = np.zeros(n_bins, dtype=np.float64)
        self._freqs = (np.arange(n_bins) * bin_hz).astype(np.float32)

        # Parseval: band power sum * this = mean square of the band's signal, whatever n is.
        self._power_scale = 2.0 / (n * float(np.sum(self._hann.astype(np.float64) ** 2)))
        # Magnitude scale putting a full-scale sine's peak at 1, then relative to the floor.
        self._floor = 10 ** (self.config.spectrum_floor_db / 20)
        self._mag_scale = 2.0 / float(np.sum(self._hann, dtype=np.float64))
        self._comp_scale = self._mag_scale / self._floor

        lo_hz, hi_hz = self.config.scale_hz
        self._band = {name: _bins(getattr(self.config, f"{name}_hz"), bin_hz, n_bins)
                      for name in ("bass", "mid", "treble", "beat")}
        self._full = _bins((lo_hz, min(hi_hz, sample_rate / 2)), bin_hz, n_bins)
        self._scale_lo, self._log_span = lo_hz, math.log(hi_hz / lo_hz)
        self._silence = 10 ** (self.config.silence_db / 20)
        self._spectrum = BandSpectrum(sample_rate, n, self._power_scale, self.config.spectrum_bands, lo_hz, hi_hz,
                                      self.config.spectrum_range_db, self.config.gain_floor)
        self._kicks = KickOnsets(self.config, len(range(n_bins)[self._band["beat"]]), self._mag_scale)
        self.reset()

    def reset(self) -> None:
        """Forget all history (peaks, smoothing, onsets, motion clock), as if just constructed."""
        self._smooth = dict.fromkeys(self._SMOOTHED, 0.0)
        self._peak = {name: (self.config.flux_floor if name == "flux" else self.config.gain_floor)
                      for name in self._GAINED}
        self._prev_comp[:] = 0.0
        self._have_prev = self._have_flux = False  # the first snapshot has nothing to measure flux against
        self._pulse = 0.0
        self._motion = 0.0
        self.gated = True
        self._spectrum.reset()
        self._kicks.reset()

    def snapshot(self, window: np.ndarray, dt: float) -> AudioFeatures:
        """Features of `window` (newest mono float32 samples, ideally config.window long).

        `dt` is the seconds since the previous snapshot; non-finite or absurd
        values are clamped so a hiccup never blows up the smoothing. A shorter
        window is zero-padded at the front, a longer one uses its newest samples;
        NaN/Inf samples count as silence. `beat` pulses on kick-band onsets.
        Must only be called from one thread.
        """
        dt = self.analyse(window, dt)
        self._pulse *= retention(dt, self.config.beat_release)
        if self._kicks.update(self._mag[self._band["beat"]], self._peak["bass"], dt,
                              detect=not self.gated and self._have_flux):
            self._pulse = 1.0
        return self.features(beat=self._pulse)

    def analyse(self, window: np.ndarray, dt: float) -> float:
        """The spectral part of `snapshot`: levels, shape, flux, spectrum, motion clock; no beat.

        Returns dt as clamped. Afterwards `gated` says whether the window was
        below the silence gate, and `features()` builds the snapshot.
        """
        cfg = self.config
        dt = float(dt)
        dt = 1 / 60 if not math.isfinite(dt) else min(max(dt, 1e-4), 0.5)
        mean_square = self._load(window)
        rms_raw = math.sqrt(mean_square)
        gated = self.gated = rms_raw < self._silence

        # Spectrum, into preallocated buffers.
        np.multiply(self._frame, self._hann, out=self._windowed)
        spectrum = np.fft.rfft(self._windowed)
        np.abs(spectrum, out=self._mag, casting="same_kind")
        np.multiply(self._mag, self._mag, out=self._power)

        # Compressed magnitude (decades above the floor) and its positive change.
        np.multiply(self._mag, self._comp_scale, out=self._comp)
        np.maximum(self._comp, 1.0, out=self._comp)
        np.log10(self._comp, out=self._comp)
        np.subtract(self._comp, self._prev_comp, out=self._rise)
        np.maximum(self._rise, 0.0, out=self._rise)
        self._comp, self._prev_comp = self._prev_comp, self._comp  # swap: no copy
        self._have_flux, self._have_prev = self._have_prev, True
        flux = float(self._rise[self._full].mean()) if self._have_flux else 0.0

        levels = {name: math.sqrt(float(self._power[self._band[name]].sum()) * self._power_scale)
                  for name in ("bass", "mid", "treble")}
        levels["flux"] = flux
        levels["rms"] = rms_raw

        # Auto-gain: peaks decay in seconds; the gate keeps silence from raising them.
        targets = dict.fromkeys(self._SMOOTHED, 0.0)
        for name in self._GAINED:
            floor = cfg.flux_floor if name == "flux" else cfg.gain_floor
            targets[name], self._peak[name] = auto_gain(levels[name], self._peak[name], dt, gated, floor,
                                                        cfg.gain_attack, cfg.gain_decay)
        if not gated:
            targets["centroid"], targets["rolloff"] = self._shape()
            # how loud it really is (rms is relative to the recent peak): the autopilot tells loud from quiet
            targets["level"] = min(max(1.0 + 20.0 * math.log10(max(rms_raw, 1e-9)) / 60.0, 0.0), 1.0)

        # Asymmetric smoothing: rise with attack, fall (and ease into silence) with release.
        for name, target in targets.items():
            self._smooth[name] = follow(self._smooth[name], target, dt, *cfg.times(name))
        self._spectrum.update(self._power, dt, gated, cfg.gain_attack, cfg.gain_decay, *cfg.times("spectrum"))
        self._motion += dt * (cfg.time_base + cfg.time_energy * self._smooth["rms"])
        return dt

    def features(self, beat: float, **fields) -> AudioFeatures:
        """The snapshot of the latest `analyse`, with `beat` and any further AudioFeatures fields given."""
        s = self._smooth
        return AudioFeatures(bass=s["bass"], mid=s["mid"], treble=s["treble"], centroid=s["centroid"],
                             rolloff=s["rolloff"], flux=s["flux"], time=self._motion, beat=beat, rms=s["rms"],
                             spectrum=tuple(self._spectrum.values.tolist()), level=s["level"], **fields)

    def _load(self, window: np.ndarray) -> float:
        """Copy the newest samples into the frame buffer; returns their mean square."""
        n = len(self._frame)
        window = np.asarray(window, dtype=np.float32).reshape(-1)
        k = min(len(window), n)
        self._frame[:n - k] = 0.0
        if k:
            self._frame[n - k:] = window[len(window) - k:]
        mean_square = float(np.dot(self._frame, self._frame)) / n
        if not math.isfinite(mean_square):  # corrupt input: treat the bad samples as silence
            np.nan_to_num(self._frame, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            np.clip(self._frame, -1e3, 1e3, out=self._frame)  # huge finite values would overflow the square
            mean_square = float(np.dot(self._frame, self._frame)) / n
        return mean_square

    def _shape(self) -> tuple[float, float]:
        """(centroid, rolloff) as log-frequency positions between 20 Hz and Nyquist."""
        full = self._full
        mag, power = self._mag[full], self._power[full]
        total = float(mag.sum())
        if total <= 0.0:
            return 0.0, 0.0
        centroid_hz = float(np.dot(self._freqs[full], mag)) / total
        cum = self._cumsum[:full.stop - full.start]
        np.cumsum(power, out=cum)
        k = int(np.searchsorted(cum, self.config.rolloff_fraction * cum[-1]))
        rolloff_hz = float(self._freqs[full.start + min(k, len(cum) - 1)])
        return self._log_position(centroid_hz), self._log_position(rolloff_hz)

    def _log_position(self, hz: float) -> float:
        return min(max(math.log(max(hz, self._scale_lo) / self._scale_lo) / self._log_span, 0.0), 1.0)
