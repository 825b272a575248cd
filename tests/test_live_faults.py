"""The show goes on: a headless `livecppn live` on loopback capture keeps
rendering while the capture device vanishes, and hears music again when it
returns (DESIGN §8), on a real PulseAudio server."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

SINK = "livecppn_test"


def pactl(*args):
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)


def require_pulse():
    if not (shutil.which("paplay") and pactl("info").returncode == 0):
        (pytest.fail if os.environ.get("CI") else pytest.skip)("no PulseAudio server (tools/test.sh starts one)")


def sink_module() -> str | None:
    for line in pactl("list", "short", "modules").stdout.splitlines():
        if "module-null-sink" in line and f"sink_name={SINK}" in line:
            return line.split()[0]
    return None


def load_sink():
    if sink_module() is None:
        pactl("load-module", "module-null-sink", f"sink_name={SINK}")
    pactl("set-default-sink", SINK)
    pactl("set-default-source", f"{SINK}.monitor")


def tone_wav(path, seconds, hz=80.0, rate=48000):
    t = np.arange(int(seconds * rate)) / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((0.4 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2").tobytes())
    return path


def test_capture_device_vanishes_and_returns_during_a_headless_show(tmp_path):
    require_pulse()
    load_sink()
    tone = tone_wav(tmp_path / "tone.wav", 4.0)
    report_path = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "1000000", "--audio", "loopback",
         "--size", "320x180", "--internal", "64x36", "--report", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "livecppn live:" not in proc.stderr.readline():
            pass
        subprocess.run(["paplay", str(tone)], timeout=30, check=False)  # audio flows
        module = sink_module()
        assert module is not None
        assert pactl("unload-module", module).returncode == 0  # the device vanishes mid-set
        time.sleep(3.0)
        assert proc.poll() is None, "the show stopped when the device vanished"
        load_sink()  # ... and comes back
        time.sleep(3.0)
        player = subprocess.Popen(["paplay", str(tone)])
        time.sleep(2.0)  # let the tone be heard again
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        player.wait(timeout=30)
    finally:
        proc.kill()
        load_sink()
    assert proc.returncode == 0, stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["frames"] > 100
    assert report["audio"]["reconnects"] >= 1, report["audio"]
    assert report["audio"]["status"].startswith(("ok", "reconnected")), report["audio"]
    assert any(re.search("lost|stopped|disconnected", w) for w in report["warnings"]), report["warnings"]
    assert report["features"]["rms"] > 0.3, "the music came back after the reconnect"


def test_an_out_of_range_set_is_said_not_silently_clamped(tmp_path):
    report = tmp_path / "r.json"
    out = subprocess.run([sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "3", "--no-osc",
                          "--audio", "synthetic", "--size", "160x90", "--internal", "32x18", "--set", "zoom=100",
                          "--report", str(report)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["params"]["zoom"] == 8.0
    assert "--set zoom=100 is outside 0.1–8; starting at 8" in result["warnings"], result["warnings"]
