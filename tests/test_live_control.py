"""A headless `livecppn live` driven like a show: OSC over real UDP and MIDI
over a real JACK transport; the report's final state must match what was sent."""

import os
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, start_show


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


def test_midi_cc_drives_a_headless_show(tmp_path, jack_midi):
    import mido

    name = f"livecppn-show-test-{os.getpid()}"
    with mido.open_output(name, virtual=True) as port:
        proc, report_path = start_show(tmp_path, "--no-osc", "--midi", name)
        try:
            time.sleep(2.5)  # the input is found by name (polled about once a second)
            port.send(mido.Message("control_change", control=0, value=0))  # generic map: fader 1 = brightness
            time.sleep(1.0)
        finally:
            report, _ = end_show(proc, report_path)
    assert report["params"]["brightness"] == pytest.approx(0.0, abs=1e-3)
    assert report["controls"]["midi"]
