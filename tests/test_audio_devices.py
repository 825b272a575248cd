"""Device capture, loopback, file playback and faults, on real parts (DESIGN §8, §9).

PulseAudio: a reachable server (see tests/test_audio_sources.py's docstring; tools/test.sh
starts one). Each test that plays or unloads something makes its own null sink (named after
this process) and removes it afterwards, so parallel runs and the shared `livecppn_test` sink
are left alone (only the test of `--audio loopback` itself plays into the default sink, and it
unloads nothing). The file-playback tests point the default output at their own sink with
PULSE_SINK, libpulse's standard variable: the path is still PortAudio's default output device.

JACK: overflows and refused sample rates need a device with a real clock and a fixed rate;
PulseAudio buffers seconds and resamples anything. A private jackd with the dummy driver
(its own server name, killed afterwards), reached through ALSA's "jack" plugin, is that device.

Missing parts fail the tests when $CI is set and skip them otherwise.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livecppn.audio.sources import AudioError, FileSource, list_devices, loopback_source, open_source

from realparts import (  # noqa: E402
    NO_SOUND_SERVER, dominant_hz, listen, require, sine, stop_process, wait_for, write_wav)

REPO = Path(__file__).resolve().parents[1]










def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))




# --- PulseAudio ----------------------------------------------------------------------------------

def pactl(*args, check=True):
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10, check=check)


@pytest.fixture(scope="module")
def pulse():
    require(shutil.which("pactl") is not None and shutil.which("paplay") is not None,
            "pactl/paplay not installed (apt-get install pulseaudio-utils)")
    try:
        require(pactl("info", check=False).returncode == 0, "no PulseAudio server reachable (`pactl info` fails)")
    except (OSError, subprocess.TimeoutExpired):
        require(False, "no PulseAudio server reachable")
    try:
        import pyaudio  # noqa: F401
    except ImportError:
        require(False, "PyAudio not installed")


def sink_module(name):
    """The index of the module that made null sink `name`, or None."""
    for line in pactl("list", "short", "modules").stdout.splitlines():
        fields = line.split("\t")
        if len(fields) > 2 and fields[1] == "module-null-sink" and f"sink_name={name}" in fields[2].split():
            return fields[0]
    return None


def load_sink(name, rate=None):
    args = ["load-module", "module-null-sink", f"sink_name={name}"] + ([f"rate={rate}"] if rate else [])
    return pactl(*args).stdout.strip()


@contextlib.contextmanager
def null_sink(tag, rate=None):
    """A private null sink on the shared server, removed (whatever module holds it then) afterwards."""
    name = f"livecppn_{tag}_{os.getpid()}"
    load_sink(name, rate)
    try:
        yield name
    finally:
        module = sink_module(name)
        if module:
            pactl("unload-module", module, check=False)


def paplay(path, sink=None):
    return subprocess.Popen(["paplay", *([f"--device={sink}"] if sink else []), str(path)])


def flowing(source, timeout=10):
    """Wait for the first audio (an idle null sink's monitor takes ~2 s to deliver)."""
    return wait_for(lambda: source.ring.frames_written > 0, timeout)


def test_list_devices_has_inputs_outputs_and_flags_the_defaults(pulse):
    import pyaudio

    devices = list_devices()
    keys = {"index", "name", "max_input_channels", "max_output_channels", "default_sample_rate",
            "default_input", "default_output"}
    assert devices and all(set(d) == keys for d in devices)
    pa = pyaudio.PyAudio()
    try:
        default_in = pa.get_default_input_device_info()["index"]
        default_out = pa.get_default_output_device_info()["index"]
    finally:
        pa.terminate()
    assert [d["index"] for d in devices if d["default_input"]] == [default_in]
    assert [d["index"] for d in devices if d["default_output"]] == [default_out]
    assert any(d["max_input_channels"] > 0 for d in devices) and any(d["max_output_channels"] > 0 for d in devices)


def test_loopback_records_the_default_sink_and_a_tone_lands_in_its_band(pulse, tmp_path):
    sink = pactl("get-default-sink").stdout.strip()
    source = open_source("loopback", block=128)
    player = None
    try:
        assert source.pulse_source == f"{sink}.monitor" and source.name == f"loopback: {sink}.monitor"
        assert source.block == 128
        rate = next(int(line.split("\t")[3].split()[-1][:-2]) for line in
                    pactl("list", "short", "sources").stdout.splitlines() if line.split("\t")[1] == f"{sink}.monitor")
        assert source.sample_rate == rate  # the monitor's own rate: no resampling in the server
        source.start()
        assert flowing(source), "no audio arrived from the monitor"
        player = paplay(write_wav(tmp_path / "hiss.wav", sine(6000, 3.0, rate), rate))  # into the default sink
        window, f, heard = listen(source)
        assert heard, "the tone never arrived through loopback"
        assert dominant_hz(window, rate) == pytest.approx(6000, abs=rate / len(window))
        assert f.treble > 0.9 and f.mid < 0.2 and f.bass < 0.2, f
        assert source.failed is None and source.status == "ok"
    finally:
        if player is not None:
            player.kill()
            player.wait()
        source.stop()


@pytest.mark.parametrize("rate, block", [(44100, 128), (48000, 256), (96000, 512)])
def test_capture_follows_the_device_rate_at_each_block_size(pulse, tmp_path, rate, block):
    with null_sink(f"rate{rate}", rate) as sink:
        source = loopback_source(sink, block=block)
        player = None
        try:
            assert source.sample_rate == rate and source.ring.channels == 2 and source.block == block
            source.start()
            assert flowing(source)
            player = paplay(write_wav(tmp_path / "tone.wav", sine(1000, 2.0, rate), rate), sink)
            assert wait_for(lambda: rms(source.ring.latest(rate // 10)) > 0.3, 8), "the tone never arrived"
            time.sleep(0.3)
            window = source.ring.latest(rate // 5)
            assert rms(window) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
            assert dominant_hz(window, rate) == pytest.approx(1000, abs=10)  # a wrong rate would shift it
            assert source.ring.frames_written % block == 0  # PortAudio delivered whole blocks of `block`
            assert source.failed is None
        finally:
            if player is not None:
                player.kill()
                player.wait()
            source.stop()


def test_unloading_the_sink_loses_capture_and_reloading_it_brings_it_back(pulse, tmp_path):
    with null_sink("vanish") as sink:
        source = loopback_source(sink)
        ring = source.ring
        player = None
        try:
            source.start()
            assert flowing(source)
            assert pactl("unload-module", sink_module(sink)).returncode == 0  # the device vanishes mid-set
            assert wait_for(lambda: source.failed is not None, 5), source.status
            assert source.status.startswith("lost: ") and source.status.endswith("; retrying"), source.status
            assert sink in source.failed
            lost_at = ring.frames_written
            position = source.position()
            time.sleep(1.5)  # a reconnect attempt or so happens meanwhile, and fails
            assert ring.frames_written == lost_at, "the ring kept growing while the device was gone"
            assert source.reconnects == 0 and source.failed is not None

            load_sink(sink)  # ... and comes back under the same name
            assert wait_for(lambda: source.failed is None, 5), source.status
            assert source.status == "reconnected" and source.reconnects == 1
            assert source.ring is ring  # readers need no change
            assert wait_for(lambda: ring.frames_written > lost_at, 10), "no audio after the reconnect"
            assert source.position() > position
            player = paplay(write_wav(tmp_path / "tone.wav", sine(440, 2.0, source.sample_rate),
                                      source.sample_rate), sink)
            assert wait_for(lambda: rms(ring.latest(4096)) > 0.3, 8), "the music did not come back"
            assert dominant_hz(ring.latest(8192), source.sample_rate) == pytest.approx(440, abs=6)
        finally:
            if player is not None:
                player.kill()
                player.wait()
            source.stop()


# --- file playback -------------------------------------------------------------------------------

def test_file_playback_is_heard_on_the_output_and_the_ring_gets_the_same_samples(pulse, tmp_path, monkeypatch):
    sr = 44100
    tone = sine(440, 2.0, sr)
    path = write_wav(tmp_path / "a440.wav", tone, sr)
    with null_sink("play") as sink:
        monkeypatch.setenv("PULSE_SINK", sink)  # PortAudio's default output now plays into our sink
        monitor = loopback_source(sink)
        player = FileSource(path, loop=False, play=True)
        try:
            assert player.output_device is not None and player.sample_rate == sr  # the server takes 44.1 kHz
            monitor.start()
            assert flowing(monitor)
            player.start()
            assert wait_for(lambda: player.finished, 8), "the file did not finish playing"
            time.sleep(0.2)
            assert 0 < player.output_latency < 0.5
            # The output device really played it: the sink's monitor heard the whole tone, once...
            captured = monitor.ring.latest(monitor.ring.capacity)  # the last 4 s
            envelope = np.sqrt(np.convolve(captured ** 2, np.ones(441) / 441, mode="same"))
            loud = np.flatnonzero(envelope > 0.25)
            assert len(loud) == pytest.approx(len(tone), rel=0.03), "the tone was not heard on the output"
            middle = captured[loud[0] + sr // 4:loud[-1] - sr // 4]
            assert dominant_hz(middle, sr) == pytest.approx(440, abs=1)
            assert rms(middle) == pytest.approx(rms(tone), rel=0.02)
            # ... and the ring received exactly the file.
            assert player.ring.frames_written == len(tone)
            np.testing.assert_array_equal(player.ring.latest(len(tone)), player.samples)
            np.testing.assert_array_equal(player.samples, (tone * 32767).astype("<i2") / np.float32(32768))
            assert player.failed is None and player.status == "ok"
        finally:
            player.stop()
            monitor.stop()


def test_file_playback_ring_hears_each_click_when_the_output_plays_it(pulse, tmp_path, monkeypatch):
    sr = 44100
    clicks = np.zeros(3 * sr, np.float32)
    marks = [round(t * sr) for t in (1.0, 1.5, 2.0)]
    for at in marks:
        clicks[at:at + sr // 100] = 0.8  # 10 ms bursts
    path = write_wav(tmp_path / "clicks.wav", clicks, sr)
    with null_sink("sync") as sink:
        monkeypatch.setenv("PULSE_SINK", sink)
        monitor = loopback_source(sink, block=128)  # the monitor's own capture latency: a few ms
        player = FileSource(path, loop=False, play=True)
        try:
            monitor.start()
            assert flowing(monitor)
            player.start()
            delays = []
            for at in marks:
                assert wait_for(lambda: player.ring.frames_written > at, 5, step=0.0005)
                t_ring = time.monotonic()
                assert wait_for(lambda: np.abs(monitor.ring.latest(64)).max() > 0.3, 2, step=0.0005)
                delays.append(time.monotonic() - t_ring)
            # The ring gets each click when the output plays it, not `output_latency` earlier: the
            # monitor (which records the output) sees it only its own few ms of capture later.
            # Without the compensation, these read ~26-32 ms here (output latency 23 ms + capture).
            assert -0.01 < float(np.median(delays)) < 0.016, (delays, player.output_latency)
        finally:
            player.stop()
            monitor.stop()


def test_muted_file_is_silent_on_the_output_but_still_analysed(pulse, tmp_path, monkeypatch):
    sr = 48000
    path = write_wav(tmp_path / "a440.wav", sine(440, 1.0, sr), sr)
    with null_sink("mute") as sink:
        monkeypatch.setenv("PULSE_SINK", sink)
        monitor = loopback_source(sink)
        player = open_source(str(path), mute=True)
        try:
            assert isinstance(player, FileSource) and player.output_device is None
            monitor.start()
            assert flowing(monitor)
            started = time.monotonic()
            player.start()
            loudest = 0.0
            while time.monotonic() < started + 1.2:
                time.sleep(0.02)
                loudest = max(loudest, rms(monitor.ring.latest(2048)))
            assert player.position() == pytest.approx(time.monotonic() - started, abs=0.1)  # wall-clock pace
            assert rms(player.ring.latest(4800)) > 0.3
            assert loudest < 1e-3, "a muted file was heard on the output"
        finally:
            player.stop()
            monitor.stop()


def test_a_5_1_file_is_mixed_to_stereo_for_the_output(pulse, tmp_path):
    import av

    sr = 48000
    path = tmp_path / "surround.flac"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=sr, layout="5.1")
        planar = np.zeros((6, sr), np.float32)
        planar[0] = sine(440, 1.0, sr)  # front left only
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="5.1")
        frame.sample_rate = sr
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    source = FileSource(path, play=True)
    assert source.ring.channels == 2 and source.sample_rate == sr
    left, right = source.frames[:, 0], source.frames[:, 1]
    assert rms(left) > 0.1 and rms(right) < 1e-3  # the left speaker got the front-left channel
    muted = FileSource(path, play=False)
    assert muted.ring.channels == 1 and len(muted.samples) == sr


NO_OUTPUT_SCRIPT = """
import json, logging, sys, time
records = []
class Keep(logging.Handler):
    def emit(self, record): records.append((record.name, record.levelname, record.getMessage()))
logging.getLogger().addHandler(Keep())
from livecppn.audio.sources import FileSource, list_devices
outputs = [d for d in list_devices() if d["max_output_channels"] > 0]
source = FileSource(sys.argv[1], play=True)
source.start()
time.sleep(0.5)
source.stop()
print(json.dumps({"outputs": len(outputs), "device": source.output_device, "rate": source.sample_rate,
                  "position": source.position(), "failed": source.failed, "status": source.status,
                  "records": records}))
"""


def test_no_output_device_plays_silently_with_one_warning(tmp_path):
    pytest.importorskip("pyaudio")
    path = write_wav(tmp_path / "x.wav", sine(300, 2.0, 22050), 22050)
    env = dict(os.environ, PYTHONPATH=str(REPO), **NO_SOUND_SERVER)
    out = subprocess.run([sys.executable, "-c", NO_OUTPUT_SCRIPT, str(path)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["outputs"]:
        pytest.skip("this machine has output devices without a sound server (real hardware)")
    assert result["device"] is None and result["rate"] == 22050 and result["failed"] is None
    assert result["status"] == "ok (no output: analysing silently)", result
    assert result["position"] == pytest.approx(0.5, abs=0.15)  # the show went on, silently
    warnings = [r for r in result["records"] if r[1] == "WARNING"]
    assert len(warnings) == 1 and warnings[0][0] == "livecppn.audio" and "x.wav" in warnings[0][2], warnings


# --- JACK: a device with a real clock and a fixed rate -------------------------------------------

@pytest.fixture
def jack(tmp_path):
    """A private jackd (dummy driver, 48 kHz, 256-frame periods); yields the env that reaches it."""
    require(shutil.which("jackd") is not None, "jackd not installed (apt-get install jackd2)")
    pytest.importorskip("pyaudio")
    name = f"livecppn_{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1", PYTHONPATH=str(REPO))
    server = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok = wait_for(lambda: subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode == 0, 10, 0.1)
        require(ok, "a private jackd did not start")
        yield env
    finally:
        stop_process(server)


OVERFLOW_SCRIPT = """
import json, sys, time
from livecppn.audio.sources import DeviceSource
source = DeviceSource("jack", block=256)
source.start()
end = time.monotonic() + 10
while source.ring.frames_written == 0 and time.monotonic() < end:
    time.sleep(0.01)
time.sleep(0.5)
calm = source.overflows  # half a second with nothing in the way
# A frame that holds the GIL for 0.3 s (pure Python work; the interpreter is told not to switch
# threads meanwhile): the callback cannot run, JACK's ring overflows, as in a show with a slow frame.
sys.setswitchinterval(1.0)
t = time.monotonic()
while time.monotonic() - t < 0.3:
    pass
sys.setswitchinterval(0.005)
time.sleep(0.5)
written = source.ring.frames_written
time.sleep(0.2)
print(json.dumps({"calm": calm, "overflows": source.overflows, "failed": source.failed,
                  "status": source.status, "grew": source.ring.frames_written - written}))
source.stop()
"""


def test_input_overflow_is_counted_and_capture_goes_on(jack):
    out = subprocess.run([sys.executable, "-c", OVERFLOW_SCRIPT], env=jack, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["calm"] == 0, result  # the counter does not count for nothing
    assert result["overflows"] >= 1, result  # PortAudio's paInputOverflow reached the counter
    assert result["failed"] is None and result["status"] == "ok", result
    assert result["grew"] > 0.1 * 48000, result  # and capture went on


CONVERT_SCRIPT = """
import json, sys, time
import numpy as np
from livecppn.audio.sources import FileSource
source = FileSource(sys.argv[1], loop=False, play=True, output="jack")
t = time.monotonic()
source.start()
while not source.finished and time.monotonic() - t < 10:
    time.sleep(0.01)
took = time.monotonic() - t
window = source.ring.latest(source.ring.frames_written)
source.stop()
spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
print(json.dumps({"device": source.output_device, "rate": source.sample_rate, "frames": source.ring.frames_written,
                  "took": took, "hz": float(np.argmax(spectrum) * source.sample_rate / len(window)),
                  "finished": source.finished, "failed": source.failed}))
"""


def test_a_rate_the_output_refuses_is_resampled_not_refused(jack, tmp_path):
    path = write_wav(tmp_path / "a440.wav", sine(440, 1.0, 44100), 44100)  # JACK runs at 48 kHz only
    out = subprocess.run([sys.executable, "-c", CONVERT_SCRIPT, str(path)], env=jack, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["device"] == "jack" and result["rate"] == 48000 and result["finished"], result
    assert abs(result["frames"] - 48000) <= 64, result  # one second, resampled
    assert result["hz"] == pytest.approx(440, abs=2), result
    assert 0.9 < result["took"] < 2.0, result  # played through the device's clock, not dumped
    assert result["failed"] is None


def test_loopback_without_a_server_explains_the_route():
    pytest.importorskip("pyaudio")
    script = ("from livecppn.audio.sources import open_source\n"
              "try:\n    open_source('loopback')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), **NO_SOUND_SERVER)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if not out.stdout.startswith("AudioError"):
        pytest.skip(f"this machine has a loopback input without a sound server: {out.stdout.strip()}")
    assert "no loopback input found" in out.stdout and "monitor of the default PulseAudio" in out.stdout


def test_loopback_of_an_unknown_sink_names_it(pulse):
    with pytest.raises(AudioError, match="'no-such-sink' has no monitor source 'no-such-sink.monitor'"):
        loopback_source("no-such-sink")


def test_no_usable_input_is_in_the_shows_warnings(tmp_path):
    """The fallback to the synthetic beat is said where the performer looks: the report's warnings (the HUD
    shows the newest), not only in the log."""
    pytest.importorskip("pyaudio")
    report = tmp_path / "r.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), **NO_SOUND_SERVER)
    out = subprocess.run([sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "5", "--no-osc",
                          "--size", "160x90", "--internal", "32x18", "--report", str(report)],
                         env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(report.read_text())
    if not result["audio_source"].startswith("synthetic"):
        pytest.skip(f"this machine has an input without a sound server: {result['audio_source']}")
    assert any(w.startswith("no usable audio input") for w in result["warnings"]), result["warnings"]
