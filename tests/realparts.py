"""Helpers shared by the tests that use real parts: signals, WAV files, the
PulseAudio server, and the rule for missing parts (fail in CI, skip elsewhere)."""

import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

# A process with this env reaches no sound server (nor someone else's JACK server, nor starts one).
NO_SOUND_SERVER = {"PULSE_SERVER": "unix:/nonexistent/livecppn-no-server",
                   "JACK_DEFAULT_SERVER": "livecppn-no-server", "JACK_NO_START_SERVER": "1"}


def require(ok: bool, why: str) -> None:
    """Missing real parts fail the test in CI and skip it elsewhere."""
    if not ok:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)


def pulse_reachable(env=None) -> bool:
    if shutil.which("pactl") is None:
        return False
    try:
        return subprocess.run(["pactl", "info"], capture_output=True, timeout=10, env=env).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_pulse() -> None:
    require(pulse_reachable() and shutil.which("paplay") is not None,
            "no PulseAudio server (tools/test.sh starts one)")


def sine(hz, seconds, sr, amp=0.5):
    return (amp * np.sin(2 * np.pi * hz * np.arange(round(seconds * sr)) / sr)).astype(np.float32)


def write_wav(path, samples, sr, channels=1):
    """16-bit WAV of mono float samples (duplicated to both channels when channels=2)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    if channels == 2:
        pcm = np.repeat(pcm, 2)  # L R L R ...
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def dominant_hz(samples, sr):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * sr / len(samples)


def listen(source, threshold=0.2, timeout=8.0, hold=0.5):
    """Run a 60 fps feature loop on `source`'s ring, as the live loop does, until a
    sound above `threshold` RMS has been heard for `hold` seconds (past the click
    of its start). Returns (newest window, last features, heard) ."""
    import time

    from livecppn.audio.features import FeatureExtractor

    fe = FeatureExtractor(source.sample_rate)
    window = np.empty(fe.config.window, dtype=np.float32)
    last, end, heard_at, f = time.monotonic(), time.monotonic() + timeout, None, None
    while time.monotonic() < end and (heard_at is None or time.monotonic() - heard_at < hold):
        time.sleep(1 / 60)
        now = time.monotonic()
        f = fe.snapshot(source.ring.latest(len(window), out=window), now - last)
        last = now
        if heard_at is None and np.sqrt(np.mean(window ** 2)) > threshold:
            heard_at = now
    return window, f, heard_at is not None


def wait_for(predicate, timeout, step=0.02):
    """Poll `predicate` until it is true or `timeout` seconds pass; returns its last answer."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


# MIDI tests run on a JACK server with the dummy driver (there is no ALSA sequencer here).
JACK_MIDO_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
JACKD = ["jackd", "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"]


def stop_process(proc: subprocess.Popen, timeout: float = 5) -> None:
    """SIGTERM, and SIGKILL if it has not gone within `timeout` seconds (a server the tests started)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def jack_answers() -> bool:
    env = dict(os.environ, JACK_NO_START_SERVER="1")
    try:
        return subprocess.run(["jack_lsp"], check=False, env=env, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# --- a headless `livecppn live` in a subprocess, driven over OSC and MIDI -----------------------

def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_show(tmp_path, *extra, env=None, size="320x180", internal="64x36", headless=True, preexec_fn=None):
    """Start a show (headless: a hidden window) on the synthetic beat; returns (process, report
    path) once it renders. Its log goes to a file (a pipe nobody reads would stall a show that logs a lot)."""
    import sys

    report = tmp_path / "report.json"
    log_path = tmp_path / "show.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "livecppn", "live", *(["--headless"] if headless else []),
                                 "--frames", "1000000",
                                 "--audio", "synthetic", "--size", size, "--internal", internal,
                                 "--report", str(report), *extra],
                                stdout=subprocess.DEVNULL, stderr=log_file, preexec_fn=preexec_fn,
                                cwd=tmp_path,
                                # what the show writes by default (recordings, learned mappings) stays in tmp_path
                                env={**os.environ, "LIVECPPN_HOME": str(tmp_path / "home"), **(env or {})})
    proc.log_path = log_path
    if not wait_for(lambda: "livecppn live:" in log_path.read_text() or proc.poll() is not None, 60, 0.05) \
            or proc.poll() is not None:
        proc.kill()
        raise AssertionError(f"the show did not start: {log_path.read_text()[-3000:]}")
    return proc, report


def end_show(proc, report):
    """SIGTERM (as Ctrl-C): the show ends cleanly and writes its report; returns (report, its log)."""
    import json
    import signal

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    log = proc.log_path.read_text()
    assert proc.returncode == 0, log[-3000:]
    return json.loads(report.read_text()), log


ROOT = Path(__file__).resolve().parent.parent


def run_in_netns(cmd: list[str], timeout: float, cwd=None) -> subprocess.CompletedProcess:
    """`cmd` inside a private network namespace (tools/netns.sh: lo only, multicast on lo), for NDI and
    Link, whose discovery must never leave the machine; skips the test where none can be made."""
    proc = subprocess.run([str(ROOT / "tools" / "netns.sh"), *cmd], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    require(proc.returncode != 97, f"no private network namespace here: {proc.stderr.strip()[-300:]}")
    return proc
