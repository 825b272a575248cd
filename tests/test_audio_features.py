"""FeatureExtractor on real signals, stepped by the offline clock (DESIGN §2): frame n sees the
window ending at n / fps seconds of the signal."""

import math

import numpy as np
import pytest

from livecppn.audio.config import FeatureConfig
from livecppn.audio.features import FEATURE_NAMES, AudioFeatures, FeatureExtractor
from livecppn.audio.frame_clock import window_ending_at
from livecppn.audio.synth import synthetic_beat

SR = 48000


def tone(hz, seconds, db=-1.0, sr=SR):
    t = np.arange(round(seconds * sr)) / sr
    return (10 ** (db / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def run(signal, fps=60, sr=SR, config=None):
    """Feature snapshots for every frame of `signal` at `fps`, offline clock."""
    fe = FeatureExtractor(sr, config)
    n = fe.config.window
    buf = np.empty(n, dtype=np.float32)
    return [fe.snapshot(window_ending_at(signal, round(i / fps * sr), n, out=buf), 1 / fps)
            for i in range(int(len(signal) / sr * fps))]


def series(frames, name, fps=60, start=0.0, stop=None):
    lo = int(start * fps)
    hi = len(frames) if stop is None else int(stop * fps)
    return np.array([getattr(f, name) for f in frames[lo:hi]])


def seed(f):
    """The seed's nine features of a snapshot, by name."""
    return {name: getattr(f, name) for name in FEATURE_NAMES}


def onset_times(frames, fps=60):
    return [i / fps for i, f in enumerate(frames) if f.beat == 1.0]


def test_low_tone_moves_bass_not_treble():
    frames = run(tone(60, 1.5))
    assert series(frames, "bass", start=0.5).min() > 0.9
    assert series(frames, "treble", start=0.5).max() < 0.05
    assert series(frames, "mid", start=0.5).max() < 0.2


def test_high_tone_moves_treble_not_bass():
    frames = run(tone(8000, 1.5))
    assert series(frames, "treble", start=0.5).min() > 0.9
    assert series(frames, "bass", start=0.5).max() < 0.05


def test_centroid_and_rolloff_rise_with_pitch():
    low, high = run(tone(200, 1.0))[-1], run(tone(8000, 1.0))[-1]
    assert high.centroid > low.centroid + 0.3
    assert high.rolloff > low.rolloff + 0.3
    # Log-frequency position between 20 Hz and Nyquist: 200 Hz near 0.32, 8 kHz near 0.85.
    assert low.centroid == pytest.approx(math.log(10) / math.log(1200), abs=0.03)
    assert high.centroid == pytest.approx(math.log(400) / math.log(1200), abs=0.03)


def test_silence_gives_zero_features_and_a_slow_clock():
    frames = run(np.zeros(2 * SR, dtype=np.float32))
    for f in frames:
        values = f.vector()
        assert np.all(np.isfinite(values))
        assert all(v == 0.0 for k, v in seed(f).items() if k != "time")
        assert f.spectrum == (0.0,) * 32
    # In silence the motion clock runs at time_base (0.25 s per second).
    assert frames[-1].time == pytest.approx(0.25 * len(frames) / 60, rel=1e-6)


def test_quiet_noise_below_the_gate_is_not_amplified():
    noise = (10 ** (-70 / 20) * np.random.default_rng(3).standard_normal(2 * SR)).astype(np.float32)
    for f in run(noise):
        assert max(v for k, v in seed(f).items() if k != "time") == 0.0 and max(f.spectrum) == 0.0


def test_features_ease_to_zero_with_the_release_time_after_music_stops():
    signal = np.concatenate([synthetic_beat(2.0, SR), np.zeros(SR, dtype=np.float32)])
    frames = run(signal)
    end = frames[-1]
    assert all(v < 1e-3 for k, v in seed(end).items() if k != "time") and max(end.spectrum) < 1e-3
    # Eases, not snaps: one release time (0.15 s) after the window went quiet, bass is ~e^-1 of where it was.
    quiet_from = int((2.0 + 2048 / SR) * 60) + 1  # first frame whose window holds only silence
    before, after = frames[quiet_from - 1].rms, frames[quiet_from + 9].rms  # 9 frames = 0.15 s
    assert 0 < after < before
    assert after / before == pytest.approx(math.exp(-1), abs=0.1)
    assert all(np.isfinite(f.vector()).all() for f in frames)


def test_bad_samples_and_bad_dt_do_not_poison_the_output():
    fe = FeatureExtractor(SR)
    w = tone(100, 0.05)[:2048].copy()
    w[100] = np.nan
    w[200] = np.inf
    for dt in (1 / 60, 0.0, -1.0, float("nan"), 1e9):
        f = fe.snapshot(w, dt)
        assert np.all(np.isfinite(f.vector())), (dt, f)
    f = fe.snapshot(tone(100, 0.05), 1 / 60)
    assert np.all(np.isfinite(f.vector())) and f.bass > 0


def test_synthetic_beat_fires_about_twice_a_second_on_the_kicks():
    frames = run(synthetic_beat(4.0, SR, bpm=120.0), fps=60)
    onsets = onset_times(frames)
    assert 7 <= len(onsets) <= 9, onsets  # 120 BPM: 8 kicks in 4 s
    for t in onsets:  # each one on a kick (multiples of 0.5 s), within a couple of frames
        assert abs(t - round(t * 2) / 2) < 0.05, onsets
    pulse = series(frames, "beat")
    assert pulse.max() == 1.0 and pulse.min() < 0.01  # a pulse that decays between kicks


@pytest.mark.parametrize("hz", [60, 100, 1000])
def test_steady_tone_fires_no_beats(hz):
    frames = run(tone(hz, 4.0))
    assert [t for t in onset_times(frames) if t > 0.1] == []  # the tone's very start may count as one


def test_results_do_not_depend_on_the_frame_rate():
    beat = synthetic_beat(4.0, SR)
    f30, f60 = run(beat, fps=30), run(beat, fps=60)
    for name in ("bass", "mid", "treble", "centroid", "rolloff", "rms", "flux"):
        m30, m60 = series(f30, name, 30, start=1.0).mean(), series(f60, name, 60, start=1.0).mean()
        assert m30 == pytest.approx(m60, abs=0.06), name
    assert len(onset_times(f30, 30)) == len(onset_times(f60, 60))
    assert f30[-1].time == pytest.approx(f60[-1].time, rel=0.05)
    # A decay in seconds, not frames: 0.2 s after a tone stops, both frame rates agree.
    step = np.concatenate([tone(60, 1.0), np.zeros(SR // 2, dtype=np.float32)])
    s30, s60 = run(step, fps=30), run(step, fps=60)
    t = 1.0 + 2048 / SR + 0.2
    assert s30[round(t * 30)].bass == pytest.approx(s60[round(t * 60)].bass, abs=0.05)
    assert 0.05 < s60[round(t * 60)].bass < 0.6


def test_quiet_and_loud_music_both_use_the_full_range():
    beat = synthetic_beat(4.0, SR)
    loud, quiet = run(beat), run(beat * np.float32(10 ** (-30 / 20)))
    for frames in (loud, quiet):
        bass = series(frames, "bass", start=1.0)
        assert bass.max() > 0.9 and bass.min() < 0.5  # full range, still pulsing
        assert series(frames, "rms", start=1.0).max() > 0.9
    assert np.abs(series(loud, "bass", start=1.0) - series(quiet, "bass", start=1.0)).mean() < 0.05
    assert len(onset_times(loud)) == len(onset_times(quiet))


def test_motion_clock_runs_faster_when_loud():
    loud = run(tone(100, 2.0))[-1].time
    silent = run(np.zeros(2 * SR, dtype=np.float32))[-1].time
    assert loud > 3 * silent > 0


def test_reset_forgets_history():
    fe = FeatureExtractor(SR)
    w = tone(60, 0.1)[-2048:]
    for _ in range(30):
        f = fe.snapshot(w, 1 / 60)
    assert f.bass > 0.5 and f.time > 0
    fe.reset()
    f = fe.snapshot(np.zeros(2048, dtype=np.float32), 1 / 60)
    assert f.bass == 0.0 and f.time == pytest.approx(0.25 / 60)


def test_window_length_follows_the_sample_rate():
    assert FeatureExtractor(48000).config.window == 2048
    assert FeatureExtractor(44100).config.window == 2048
    assert FeatureExtractor(96000).config.window == 4096
    assert abs(FeatureExtractor(16000).config.window / 16000 - 2048 / 48000) < 0.001  # same ~43 ms
    # Any window length is accepted: shorter is zero-padded, longer uses its newest samples.
    fe = FeatureExtractor(16000)
    assert np.isfinite(fe.snapshot(tone(60, 0.01, sr=16000), 1 / 60).vector()).all()
    assert np.isfinite(fe.snapshot(tone(60, 1.0, sr=16000), 1 / 60).vector()).all()


def test_low_tone_at_other_sample_rates():
    for sr in (16000, 22050, 96000):
        frames = run(tone(60, 1.0, sr=sr), sr=sr)
        assert frames[-1].bass > 0.9 and frames[-1].treble < 0.05, sr


def test_snapshot_is_a_frozen_vector_in_feature_order():
    f = AudioFeatures(*[float(i) for i in range(9)])
    assert f.vector().dtype == np.float32 and f.vector().shape == (9,)
    # as_dict holds every field now (onsets, tempo, spectrum), the seed's nine first.
    assert list(f.as_dict())[:9] == list(FEATURE_NAMES)
    np.testing.assert_array_equal(f.vector(), [f.as_dict()[k] for k in FEATURE_NAMES])
    with pytest.raises(AttributeError):
        f.bass = 1.0
    s = AudioFeatures.silent(time=2.5)
    assert s.time == 2.5 and not any(v for k, v in seed(s).items() if k != "time")
    assert s.bpm == 0.0 and s.tempo_source == "none" and s.onset_time == -1.0 and len(s.spectrum) == 32


# --- synthetic signals: noise, sweeps, sample rates, clipping, the spectrum -----------------------

def in_unit_range(f):
    values = [v for k, v in seed(f).items() if k != "time"] + list(f.spectrum)
    return all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values) and math.isfinite(f.time)


def band_of(hz, bands=32, lo=20.0, hi=24000.0):
    return int(math.floor(bands * math.log(hz / lo) / math.log(hi / lo)))


def test_white_noise_does_not_run_away():
    noise = (0.5 * np.random.default_rng(5).standard_normal(6 * SR)).astype(np.float32)
    frames = run(noise)
    assert all(in_unit_range(f) for f in frames)
    late = frames[60:]
    # Broadband: high centroid, every band of the spectrum lit, and steady (no pumping).
    assert series(late, "centroid").min() > 0.7
    spectrum = np.array([f.spectrum for f in late])
    assert spectrum[:, 4:].mean(axis=0).min() > 0.5, spectrum.mean(axis=0)
    assert series(late, "rms").std() < 0.05
    assert frames[-1].time < 6 * 1.25 + 0.01  # the motion clock stays bounded by time_base + time_energy


def log_sweep(f0, f1, seconds, sr=SR, db=-6.0):
    t = np.arange(round(seconds * sr)) / sr
    k = math.log(f1 / f0) / seconds
    phase = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k
    return (10 ** (db / 20) * np.sin(phase)).astype(np.float32), lambda time: f0 * math.exp(k * time)


def test_sweep_moves_centroid_rolloff_and_the_spectrum_peak_with_it():
    sweep, freq_at = log_sweep(40.0, 16000.0, 6.0)
    frames = run(sweep)
    times = np.arange(len(frames)) / 60
    keep = times > 0.3  # past the first window and the attack
    hz = np.array([freq_at(t - 0.5 * 2048 / SR) for t in times])  # the window's middle
    expected = np.log(hz / 20.0) / math.log(24000 / 20.0)
    for name in ("centroid", "rolloff"):
        got = series(frames, name)
        assert np.corrcoef(got[keep], expected[keep])[0, 1] > 0.99, name
        assert np.abs(got[keep] - expected[keep]).max() < 0.1, name
    peak_band = np.array([int(np.argmax(f.spectrum)) for f in frames])
    want = np.array([band_of(h) for h in hz])
    assert np.abs(peak_band[keep] - want[keep]).max() <= 1


@pytest.mark.parametrize("hz", [440, 3000, 12000])
def test_a_tone_lands_in_its_spectrum_band(hz):
    f = run(tone(hz, 1.0))[-1]
    assert int(np.argmax(f.spectrum)) == band_of(hz)
    assert f.spectrum[band_of(hz)] > 0.9
    assert max(f.spectrum[:band_of(hz) - 2] + f.spectrum[band_of(hz) + 3:]) < 0.2  # leakage stays local
    assert len(f.spectrum) == 32


def test_a_low_tone_lights_the_low_bands_only():
    # Below ~100 Hz the bands are narrower than the 2048-point FFT's main lobe (±2 bins of 23 Hz),
    # so a 50 Hz tone lights the bands around it alike, and nothing further up.
    f = run(tone(50, 1.0))[-1]
    assert min(f.spectrum[:band_of(50) + 1]) > 0.9
    assert max(f.spectrum[band_of(50) + 5:]) < 0.2


@pytest.mark.parametrize("hz", [80, 1000, 8000])
def test_sample_rates_give_the_same_features(hz):
    by_rate = {sr: run(tone(hz, 1.0, db=-6, sr=sr), sr=sr)[-1] for sr in (44100, 48000, 96000)}
    ref = by_rate[48000]
    for sr, f in by_rate.items():
        for name in ("bass", "mid", "treble", "centroid", "rolloff", "rms"):
            # (small values are a tone's leakage into other bands, which depends a little on the bin width)
            assert getattr(f, name) == pytest.approx(getattr(ref, name), abs=0.05), (sr, name)
        assert f.spectrum[band_of(hz)] > 0.9, sr
        assert mean_band(f.spectrum) == pytest.approx(mean_band(ref.spectrum), abs=0.75), sr


def mean_band(spectrum):
    s = np.asarray(spectrum)
    return float(np.dot(np.arange(len(s)), s) / s.sum())


def test_hard_clipping_gives_finite_bounded_features():
    loud = np.clip(synthetic_beat(3.0, SR) * 20.0, -1.0, 1.0)
    square = np.clip(tone(100, 2.0) * 100.0, -1.0, 1.0)
    for signal in (loud, square, np.full(SR, 1.0, dtype=np.float32)):
        frames = run(signal)
        assert all(in_unit_range(f) for f in frames)
    assert series(run(loud), "rms", start=1.0).max() > 0.9


def test_per_feature_attack_and_release_are_configurable():
    step = np.concatenate([tone(60, 1.0), np.zeros(SR, dtype=np.float32)])
    default = run(step)
    slow_bass = run(step, config=FeatureConfig(smoothing={"bass": (0.2, 1.0), "spectrum": (0.01, 1.0)}))
    at = int((1.0 + 2048 / SR + 0.3) * 60)  # 0.3 s after the tone left the window
    assert default[at].bass < 0.2 < slow_bass[at].bass  # 1 s release keeps it up (e^-0.3 ~ 0.74)
    assert slow_bass[at].rms == pytest.approx(default[at].rms)  # other features keep the defaults
    assert max(slow_bass[at].spectrum) > 0.5 > max(default[at].spectrum)
    rise = int(0.1 * 60)  # 100 ms in: a 0.2 s attack has not caught up yet
    assert slow_bass[rise].bass < 0.6 < default[rise].bass
    with pytest.raises(ValueError, match="smoothing"):
        FeatureConfig(smoothing={"bas": (0.1, 0.1)})
    with pytest.raises(ValueError, match="smoothing"):
        FeatureConfig(smoothing={"bass": (0.1, 0.0)})
