"""`livecppn doctor` on this machine's real parts (DESIGN §9): Mesa's software GL, no CUDA, the
PulseAudio null sink and its monitor, a JACK server with virtual MIDI ports, a UDP socket holding the
OSC port. Each run is the command itself in a subprocess, read through its `--json`."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import mido
import pytest
from realparts import free_port, require_pulse, sine, write_wav

from livecppn.doctor import Check, as_json, table
from livecppn.doctor.check import VERDICTS

ROOT = Path(__file__).resolve().parent.parent
CHECK_KEYS = {"name", "verdict", "detail", "advice", "data"}


def doctor(*args, env=None, timeout=120):
    """(exit status, the --json document) of `livecppn doctor --json ARGS`."""
    proc = subprocess.run([sys.executable, "-m", "livecppn", "doctor", "--json", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def by_name(doc) -> dict:
    return {c["name"]: c for c in doc["checks"]}


def assert_schema(doc):
    assert set(doc) == {"version", "livecppn", "verdict", "checks"} and doc["version"] == 1
    assert doc["verdict"] in ("ok", "warning", "problem")
    for c in doc["checks"]:
        assert set(c) == CHECK_KEYS and c["verdict"] in VERDICTS and isinstance(c["data"], dict), c
        assert isinstance(c["detail"], str) and c["detail"] and isinstance(c["advice"], str)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The whole doctor, its level meter on a private null sink's monitor while a tone plays into it
    (PULSE_SOURCE picks what the default input records; other tests' sounds stay on their sinks)."""
    require_pulse()
    sink = f"livecppn_doctor_{uuid.uuid4().hex[:8]}"
    module = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={sink}", "rate=48000"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tone = write_wav(tmp_path_factory.mktemp("doctor") / "tone.wav", sine(440, 30, 48000, amp=0.5), 48000)
    player = subprocess.Popen(["paplay", f"--device={sink}", str(tone)])
    try:
        yield doctor("--seconds", "2", "--osc-port", str(free_port()), env={"PULSE_SOURCE": f"{sink}.monitor"})
    finally:
        player.kill()
        player.wait()
        subprocess.run(["pactl", "unload-module", module], check=False)


def test_the_json_schema_is_stable(full_run):
    status, doc = full_run
    assert_schema(doc)
    names = [c["name"] for c in doc["checks"]]
    for name in ("python", "packages", "gl", "cuda", "same-gpu", "interop", "backend", "audio-in", "loopback",
                 "audio-level", "midi-in", "midi-out", "osc", "disk", "ndi", "link"):
        assert name in names
    assert status == (1 if doc["verdict"] == "problem" else 0)


def test_software_gl_is_a_warning_that_says_what_it_costs(full_run):
    checks = by_name(full_run[1])
    gl = checks["gl"]
    assert gl["verdict"] == "warning" and gl["data"]["software"] and "llvmpipe" in gl["detail"]
    assert " fps " in gl["advice"] and checks["backend"]["data"]["backend"] == "cpu"
    internal = checks["backend"]["data"]["internal"]
    assert f"{internal[0]}x{internal[1]}" in gl["advice"] and checks["backend"]["data"]["fps"] > 0


def test_no_cuda_is_reported_but_does_not_block(full_run):
    checks = by_name(full_run[1])
    assert checks["cuda"]["verdict"] == "info" and not checks["cuda"]["data"]["available"]
    assert checks["interop"]["verdict"] == "info"
    # llvmpipe has GL_EXT_memory_object: GL's device UUID is read even with nothing to compare it with
    assert len(checks["same-gpu"]["data"]["gl_uuids"]) >= 1 and checks["same-gpu"]["verdict"] == "info"


def test_the_null_sinks_monitor_is_the_loopback_and_the_tone_is_heard(full_run):
    checks = by_name(full_run[1])
    assert checks["loopback"]["verdict"] == "ok"
    assert checks["loopback"]["data"]["pulse_source"] == "livecppn_test.monitor"  # tools/services.sh's default
    level = checks["audio-level"]
    assert level["verdict"] == "ok", level
    assert level["data"]["seconds"] > 1.5 and -12 < level["data"]["peak_dbfs"] < 0  # a 0.5 sine: -6 dBFS


def test_a_taken_osc_port_is_a_problem_and_exit_1():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        status, doc = doctor("--no-gl", "--seconds", "0", "--osc-port", str(port))
    osc = by_name(doc)["osc"]
    assert osc["verdict"] == "problem" and str(port) in osc["detail"] and osc["advice"]
    assert doc["verdict"] == "problem" and status == 1
    assert_schema(doc)


def test_jack_midi_ports_are_listed(jack_midi):
    name_in, name_out = "doctor-controller", "doctor-lights"
    with mido.open_output(name_in, virtual=True), mido.open_input(name_out, virtual=True):
        _, doc = doctor("--no-gl", "--seconds", "0", "--osc-port", "0")  # MIDO_BACKEND: JACK (the fixture)
        checks = by_name(doc)
        assert checks["midi-in"]["verdict"] == "ok" and any(name_in in p for p in checks["midi-in"]["data"]["inputs"])
        assert checks["midi-out"]["verdict"] == "ok"
        assert any(name_out in p for p in checks["midi-out"]["data"]["outputs"])
        # on the default API (ALSA: no sequencer here) the show sees none: the doctor says how to use JACK's
        _, doc = doctor("--no-gl", "--seconds", "0", "--osc-port", "0", env={"MIDO_BACKEND": ""})
        midi_in = by_name(doc)["midi-in"]
        assert midi_in["verdict"] == "warning" and "UNIX_JACK" in midi_in["advice"] and name_in in midi_in["detail"]


def test_the_table_fits_one_screen(full_run):
    checks = [Check(c["name"], c["verdict"], c["detail"], c["advice"], c["data"]) for c in full_run[1]["checks"]]
    long = Check("x" * 12, "problem", "d" * 300, "a " * 400)
    for shown in (checks, checks + [long] * 3):
        lines = table(shown).splitlines()
        assert len(lines) <= 40 and max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert table(checks).splitlines()[-1].startswith(("ok", "warnings", "PROBLEM"))
    assert json.loads(as_json(checks, "0"))["checks"][0]["name"] == "python"


def test_a_verdict_outside_the_four_is_refused():
    with pytest.raises(ValueError, match="verdict"):
        Check("gl", "fine", "llvmpipe")


def test_no_display_is_a_problem_even_where_egl_renders():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "livecppn", "doctor", "--json", "--seconds", "0", "--osc-port", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
    gl = by_name(json.loads(proc.stdout))["gl"]
    assert proc.returncode == 1 and gl["verdict"] == "problem" and "display" in gl["detail"], proc.stdout[-2000:]
