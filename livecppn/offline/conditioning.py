"""The audio states a style is trained under: the CPPN's per-frame inputs, from a track or a built-in spread.

A state is one row: the network's time input `t`, then the nine features in
FEATURE_NAMES order, exactly what the live loop feeds the generator. Every
training step draws several rows, so the look is taught under quiet, loud and
percussive moments at once and must hold in all of them.

With a track, the rows come from the live `Analyzer` run over the file under
the offline frame clock (DESIGN §2, audio/frame_clock.py, as `livecppn analyze`
and `livecppn render` do: frame n sees the audio up to n / fps s), so training
sees the features a show would see. Without one, a seeded spread of synthetic rows
around typical moments (silence, a quiet pad, a loud mix, a kick on the beat,
bright hats, a bass breakdown) stands in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.analyzer import Analyzer
from ..audio.decode import load_audio
from ..audio.features import FEATURE_NAMES
from ..audio.frame_clock import frame_blocks, frame_clock

N_STATE = 1 + len(FEATURE_NAMES)  # t, then the features
RMS = 1 + FEATURE_NAMES.index("rms")
BEAT = 1 + FEATURE_NAMES.index("beat")
CENTROID = 1 + FEATURE_NAMES.index("centroid")
CLOCK = 1 + FEATURE_NAMES.index("time")  # the motion clock feature, not the network's own t

# Typical moments: (name, bass, mid, treble, centroid, rolloff, flux, beat, rms). The motion clock is derived.
ARCHETYPES = (
    ("silence", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    ("quiet pad", 0.15, 0.3, 0.1, 0.45, 0.55, 0.05, 0.0, 0.2),
    ("loud mix", 0.8, 0.8, 0.6, 0.6, 0.75, 0.5, 0.3, 0.9),
    ("kick", 1.0, 0.4, 0.2, 0.35, 0.5, 0.9, 1.0, 0.8),
    ("bright hats", 0.1, 0.3, 0.9, 0.8, 0.9, 0.6, 0.0, 0.4),
    ("breakdown", 0.6, 0.2, 0.05, 0.3, 0.4, 0.1, 0.0, 0.5),
)
SYNTHETIC_ROWS = 600
SYNTHETIC_SECONDS = 120.0
JITTER = 0.15
TIME_BASE, TIME_ENERGY = 0.25, 1.0  # the motion clock runs at dt * (base + energy * rms), as FeatureConfig's


@dataclass
class FeatureStates:
    """Rows (N, N_STATE) float32 to draw from, and the fixed, named rows used to score and preview a style."""

    rows: np.ndarray
    eval_rows: np.ndarray
    eval_names: list[str]
    source: str  # "synthetic" or the track's path

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """k rows spread over loudness: one from each rms stratum, quiet to loud; with k >= 3 and a
        track that has beats, the last one from the beat frames, so a percussive moment is in every step."""
        order = np.argsort(self.rows[:, RMS], kind="stable")
        beats = np.flatnonzero(self.rows[:, BEAT] >= 0.5)
        strata = k - 1 if (k >= 3 and len(beats)) else k
        n, picks = len(order), []
        for i in range(strata):
            lo = n * i // strata
            picks.append(order[rng.integers(lo, max(n * (i + 1) // strata, lo + 1))])
        if strata < k:
            picks.append(beats[rng.integers(len(beats))])
        return self.rows[picks]  # (k, N_STATE)


def track_states(path: str | Path, fps: float = 30.0) -> FeatureStates:
    """Every frame of a track as the live analyser sees it. Raises AudioError naming a bad file."""
    samples, rate = load_audio(path)
    analyzer = Analyzer(rate)
    n_frames = max(1, math.ceil(len(samples) / rate * fps))
    rows = np.empty((n_frames, N_STATE), dtype=np.float32)
    for n, block in frame_blocks(samples, rate, fps, n_frames):
        features = analyzer.process(block, 1.0 / fps)
        rows[n, 0] = frame_clock(n, fps)  # the network's clock: seconds into the track, as the renderer's `now`
        rows[n, 1:] = features.vector()
    return FeatureStates(rows, *_track_eval(rows), source=str(path))


def _track_eval(rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Six fixed moments of the track: loudness percentiles, the strongest beat, the brightest sound."""
    order = np.argsort(rows[:, RMS], kind="stable")
    picks, names = [], []
    for q in (5, 35, 65, 95):
        picks.append(order[min(len(order) - 1, len(order) * q // 100)])
        names.append(f"rms p{q}")
    picks.append(int(np.argmax(rows[:, BEAT] + 1e-3 * rows[:, RMS])))
    names.append("strongest beat")
    loud = rows[:, RMS] > 0.1
    bright = np.where(loud, rows[:, CENTROID], -1.0)
    picks.append(int(np.argmax(bright)))
    names.append("brightest")
    names = [f"{name} ({rows[i, 0]:.1f} s)" for name, i in zip(names, picks)]
    return rows[picks].copy(), names


def synthetic_states(seed: int = 0) -> FeatureStates:
    """A seeded spread of rows around ARCHETYPES, t spread over two minutes."""
    rng = np.random.default_rng(seed)
    base = np.array([a[1:] for a in ARCHETYPES], dtype=np.float32)  # (A, 8): features without the clock
    which = np.arange(SYNTHETIC_ROWS) % len(ARCHETYPES)
    levels = np.clip(base[which] + rng.uniform(-JITTER, JITTER, (SYNTHETIC_ROWS, base.shape[1])), 0.0, 1.0)
    levels[which == 0] = 0.0  # silence stays silent
    t = rng.uniform(0.0, SYNTHETIC_SECONDS, SYNTHETIC_ROWS).astype(np.float32)
    rows = _assemble(t, levels)
    eval_t = np.arange(len(ARCHETYPES), dtype=np.float32) * 10.0
    return FeatureStates(rows, _assemble(eval_t, base), [a[0] for a in ARCHETYPES], source="synthetic")


def _assemble(t: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Rows from t and the eight levels (bass ... rms without the clock), in FEATURE_NAMES order."""
    rows = np.empty((len(t), N_STATE), dtype=np.float32)
    rows[:, 0] = t
    names = [n for n in FEATURE_NAMES if n != "time"]
    for j, name in enumerate(names):
        rows[:, 1 + FEATURE_NAMES.index(name)] = levels[:, j]
    rows[:, CLOCK] = t * (TIME_BASE + TIME_ENERGY * rows[:, RMS])
    return rows
