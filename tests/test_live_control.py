"""A headless `livecppn live` driven like a show: OSC over real UDP and MIDI
over a real JACK transport; the report's final state must match what was sent."""

import os
import shutil
import subprocess
import threading
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, require, start_show

from livecppn import paths
from livecppn.control.mapping_toml import load
from livecppn.control.registry import default_registry

REGISTRY = default_registry()
SPECS = REGISTRY.specs
LEARN_TARGETS = REGISTRY.learn_targets


def test_osc_drives_a_headless_show(tmp_path):
    port = free_port()
    proc, report_path = start_show(tmp_path, "--osc-port", str(port))
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message("/livecppn/param/brightness", 0.5)
        client.send_message("/livecppn/param/zoom", 2)  # an int, coerced
        client.send_message("/livecppn/trigger/deck_b", "moss")  # a deck load by name
        bundle = OscBundleBuilder(IMMEDIATELY)
        for address, value in (("/livecppn/param/transition", 2.0), ("/livecppn/param/rotation", 45.0)):
            msg = OscMessageBuilder(address=address)
            msg.add_arg(value)
            bundle.add_content(msg.build())
        client.send(bundle.build())
        client.send_message("/livecppn/param/crossfader", 1.0)
        time.sleep(2.0)
    finally:
        report, _ = end_show(proc, report_path)
    p = report["params"]
    assert p["brightness"] == pytest.approx(0.5, abs=1e-3)
    assert p["zoom"] == pytest.approx(2.0, abs=1e-3)
    assert p["transition"] == 2.0 and p["rotation"] == pytest.approx(45.0, abs=1e-2)
    assert p["crossfader"] == pytest.approx(1.0, abs=1e-3)
    assert report["decks"]["b"] == "moss"
    assert report["controls"]["osc"]["dispatched"] >= 6


def test_osc_go_fades_to_the_other_deck(tmp_path):
    port = free_port()
    proc, report_path = start_show(tmp_path, "--osc-port", str(port))
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message("/livecppn/param/transition_time", 0.5)
        client.send_message("/livecppn/param/go_quantize", 0.0)
        time.sleep(0.3)
        client.send_message("/livecppn/trigger/go", [])
        time.sleep(1.5)
    finally:
        report, _ = end_show(proc, report_path)
    assert report["params"]["crossfader"] == pytest.approx(1.0, abs=1e-3)


def midi_clock(port, bpm: float, stop: threading.Event) -> None:
    """Start, then 24 ticks per quarter note at `bpm`, paced on the monotonic clock, until `stop`."""
    import mido

    port.send(mido.Message("start"))
    tick, t = 60.0 / bpm / 24, time.monotonic()
    while not stop.is_set():
        port.send(mido.Message("clock"))
        t += tick
        time.sleep(max(0.0, t - time.monotonic()))


def test_a_controller_plays_the_show_and_is_reconnected(tmp_path, jack_midi):
    """CCs, notes into bank slots and a 150 BPM clock over a real JACK port; the port is closed
    and opened again and the show takes it back."""
    import mido

    name = f"livecppn-show-test-{os.getpid()}"
    brightness_max = SPECS["brightness"].maximum
    port = mido.open_output(name, virtual=True)
    # The show one step below this process's priority: on a busy 2-core machine it would otherwise delay
    # the clock thread's sends, and the tempo measured would be the sender's jitter, not the show's.
    proc, report_path = start_show(tmp_path, "--no-osc", "--midi", name, preexec_fn=lambda: os.nice(5))
    stop_clock = threading.Event()
    clock = None
    try:
        time.sleep(2.5)  # the input is found by name (polled about once a second)
        port.send(mido.Message("control_change", control=0, value=0))  # generic map: fader 1 = brightness
        port.send(mido.Message("note_on", note=45, velocity=100))  # pad 10: deck A <- slot 2 (ice)
        port.send(mido.Message("note_off", note=45))
        time.sleep(0.5)
        port.close()  # the controller is unplugged ...
        time.sleep(2.5)
        port = mido.open_output(name, virtual=True)  # ... and plugged back in
        time.sleep(2.5)
        clock = threading.Thread(target=midi_clock, args=(port, 150.0, stop_clock))  # not the synthetic 120
        clock.start()
        port.send(mido.Message("control_change", control=0, value=127))
        port.send(mido.Message("note_on", note=51, velocity=100))  # pad 16: deck B <- slot 4 (moss)
        time.sleep(4.0)  # a few beats of clock
    finally:
        report, log = end_show(proc, report_path)  # the clock still running
        stop_clock.set()
        if clock is not None:
            clock.join()
        port.close()
    controls = report["controls"]
    assert controls["midi_ports"][name]["connects"] == 2, log[-3000:]
    assert controls["midi_ports"][name]["state"] == "connected"
    assert report["params"]["brightness"] == pytest.approx(brightness_max, abs=1e-3)
    assert report["decks"]["a"] == "ice" and report["decks"]["b"] == "moss"
    # The tempo comes from the clock. Its value follows the ticks as they arrive: on a loaded 2-core machine
    # a sender paced by time.sleep, and JACK's dummy driver running late, stretch them (116 BPM was seen for
    # 132 sent), so the band is wide; it still excludes the synthetic beat's 120.
    assert controls["midi_clock"]["running"] and controls["midi_clock"]["bpm"] == pytest.approx(150, abs=22)
    assert report["audio"]["tempo_source"] == "clock" and report["audio"]["bpm"] == pytest.approx(150, abs=22)
    assert "reconnected" in log


def xdotool_key(pid: int, key: str) -> None:
    """Type a key into the show's window (process `pid`) through the X server (XTEST), as a keyboard would."""
    subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--pid", str(pid), "--name", "^livecppn$",
                    "windowfocus", "--sync"], check=True, capture_output=True, timeout=10)
    subprocess.run(["xdotool", "key", key], check=True, capture_output=True, timeout=10)


def test_midi_learn_from_the_keyboard(tmp_path, jack_midi):
    """L arms learn on the first target (brightness), a CC binds to it, S saves the mapping into the
    user's folder (never the presets)."""
    import mido

    require(shutil.which("xdotool") is not None, "xdotool not installed (tools/setup.sh --test installs it)")
    presets = tmp_path / "presets"
    shutil.copytree(paths.presets_dir(), presets)
    name = f"livecppn-learn-test-{os.getpid()}"
    first = LEARN_TARGETS[0]
    spec = SPECS[first]
    with mido.open_output(name, virtual=True) as port:
        proc, report_path = start_show(tmp_path, "--no-osc", "--midi", name, headless=False,
                                       env={"LIVECPPN_PRESETS": str(presets)})
        try:
            time.sleep(2.5)
            xdotool_key(proc.pid, "l")
            time.sleep(0.5)
            port.send(mido.Message("control_change", control=5, value=100))  # fader 6: unmapped in the generic map
            time.sleep(0.3)
            port.send(mido.Message("control_change", control=5, value=0))  # now it moves the target
            time.sleep(0.3)
            xdotool_key(proc.pid, "s")
            time.sleep(1.0)
        finally:
            report, log = end_show(proc, report_path)
    assert report["controls"]["midi_learned"] == [{"source": "cc", "number": 5, "channel": 1, "target": first}], log
    assert report["params"][first] == pytest.approx(spec.minimum, abs=1e-3)
    saved = load(tmp_path / "home" / "mappings" / "learned.toml", REGISTRY)  # start_show's LIVECPPN_HOME
    assert not (presets / "mappings" / "learned.toml").exists()
    assert saved.find("cc", 1, 5).param == first
