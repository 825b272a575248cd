"""`livecppn analyze`: the live analyser run over a file, frame by frame, through the real CLI."""

import json
import subprocess
import sys

import numpy as np

from realparts import write_wav


def click_file(path, bpm, seconds, rate=44100):
    signal = np.zeros(int(seconds * rate), np.float32)
    times = np.arange(0.5, seconds - 0.2, 60.0 / bpm)
    burst = np.random.default_rng(0).uniform(-1, 1, 96) * np.exp(-np.linspace(0, 5, 96))
    for t in times:
        i = int(round(t * rate))
        signal[i:i + 96] += 0.7 * burst
    write_wav(path, signal, rate)
    return times


def test_analyze_writes_frames_onsets_and_tempo(tmp_path):
    times = click_file(tmp_path / "clicks.wav", 128, 10.0)
    out = tmp_path / "analysis.json"
    proc = subprocess.run([sys.executable, "-m", "livecppn", "analyze", str(tmp_path / "clicks.wav"),
                           "--json", str(out), "--fps", "50"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "onsets" in proc.stdout and "BPM" in proc.stdout
    result = json.loads(out.read_text())
    assert result["sample_rate"] == 44100 and result["fps"] == 50
    assert len(result["frames"]) == 500  # 10 s at 50 fps: frame n sees the audio up to n/50 s (frame_clock)
    assert result["frames"][0]["t"] == 0.0 and result["frames"][0]["audio_time"] == 0.0
    assert result["frames"][-1]["t"] == 9.98
    frame = result["frames"][100]
    for key in ("bass", "rms", "beat", "bpm", "beat_phase", "bar_phase", "beat_count", "onset", "spectrum"):
        assert key in frame
    assert len(frame["spectrum"]) == 32
    onsets = np.array(result["onsets"])
    errors = np.array([np.abs(onsets - t).min() for t in times])
    assert (errors <= 0.020).all(), errors  # every click, within 20 ms
    assert len(onsets) <= len(times) + 1
    assert abs(result["bpm"] - 128) <= 1
    assert result["beat_count"] >= 10


def test_analyze_refuses_a_bad_file_by_name(tmp_path):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"this is not audio")
    proc = subprocess.run([sys.executable, "-m", "livecppn", "analyze", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert str(bad) in proc.stderr
