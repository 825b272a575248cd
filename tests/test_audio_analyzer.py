"""The Analyzer on real signals, fed as live: 256-sample blocks arriving in real time, a snapshot
every 1/60 s of whatever arrived since the previous frame (DESIGN §1, §2). Offline processing runs
much faster than real time, so these tests take seconds."""

import json
import math

import numpy as np
import pytest

from livecppn.audio import analyzer as analyzer_module
from livecppn.audio.analyzer import Analyzer
from livecppn.audio.features import FEATURE_NAMES
from livecppn.audio.ring import RingBuffer
from livecppn.audio.synth import synthetic_beat

RATE = 48000
FPS = 60
BLOCK = 256


def click_track(bpm, seconds, rate=RATE, change_at=None, bpm2=None, start=0.25):
    """2 ms decaying noise bursts, accented downbeats; returns (signal, click times)."""
    rng = np.random.default_rng(1)
    burst = rng.uniform(-1, 1, int(0.002 * rate)) * np.exp(-np.linspace(0, 5, int(0.002 * rate)))
    signal = np.zeros(int(seconds * rate), np.float32)
    times, t = [], start
    while t < seconds - 0.1:
        times.append(t)
        t += 60.0 / (bpm2 if change_at is not None and t >= change_at - 1e-9 else bpm)
    for i, t in enumerate(times):
        at = int(round(t * rate))
        signal[at:at + len(burst)] += (0.8 if i % 4 == 0 else 0.5) * burst
    return signal, np.array(times)


def run_live(signal, rate=RATE, fps=FPS, block=BLOCK, analyzer=None, each=None):
    """Feed `signal` as a capture device would (whole blocks, in real time) and take a snapshot per frame."""
    an = analyzer or Analyzer(rate)
    frames, pos = [], 0
    for n in range(1, int(len(signal) / rate * fps) + 1):
        due = int(n / fps * rate) // block * block
        frames.append(an.process(signal[pos:due], 1.0 / fps))
        pos = due
        if each:
            each(an, frames[-1])
    return an, frames


def beat_start(f):
    """When the clock says the current beat began (audio clock)."""
    return f.audio_time - f.beat_phase * 60.0 / f.bpm


def grid_error(t, first, period):
    """Distance from t to the nearest beat of the ideal grid first + k * period."""
    k = round((t - first) / period)
    return abs(t - (first + k * period))


# --- onsets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bpm", [90, 120, 128, 174])
def test_click_onsets_are_found_within_20_ms(bpm):
    signal, clicks = click_track(bpm, 8.0)
    an, frames = run_live(signal)
    onsets = np.array(an.onsets)
    errors = np.array([np.min(np.abs(onsets - t)) for t in clicks])
    assert errors.max() <= 0.020, errors
    assert len(onsets) == len(clicks)  # no extras
    # Each frame's flag and time report the onsets it saw, in order.
    flagged = [f.onset_time for f in frames if f.onset]
    assert flagged == pytest.approx([float(t) for t in an.onsets][-len(flagged):])
    assert frames[0].onset_time == -1.0


def test_white_noise_gives_few_onsets_and_no_tempo():
    noise = (0.3 * np.random.default_rng(4).standard_normal(10 * RATE)).astype(np.float32)
    an, frames = run_live(noise)
    assert len(an.onsets) <= 2  # the noise starting is an onset; little after it
    assert all(f.bpm == 0.0 and f.tempo_source == "none" for f in frames)
    assert all(0.0 <= f.onset_strength <= 1.0 and np.isfinite(f.vector()).all() for f in frames)


def test_silence_is_calm():
    an, frames = run_live(np.zeros(3 * RATE, dtype=np.float32))
    assert an.onsets == [] and all(f.beat == 0.0 and f.bpm == 0.0 and f.onset_strength == 0.0 for f in frames)
    assert frames[-1].audio_time == pytest.approx(3.0, abs=BLOCK / RATE)
    json.dumps(frames[-1].as_dict())  # JSON-ready


# --- tempo and beat phase ------------------------------------------------------------------------

@pytest.mark.parametrize("bpm", [90, 120, 128, 174])
def test_click_track_tempo_and_phase_lock_within_6_s(bpm):
    signal, clicks = click_track(bpm, 10.0)
    _, frames = run_live(signal)
    locked = [f for f in frames if f.audio_time >= clicks[0] + 6.0]
    assert all(f.tempo_source == "tracker" and abs(f.bpm - bpm) <= 1.0 for f in locked), \
        sorted({round(f.bpm, 1) for f in locked})
    errors = [grid_error(beat_start(f), clicks[0], 60.0 / bpm) for f in locked]
    assert max(errors) < 0.030, f"beat phase error up to {max(errors) * 1000:.1f} ms"
    # The accented clicks start the bar, once a bar or two has shown which they are.
    downbeat = [grid_error(f.audio_time - f.bar_phase * 4 * 60.0 / f.bpm, clicks[0], 4 * 60.0 / bpm)
                for f in locked if f.audio_time > 8.0]
    assert max(downbeat) < 0.030


@pytest.mark.parametrize("bpm", [90, 120, 174])
def test_synthetic_beat_locks_on_the_kicks_and_pulses_on_them(bpm):
    _, frames = run_live(synthetic_beat(10.0, RATE, float(bpm)))
    locked = frames[6 * FPS:]
    assert all(abs(f.bpm - bpm) <= 1.0 for f in locked)
    period = 60.0 / bpm
    assert max(grid_error(beat_start(f), 0.0, period) for f in locked) < 0.030  # kicks, not the off-beat hats
    pulses = [f.audio_time for f in locked if f.beat == 1.0]
    assert len(pulses) == pytest.approx(4.0 / period, abs=1)  # one per beat
    # The pulse shows in the first frame after the clock's beat: at most a frame (and a block) after the
    # kick, or a hair before it where the clock runs a millisecond or two early.
    late = [t - period * round(t / period) for t in pulses]
    assert all(-0.005 <= d < 1.0 / FPS + BLOCK / RATE for d in late), late
    counts = [f.beat_count for f in frames]
    assert all(b >= a for a, b in zip(counts, counts[1:]))
    assert counts[-1] >= (10.0 - 3.0) / period - 1  # every beat since the lock (by ~3 s)


def test_a_tempo_change_is_followed_within_8_s():
    signal, clicks = click_track(120, 20.0, change_at=8.0, bpm2=128)
    _, frames = run_live(signal)
    after = [f for f in frames if f.audio_time >= 16.0]
    assert all(abs(f.bpm - 128) <= 1.0 for f in after)
    first_new = clicks[clicks >= 8.0][0]
    assert max(grid_error(beat_start(f), first_new, 60 / 128) for f in after) < 0.030


def test_quiet_music_is_heard_like_loud():
    quiet = np.float32(10 ** (-30 / 20))
    signal, clicks = click_track(128, 8.0)
    an, frames = run_live(signal * quiet)
    assert len(an.onsets) == len(clicks)
    assert abs(frames[-1].bpm - 128) <= 1.0


@pytest.mark.parametrize("rate", [44100, 96000])
def test_other_sample_rates(rate):
    signal, clicks = click_track(120, 8.0, rate=rate)
    an, frames = run_live(signal, rate=rate)
    assert an.hop == (256 if rate == 44100 else 512)
    errors = [np.min(np.abs(np.array(an.onsets) - t)) for t in clicks]
    assert max(errors) <= 0.020 and len(an.onsets) == len(clicks)
    assert all(abs(f.bpm - 120) <= 1.0 for f in frames[6 * FPS:])


# --- tap and external clock ----------------------------------------------------------------------

def test_tap_and_external_clock_override_the_tracker_and_release():
    beat = synthetic_beat(30.0, RATE, 120.0)
    script = {  # audio second -> what the performer does
        8.0: lambda an: [an.tap(t) for t in (8.0 - 1.8, 8.0 - 1.2, 8.0 - 0.6, 8.0)],  # 100 BPM
        12.0: lambda an: an.set_external_clock(140.0, 12.0),
        13.0: lambda an: an.set_external_clock(140.0, 13.0 - 60 / 140 * 0.25),
        # no more clock updates: after 2 s it is dropped, and the tap tempo is back
        19.0: lambda an: an.clear_tap(),
    }
    seen = {}

    def act(an, f):
        for at, do in script.items():
            if at not in seen and f.audio_time >= at:
                do(an)
                seen[at] = True

    _, frames = run_live(beat, each=act)

    def at(t):
        return next(f for f in frames if f.audio_time >= t)

    assert at(7.5).tempo_source == "tracker" and at(7.5).bpm == pytest.approx(120, abs=1)
    tapped = at(10.0)
    assert tapped.tempo_source == "tap" and tapped.bpm == pytest.approx(100.0)
    assert grid_error(beat_start(tapped), 8.0, 0.6) < 0.02  # anchored at the last tap
    assert at(11.9).tempo_source == "tap"  # the tap tempo holds, whatever the music says
    assert at(12.5).tempo_source == "clock" and at(12.5).bpm == pytest.approx(140.0)
    assert at(14.9).tempo_source == "clock"
    assert at(15.2).tempo_source == "tap"  # the clock went quiet 2 s ago
    assert at(19.5).tempo_source == "tracker" and at(19.5).bpm == pytest.approx(120, abs=1)
    counts = [f.beat_count for f in frames]
    assert all(b >= a for a, b in zip(counts, counts[1:]))


def test_a_tapped_tempo_pulses_even_in_silence():
    an = Analyzer(RATE)
    an.process(np.zeros(RATE, dtype=np.float32), 1.0)
    an.tap(0.5)
    an.tap(1.0)
    an.set_external_clock(120.0, 1.0)
    an.clear_external_clock()
    _, frames = run_live(np.zeros(2 * RATE, dtype=np.float32), analyzer=an)
    assert all(f.tempo_source == "tap" for f in frames)
    assert sum(f.beat == 1.0 for f in frames) == pytest.approx(4, abs=1)  # 2 s at 120 BPM


# --- live input from a ring ----------------------------------------------------------------------

def test_update_from_a_ring_matches_offline_processing():
    signal = synthetic_beat(6.0, RATE)
    _, offline = run_live(signal)
    ring, an, live, pos = RingBuffer(4 * RATE), Analyzer(RATE), [], 0
    ring.write(np.zeros(0, np.float32))
    for n in range(1, len(offline) + 1):
        due = int(n / FPS * RATE) // BLOCK * BLOCK
        for i in range(pos, due, BLOCK):
            ring.write(signal[i:i + BLOCK])
        pos = due
        live.append(an.update(ring, 1.0 / FPS))
    assert an.skipped_frames == 0
    for a, b in zip(live, offline):
        assert a.as_dict() == b.as_dict()


def test_any_block_sizes_see_every_sample_once():
    signal, _ = click_track(120, 6.0)
    reference, _ = run_live(signal)
    an = Analyzer(RATE)
    rng = np.random.default_rng(0)
    pos = 0
    while pos < len(signal):
        n = int(rng.choice([0, 1, 7, 255, 256, 257, 1000, 4096]))
        an.process(signal[pos:pos + n], 1.0 / FPS)
        pos += n
    assert an.onsets == reference.onsets
    assert an.audio_time == pytest.approx(len(signal) / RATE)


def test_a_stalled_reader_skips_ahead_instead_of_catching_up():
    signal = synthetic_beat(8.0, RATE)
    ring, an = RingBuffer(4 * RATE), Analyzer(RATE)
    ring.write(signal[:RATE])
    an.update(ring, 1.0 / FPS)
    ring.write(signal[RATE:3 * RATE])  # the render thread stalls for 2 s
    f = an.update(ring, 2.0)
    assert an.skipped_frames == 2 * RATE - an.window
    assert f.audio_time == pytest.approx(3.0)
    assert np.isfinite(f.vector()).all()
    ring.write(signal[3 * RATE:3 * RATE + 800])
    an.update(ring, 1.0 / FPS)
    assert an.skipped_frames == 2 * RATE - an.window  # back to every sample once


def test_a_reader_lapped_by_the_ring_counts_what_it_lost():
    ring, an = RingBuffer(RATE // 4), Analyzer(RATE)  # a ring shorter than max_lag
    signal = synthetic_beat(2.0, RATE)
    ring.write(signal[:4800])
    an.update(ring, 1.0 / FPS)
    ring.write(signal[4800:4800 + RATE // 2])  # half a second: more than the ring holds
    f = an.update(ring, 0.5)
    assert an.skipped_frames > 0 and f.audio_time == pytest.approx((4800 + RATE // 2) / RATE)


# --- the snapshot --------------------------------------------------------------------------------

def test_snapshot_fields_are_bounded_and_json_ready():
    _, frames = run_live(synthetic_beat(5.0, RATE))
    for f in frames:
        assert np.isfinite(f.vector()).all() and f.vector().shape == (len(FEATURE_NAMES),)
        for name in ("onset_strength", "beat_phase", "bar_phase", "beat"):
            assert 0.0 <= getattr(f, name) <= 1.0, name
        assert len(f.spectrum) == 32 and all(0.0 <= v <= 1.0 for v in f.spectrum)
        assert f.tempo_source in ("clock", "tap", "tracker", "none")
    d = json.loads(json.dumps(frames[-1].as_dict()))
    assert list(d)[:len(FEATURE_NAMES)] == list(FEATURE_NAMES) and d["bpm"] == pytest.approx(120, abs=1)
    strength = np.array([f.onset_strength for f in frames[FPS:]])
    assert strength.max() > 0.8 and strength.min() < 0.3  # it pulses


def test_bad_input_and_bad_dt_keep_the_output_finite():
    an = Analyzer(RATE)
    bad = synthetic_beat(0.5, RATE).copy()
    bad[100:200] = np.nan
    bad[3000] = np.inf
    for dt in (1 / 60, 0.0, -1.0, float("nan"), 1e9):
        f = an.process(bad, dt)
        assert np.isfinite(f.vector()).all() and math.isfinite(f.onset_strength)
    f = an.process(synthetic_beat(0.5, RATE), 1 / 60)
    assert np.isfinite(f.vector()).all() and f.rms > 0


def test_onsets_list_is_bounded(monkeypatch):
    monkeypatch.setattr(analyzer_module, "MAX_ONSETS", 5)
    signal, clicks = click_track(174, 4.0)
    an, _ = run_live(signal)
    assert len(an.onsets) == 5 and an.onsets[-1] == pytest.approx(clicks[-1], abs=0.02)


def test_reset_forgets_everything():
    an, _ = run_live(synthetic_beat(8.0, RATE))
    an.tap(7.0)
    an.tap(7.5)
    assert an.onsets and an.audio_time > 7
    an.reset()
    f = an.process(np.zeros(800, dtype=np.float32), 1 / 60)
    assert an.onsets == [] and f.bpm == 0.0 and f.beat_count == 0 and f.audio_time == pytest.approx(800 / RATE)
