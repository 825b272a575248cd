"""Audio analysis settings: FeatureConfig (features, spectrum, onsets) and its TempoConfig.

Plain dataclasses, checked on construction; every stage of the analysis
(features.py, spectrum.py, tracker.py, analyzer.py) reads its settings from
here, so no stage imports another for its config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

ONSET_METHODS = ("hfc", "energy", "complex", "phase", "wphase", "specdiff", "kl", "mkl", "specflux")

# Everything smoothed with its own (attack, release) (FeatureConfig.smoothing's keys): the extractor's
# levels, the shaders' spectrum (spectrum.BandSpectrum) and the Analyzer's onset strength.
SMOOTHED = ("bass", "mid", "treble", "centroid", "rolloff", "flux", "rms", "level", "spectrum", "onset_strength")


@dataclass
class TempoConfig:
    """Onset and tempo settings (FeatureConfig.tempo). Times in seconds."""

    onset_method: str = "hfc"  # aubio onset method; tools/eval_onsets.py compares them
    onset_threshold: float | None = None  # aubio peak-picking threshold; None: aubio's default for the method
    onset_min_interval: float = 0.03  # shortest time between two onsets
    onset_floor: float = 10.0  # onset function (odf.BandFlux) level that reads as 1.0 at least
    bpm_range: tuple[float, float] = (50.0, 220.0)  # tempi the tracker considers
    prior_bpm: float = 130.0  # centre of the log-Gaussian tempo prior (Ellis 2007; librosa's start_bpm)
    prior_octaves: float = 1.0  # its width (standard deviation) in octaves
    history: float = 8.0  # onset function the tempo estimate looks at
    update: float = 0.25  # how often the tempo is re-estimated
    confidence: float = 0.5  # tracker confidence (0-1) that claims a tempo; a third of it keeps one
    hold: float = 4.0  # a locked tempo outlives the last clear pulse in its history by this long
    tap_gap: float = 2.0  # taps further apart start a new sequence
    clock_timeout: float = 2.0  # an external clock not updated for this long is dropped

    def __post_init__(self):
        if self.onset_method not in ONSET_METHODS:
            raise ValueError(f"TempoConfig.onset_method must be one of {ONSET_METHODS}, got {self.onset_method!r}")
        for name in ("onset_min_interval", "onset_floor", "prior_bpm", "prior_octaves", "history", "update",
                     "confidence", "hold", "tap_gap", "clock_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"TempoConfig.{name} must be a positive number, got {value!r}")
        if self.confidence > 1:
            raise ValueError(f"TempoConfig.confidence must be at most 1, got {self.confidence!r}")
        lo, hi = self.bpm_range
        if not (0 < lo and hi >= 2 * lo):
            raise ValueError(f"TempoConfig.bpm_range must span at least an octave above 0, got {self.bpm_range!r}")
        if self.history < 2 * 60.0 / lo + 1.0:
            raise ValueError(f"TempoConfig.history must hold two of the slowest beats and a second more "
                             f"({2 * 60.0 / lo + 1.0:.2f} s at {lo:g} BPM), got {self.history!r}")


@dataclass
class FeatureConfig:
    """Audio analysis settings (features, spectrum, onsets, tempo). All times in seconds; levels as noted."""

    window: int = 2048  # FFT size at 44.1/48 kHz (~43 ms); other rates scale it to the same duration
    bass_hz: tuple[float, float] = (20.0, 250.0)
    mid_hz: tuple[float, float] = (250.0, 4000.0)
    treble_hz: tuple[float, float] = (4000.0, 16000.0)
    beat_hz: tuple[float, float] = (30.0, 150.0)  # kick fundamentals: where the extractor's onsets are looked for
    scale_hz: tuple[float, float] = (20.0, 24000.0)  # log-frequency scale of centroid, rolloff and spectrum
    rolloff_fraction: float = 0.85
    attack: float = 0.01  # smoothing when a feature rises
    release: float = 0.15  # smoothing when it falls (and the silence gate's ease to 0)
    # Per-feature (attack, release) overriding the two above, e.g. {"bass": (0.005, 0.4)}; keys from SMOOTHED.
    smoothing: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    gain_attack: float = 0.1  # auto-gain running peak rise
    gain_decay: float = 8.0  # auto-gain running peak decay
    gain_floor: float = 10 ** (-50 / 20)  # linear RMS (-50 dBFS): the smallest level that reads as 1.0
    flux_floor: float = 0.05  # same for flux (mean decades of rise per bin per snapshot)
    spectrum_floor_db: float = -80.0  # magnitudes below this count as nothing in the flux
    spectrum_bands: int = 32
    spectrum_range_db: float = 30.0  # a band's gain stops this far below the loudest band's peak
    silence_db: float = -60.0  # gate on the window RMS (dBFS)
    beat_release: float = 0.15  # beat pulse decay
    beat_history: float = 1.0  # memory of the adaptive onset threshold
    beat_lag: float = 0.025  # onsets compare the kick band with its spectrum this long ago
    beat_range_db: float = 30.0  # the kick band counts only within this range below its running peak
    beat_k: float = 2.0  # threshold = mean + beat_k * std of recent kick-band flux
    beat_min_flux: float = 0.5  # absolute floor under the threshold, so a steady tone never fires
    beat_refractory: float = 0.1  # shortest time between two onsets
    time_base: float = 0.25  # motion clock speed in silence (seconds per second)
    time_energy: float = 1.0  # extra speed at full rms
    tempo: TempoConfig = dataclasses.field(default_factory=TempoConfig)  # onsets, tempo, tap, external clock
    max_lag: float = 0.5  # Analyzer.update skips ahead when further behind the ring than this

    def __post_init__(self):
        for name in ("attack", "release", "gain_attack", "gain_decay", "gain_floor", "flux_floor", "beat_release",
                     "beat_history", "beat_refractory", "beat_lag", "max_lag"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"FeatureConfig.{name} must be a positive number of seconds/level, got {value!r}")
        for name, least in (("window", 64), ("spectrum_bands", 1)):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= least):
                raise ValueError(f"FeatureConfig.{name} must be an int >= {least}, got {getattr(self, name)!r}")
        if not 0.0 < self.rolloff_fraction < 1.0:
            raise ValueError(f"FeatureConfig.rolloff_fraction must be in (0, 1), got {self.rolloff_fraction!r}")
        for name in ("bass_hz", "mid_hz", "treble_hz", "beat_hz", "scale_hz"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo < hi:
                raise ValueError(f"FeatureConfig.{name} must be (low, high) with 0 <= low < high, got {(lo, hi)!r}")
        if self.scale_hz[0] <= 0:
            raise ValueError(f"FeatureConfig.scale_hz must start above 0 Hz, got {self.scale_hz!r}")
        for key, times in self.smoothing.items():
            if key not in SMOOTHED or len(times) != 2 or not all(math.isfinite(t) and t > 0 for t in times):
                raise ValueError(f"FeatureConfig.smoothing[{key!r}] must map one of {SMOOTHED} to (attack, release) "
                                 f"seconds > 0, got {times!r}")

    def times(self, feature: str) -> tuple[float, float]:
        """(attack, release) seconds for `feature`."""
        return self.smoothing.get(feature, (self.attack, self.release))
