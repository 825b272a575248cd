"""The built-in synthetic beat: a deterministic 4-bar loop (kick, hats, bass, pad chords).

`livecppn live` plays it when there is no input at all (sources.SyntheticSource),
and tests and benchmarks use it as music with exact ground truth: the kicks fall
exactly on multiples of 60 / bpm seconds.
"""

from __future__ import annotations

import functools

import numpy as np

_LOOP_BARS = 4  # the pattern repeats every 4 bars (bass line and chords)
_BASS_HZ = (55.0, 43.65, 65.41, 49.0)  # A1 F1 C2 G1, one per bar
_PAD_HZ = ((220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (261.63, 329.63, 392.0), (196.0, 246.94, 293.66))


@functools.lru_cache(maxsize=4)
def beat_loop(sample_rate: int, bpm: float) -> np.ndarray:
    """One seamless 4-bar loop of the synthetic beat (read-only, cached)."""
    sr, beat = sample_rate, 60.0 / bpm
    length = round(_LOOP_BARS * 4 * beat * sr)
    mix = np.zeros(length)
    rng = np.random.default_rng(20240601)  # deterministic: the same hats every run

    def place(sound: np.ndarray, at: float) -> None:
        idx = (round(at * sr) + np.arange(len(sound))) % length  # tails wrap, so the loop is seamless
        np.add.at(mix, idx, sound)

    def env_t(seconds: float) -> np.ndarray:
        return np.arange(round(seconds * sr)) / sr

    t = env_t(min(0.35, 0.9 * beat))  # kick: ~55 Hz sine with a fast pitch drop from ~150 Hz
    freq = 55.0 + 95.0 * np.exp(-t / 0.03)
    kick = 0.9 * np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.15) * (1 - np.exp(-t / 0.001))
    kick *= np.clip((t[-1] - t) / 0.008, 0, 1)  # 8 ms fade-out: a cut-off tail clicks, and clicks are onsets
    t = env_t(0.05)  # closed hi-hat: a short noise burst, high-passed after the envelope so no click is left
    spectrum = np.fft.rfft(rng.standard_normal(len(t)) * np.exp(-t / 0.012) * (1 - np.exp(-t / 0.0005)))
    spectrum[: int(7000 * len(t) / sr)] = 0
    noise = np.fft.irfft(spectrum, len(t))
    hat = 0.25 * noise / np.max(np.abs(noise))

    t = env_t(0.9 * beat)  # bass: re-struck on every beat, with the kick, fading out before the next
    bass_env = (1 - np.exp(-t / 0.005)) * np.exp(-t / 0.4) * np.clip((0.9 * beat - t) / 0.02, 0, 1)
    t_bar = env_t(4 * beat)  # pad: one chord per bar, slow swell, crossfaded at the bar line
    pad_env = np.clip(t_bar / 0.15, 0, 1) * np.clip((4 * beat - t_bar) / 0.15, 0, 1)
    for bar in range(_LOOP_BARS):
        f = _BASS_HZ[bar]
        bass = 0.3 * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) * bass_env
        place(sum(0.05 * np.sin(2 * np.pi * fp * t_bar) for fp in _PAD_HZ[bar]) * pad_env, bar * 4 * beat)
        for b in range(4):
            at = (bar * 4 + b) * beat
            place(kick, at)
            place(bass, at)
            place(hat, at + beat / 2)
    mix *= 0.8 / np.max(np.abs(mix))
    loop = mix.astype(np.float32)
    loop.flags.writeable = False  # shared through the cache
    return loop


def synthetic_beat(seconds: float, sample_rate: int = 48000, bpm: float = 120.0) -> np.ndarray:
    """The built-in beat as mono float32, `seconds` long: four-on-the-floor kick, off-beat
    hats, a bass line and pad chords; deterministic. Kicks fall exactly on multiples of 60/bpm s.
    """
    if not (bpm > 0 and sample_rate > 0):
        raise ValueError(f"synthetic_beat needs bpm > 0 and sample_rate > 0, got {bpm}, {sample_rate}")
    return np.resize(beat_loop(int(sample_rate), float(bpm)), max(0, round(seconds * sample_rate)))
