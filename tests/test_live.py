"""End to end: `livecppn live --headless` on real GL with the synthetic beat, and the CLI."""

import json
import subprocess
import sys

import pytest

from livecppn.model.style import save_style
from livecppn.model.default_style import make_default_style

FEATURES = ("bass", "mid", "treble", "centroid", "rolloff", "flux", "time", "beat", "rms")


def run_cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "livecppn", *args], capture_output=True, text=True, timeout=timeout)


def test_headless_120_frames_writes_a_valid_report(tmp_path):
    report_path = tmp_path / "out" / "report.json"
    proc = run_cli("live", "--headless", "--frames", "120", "--audio", "synthetic",
                   "--size", "640x360", "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["frames"] == 120
    assert report["fps"] > 0
    for key in ("mean", "p50", "p90", "p99", "max"):
        assert report["frame_ms"][key] > 0
    assert report["frame_ms"]["p50"] <= report["frame_ms"]["p99"] <= report["frame_ms"]["max"]
    assert report["backend"] == "cpu"
    w, h = report["internal_resolution"]
    assert 0 < h <= 360 and abs(w / h - 640 / 360) < 0.05
    assert report["output_resolution"] == [640, 360]
    assert report["style"] == "default"
    assert report["audio_source"].startswith("synthetic")
    assert report["audio_seconds"] > 0.5  # the source ran alongside the frames
    assert set(report["params"]) >= {"brightness", "audio_gain", "time_speed", "blackout"}
    assert set(report["features"]) >= set(FEATURES) | {"bpm", "beat_phase", "bar_phase", "onset", "spectrum"}
    assert len(report["features"]["spectrum"]) == 32
    assert report["audio"]["status"] == "ok" and report["audio"]["overflows"] == 0
    # the synthetic beat is loud: the last frame's features are not silence
    assert report["features"]["rms"] > 0.05
    assert "llvmpipe" in report["gl"]["renderer"].lower() or report["gl"]["renderer"]
    assert report["calibration"]["chosen"] == [w, h]


def test_fixed_internal_resolution_and_custom_style(tmp_path):
    style_path = save_style(make_default_style(seed=3), tmp_path / "mine.safetensors")
    report_path = tmp_path / "r.json"
    proc = run_cli("live", "--headless", "--frames", "10", "--audio", "synthetic", "--size", "320x180",
                   "--internal", "64x36", "--style", str(style_path), "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["internal_resolution"] == [64, 36]
    assert report["calibration"] is None
    assert report["style_path"] == str(style_path)


def test_corrupt_style_falls_back_to_default_and_the_show_goes_on(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"definitely not a style")
    report_path = tmp_path / "r.json"
    proc = run_cli("live", "--headless", "--frames", "5", "--audio", "synthetic", "--size", "320x180",
                   "--internal", "64x36", "--style", str(bad), "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr
    assert str(bad) in proc.stderr
    report = json.loads(report_path.read_text())
    assert report["style"] == "default"
    assert any(str(bad) in w for w in report["warnings"])


def test_headless_needs_frames():
    proc = run_cli("live", "--headless")
    assert proc.returncode == 2
    assert "--frames" in proc.stderr


def test_unknown_device_is_a_clear_error():
    proc = run_cli("live", "--headless", "--frames", "2", "--audio", "no-such-device-xyz")
    assert proc.returncode == 1
    assert "no-such-device-xyz" in proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["live", "--help"], ["devices", "--help"]])
def test_help_explains_every_flag(args):
    proc = run_cli(*args)
    assert proc.returncode == 0
    assert "usage: livecppn" in proc.stdout
    if args[0] == "live":
        for flag in ("--style", "--audio", "--fullscreen", "--monitor", "--size", "--headless",
                     "--frames", "--report", "--backend", "--internal"):
            assert flag in proc.stdout


def test_bad_size_is_refused():
    proc = run_cli("live", "--size", "big")
    assert proc.returncode == 2
    assert "WIDTHxHEIGHT" in proc.stderr


def test_file_source_drives_the_show(tmp_path):
    import wave

    import numpy as np

    sr = 44100
    tone = (0.5 * np.sin(2 * np.pi * 60 * np.arange(3 * sr) / sr) * 32767).astype("<i2")
    path = tmp_path / "bass.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(tone.tobytes())
    report_path = tmp_path / "r.json"
    proc = run_cli("live", "--headless", "--frames", "60", "--audio", str(path), "--size", "320x180",
                   "--internal", "64x36", "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["audio_source"] == "file: bass.wav"
    assert report["features"]["bass"] > 0.5 > report["features"]["treble"]


def test_default_input_through_pulseaudio(tmp_path):
    import os
    import shutil

    reachable = shutil.which("pactl") and subprocess.run(["pactl", "info"], capture_output=True).returncode == 0
    if not reachable:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("no PulseAudio server (tools/test.sh starts one)")
    report_path = tmp_path / "r.json"
    proc = run_cli("live", "--headless", "--frames", "20", "--size", "320x180", "--internal", "64x36",
                   "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["audio_source"].startswith("device "), report["audio_source"]


def test_headless_without_any_display_renders_through_egl(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    report_path = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "10", "--audio",
                           "synthetic", "--size", "320x180", "--internal", "64x36", "--report", str(report_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["frames"] == 10
    assert any("EGL" in w for w in report["warnings"])


def test_sigterm_ends_the_show_cleanly_and_writes_the_report(tmp_path):
    import signal
    import time

    report_path = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "100000",
                             "--audio", "synthetic", "--size", "320x180", "--internal", "64x36",
                             "--report", str(report_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "livecppn live:" in line:  # the loop has started
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    report = json.loads(report_path.read_text())
    assert 0 < report["frames"] < 100000


def test_devices_lists_audio_midi_and_monitors():
    proc = run_cli("devices", timeout=60)
    assert proc.returncode == 0, proc.stderr
    for section in ("Audio inputs:", "Audio outputs:", "MIDI inputs", "Monitors:"):
        assert section in proc.stdout
