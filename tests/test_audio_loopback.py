"""The whole audio path on real parts: a real player (paplay) plays into the
PulseAudio null sink, livecppn captures the sink's monitor (`--audio loopback`)
and the live Analyzer runs at 60 fps on what arrives, as in a show.

Ground truth: the captured audio is aligned with the clean click track by
cross-correlation, so the sound server's unknown latency does not count
against the detector; onsets and beats are then judged on the audio clock.
"""

import subprocess
import time

import numpy as np
import pytest

from livecppn.audio.analyzer import Analyzer
from livecppn.audio.sources import open_source
from realparts import require_pulse, sine, write_wav





def click_track(bpm: float, seconds: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Clicks (2 ms decaying noise bursts, accented downbeats) at `bpm`; returns (signal, click times)."""
    rng = np.random.default_rng(1)
    signal = np.zeros(int(seconds * rate), np.float32)
    times = np.arange(0.25, seconds - 0.1, 60.0 / bpm)
    burst = rng.uniform(-1, 1, int(0.002 * rate)) * np.exp(-np.linspace(0, 5, int(0.002 * rate)))
    for i, t in enumerate(times):
        start = int(round(t * rate))
        signal[start:start + len(burst)] += (0.8 if i % 4 == 0 else 0.5) * burst
    return signal, times




def play_and_capture(make_wav, seconds: float, fps: float = 60.0):
    """paplay a file made by make_wav(rate) at the capture's rate while the live
    analyser runs on loopback capture. Returns (captured mono audio, per-frame
    features, onset times, analyzer)."""
    source = open_source("loopback")
    path = make_wav(source.sample_rate)  # the sink's rate: the server does not resample
    analyzer = Analyzer(source.sample_rate)
    captured, frames = [], []
    read_pos = 0
    source.start()
    # An idle null sink's monitor delivers its first block only after the sink
    # wakes (up to ~2 s): start the player once capture is flowing.
    deadline = time.monotonic() + 10
    while source.ring.frames_written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    player = subprocess.Popen(["paplay", str(path)])
    try:
        last = time.monotonic()
        end = last + seconds + 1.5
        while time.monotonic() < end:
            time.sleep(1.0 / fps)
            now = time.monotonic()
            frames.append(analyzer.update(source.ring, now - last))
            last = now
            n = source.ring.frames_written - read_pos
            if n > 0:
                captured.append(source.ring.read(read_pos, n).copy())
                read_pos += n
    finally:
        player.wait(timeout=30)
        source.stop()
    return np.concatenate(captured) if captured else np.zeros(0, np.float32), frames, list(analyzer.onsets), analyzer


def align(captured: np.ndarray, clean: np.ndarray, rate: int) -> float:
    """Seconds by which the clean track is delayed in the capture (cross-correlation)."""
    n = 1 << int(np.ceil(np.log2(len(captured) + len(clean))))
    corr = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(clean, n)), n)
    lag = int(np.argmax(corr[: len(captured)]))
    return lag / rate


@pytest.mark.parametrize("bpm", [90, 120, 128, 174])
def test_click_track_onsets_tempo_and_phase_through_loopback(tmp_path, bpm):
    require_pulse()
    seconds = 9.0
    tracks = {}

    def make_wav(rate):
        tracks["clean"], tracks["times"] = click_track(bpm, seconds, rate)
        return write_wav(tmp_path / f"click{bpm}.wav", tracks["clean"], rate)

    captured, frames, onsets, analyzer = play_and_capture(make_wav, seconds)
    rate, clean, times = analyzer.sample_rate, tracks["clean"], tracks["times"]
    assert np.abs(captured).max() > 0.1, "the player's audio never reached the capture"
    offset = align(captured, clean, rate)
    truth = times + offset  # click times on the capture's audio clock

    # Onsets: every click found within ±20 ms, few extras.
    onsets = np.array(onsets)
    errors = np.array([np.min(np.abs(onsets - t)) if len(onsets) else 1.0 for t in truth])
    hit = errors <= 0.020
    assert hit.mean() >= 0.95, f"{bpm} BPM: found {hit.sum()}/{len(truth)} clicks within 20 ms; errors {errors}"
    extra = sum(np.min(np.abs(truth - o)) > 0.020 for o in onsets)
    assert extra <= 0.05 * len(truth) + 1, f"{bpm} BPM: {extra} onsets with no click"

    # Tempo: within ±1 BPM once 6 s of the track have been heard, and the beat
    # clock's phase within 30 ms of the clicks.
    # (frames after the last click are left out: the clock keeps running when the music stops)
    locked = [f for f in frames if offset + times[0] + 6.0 <= f.audio_time <= truth[-1] + 0.5 * 60 / bpm
              and f.bpm > 0]
    assert locked, "no frames after 6 s of music"
    bpm_errors = np.array([abs(f.bpm - bpm) for f in locked])
    assert (bpm_errors <= 1.0).all(), f"{bpm} BPM: tracker said {sorted(set(round(f.bpm, 1) for f in locked))}"
    phase_errors = []
    for f in locked:
        beat_time = f.audio_time - f.beat_phase * 60.0 / f.bpm  # when the clock says the current beat began
        phase_errors.append(np.min(np.abs(truth - beat_time)))
    phase_errors = np.array(phase_errors)
    assert np.percentile(phase_errors, 90) < 0.030, (
        f"{bpm} BPM: beat phase error median {np.median(phase_errors) * 1000:.1f} ms, "
        f"p90 {np.percentile(phase_errors, 90) * 1000:.1f} ms")


def test_tone_through_loopback_lands_in_its_band(tmp_path):
    require_pulse()
    def make_wav(rate):
        return write_wav(tmp_path / "bass.wav", sine(80, 2.0, rate, amp=0.4), rate)

    _, frames, _, _ = play_and_capture(make_wav, 2.0)
    loud = [f for f in frames if f.rms > 0.5]
    assert len(loud) > 30, "the tone was not heard"
    assert np.median([f.bass for f in loud]) > 0.6
    assert np.median([f.treble for f in loud]) < 0.3
