"""MIDI feedback (DESIGN §7, §9): the rules (control/midi_feedback.py) without ports, then through JACK:
a virtual controller (an output into livecppn, an input for what livecppn sends back) whose values
are changed by OSC over real UDP, by the show's status and by the controller itself."""

import dataclasses
import random
import threading
import time
from types import MappingProxyType

import mido
import pytest
import rtmidi
from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, start_show, wait_for
from test_midi import cc, port_name
from test_show_status import status as show_status

from livecppn.audio.features import AudioFeatures
from livecppn.control import mapping_toml
from livecppn.control.mapping import Binding, FeedbackSettings, Mapping
from livecppn.control.midi import MidiControl
from livecppn.control.midi_feedback import BURST, ECHO_HOLD, FEEDBACK_HZ, Feedback, cc_value
from livecppn.control.osc import OscControl
from livecppn.control.params import ParamBus, Params
from livecppn.control.registry import default_registry

REGISTRY = default_registry()
SPECS = REGISTRY.specs


def params(**values) -> Params:
    v = {s.name: s.default for s in REGISTRY.params}
    v.update(values)
    return Params(MappingProxyType(v), SPECS)


def mapping(*bindings, **feedback) -> Mapping:
    return Mapping(tuple(dataclasses.replace(b, feedback=True) for b in bindings), feedback=FeedbackSettings(**feedback))


FADER = Binding("cc", 0, 3, param="brightness")  # 0-2 over CC 0-127, channel 3
RING = Binding("cc", 16, None, param="zoom", mode="twos_complement")  # an encoder on any channel
PAD_A1 = Binding("note", 44, 1, trigger="deck_a", value=1)


# --- the rules, without ports ----------------------------------------------------------------------

def test_a_change_from_elsewhere_is_sent_once_on_the_controls_channel_and_number():
    fb = Feedback(mapping(FADER), SPECS)
    assert fb.update(params(brightness=1.0), None, 0.0) == [[0xB2, 0, 64]]  # the first look: what it should show
    assert fb.update(params(brightness=1.0), None, 1.0) == []  # unchanged: nothing
    assert fb.update(params(brightness=2.0), None, 2.0) == [[0xB2, 0, 127]]  # OSC / autopilot moved it
    assert fb.update(params(brightness=2.0 * 126 / 127), None, 3.0) == [[0xB2, 0, 126]]  # one step from elsewhere: sent


def test_a_faders_own_movement_is_not_echoed():
    fb = Feedback(mapping(FADER), SPECS)
    fb.update(params(brightness=1.0), None, 0.0)
    fb.touched(FADER, 3, 100, 2.0 * 100 / 127, 1.0)  # the fader moved to 100
    for t, value in ((1.01, 1.2), (1.1, 1.5), (1.2, 1.57)):  # the value slews towards it: not echoed
        assert fb.update(params(brightness=value), None, t) == []
    assert fb.update(params(brightness=2.0 * 100.4 / 127), None, 1.0 + ECHO_HOLD + 0.01) == []  # there (rounding)
    assert fb.update(params(brightness=2.0 * 99 / 127), None, 2.0) == []  # one step off its own value: rounding
    assert fb.update(params(brightness=0.5), None, 3.0) == [[0xB2, 0, 32]]  # something else moved it


def test_while_a_fader_is_held_another_sources_change_arrives_after_the_hold():
    fb = Feedback(mapping(FADER), SPECS)
    fb.update(params(brightness=1.0), None, 0.0)
    fb.touched(FADER, 3, 100, 2.0 * 100 / 127, 1.0)
    assert fb.update(params(brightness=0.0), None, 1.1) == []  # OSC set 0 while the finger is on it: held
    assert fb.update(params(brightness=0.0), None, 1.0 + ECHO_HOLD + 10 * SPECS["brightness"].smoothing) == [
        [0xB2, 0, 0]]


def test_an_encoder_ring_gets_the_absolute_value_on_the_channel_it_moved_on():
    fb = Feedback(mapping(RING), SPECS)
    fb.touched(RING, 5, 1, 2.0, 0.0)  # one tick up on channel 5 (an omni binding)
    assert fb.update(params(zoom=4.05), None, 0.01) == [[0xB4, 16, cc_value(4.05, 0.1, 8.0)]]  # its own result too


def test_per_control_rate_limit_and_the_last_value_arrives():
    fb = Feedback(mapping(FADER), SPECS)
    rng, sent, t, value = random.Random(1), [], 0.0, 0.0
    while t < 2.0:  # a flood: a new value every millisecond for two seconds
        value = rng.uniform(0.0, 2.0)
        sent += [(t, m) for m in fb.update(params(brightness=value), None, t)]
        t += 0.001
    assert 2 * FEEDBACK_HZ - 2 <= len(sent) <= 2 * FEEDBACK_HZ + 1
    assert all(b - a >= 1 / FEEDBACK_HZ - 1e-9 for (a, _), (b, _) in zip(sent, sent[1:]))
    sent += [(t, m) for m in fb.update(params(brightness=value), None, t + 1 / FEEDBACK_HZ)]  # the flood stopped
    assert sent[-1][1] == [0xB2, 0, cc_value(value, 0.0, 2.0)]  # its last value arrived


def test_overall_rate_limit_shares_out_and_sends_everything_eventually():
    names = [s.name for s in REGISTRY.params if s.maximum > s.minimum]
    bindings = [Binding("cc", n, ch, param=name) for ch in range(1, 17) for n, name in enumerate(names)][:400]
    fb = Feedback(mapping(*bindings), SPECS)
    first = fb.update(params(), None, 0.0)
    assert len(first) == BURST  # a burst, then MAX_RATE a second
    shown = {(m[0], m[1]) for m in first}
    t = 0.0
    while len(shown) < len(bindings) and t < 2.0:
        t += 0.005
        shown |= {(m[0], m[1]) for m in fb.update(params(), None, t)}
    assert len(shown) == len(bindings) and t == pytest.approx((len(bindings) - BURST) / 1000, abs=0.02)


def test_pads_show_deck_slots_the_cue_deck_recording_and_the_beat():
    pads = (PAD_A1, Binding("note", 45, 1, trigger="deck_a", value=2), Binding("note", 48, 1, trigger="deck_b", value="Ember"),
            Binding("note", 40, 1, trigger="load", value=1), Binding("note", 52, 1, trigger="record"),
            Binding("note", 53, 2, param="blackout", mode="toggle"))
    fb = Feedback(mapping(*pads, beat_note=39, beat_channel=10), SPECS)
    s = show_status(deck_slots=MappingProxyType({"a": 1, "b": 7}), recording=True,
                    features=dataclasses.replace(AudioFeatures.silent(), bpm=120.0, beat_phase=0.1))
    assert fb.update(params(crossfader=0.0), None, 0.0) == [[0x91, 53, 0]]  # before a status: parameters only
    sent = {m[1]: (m[0], m[2]) for m in fb.update(params(crossfader=0.0), s, 1.0)}
    assert sent == {44: (0x90, 127), 45: (0x90, 0), 48: (0x90, 127), 40: (0x90, 0), 52: (0x90, 127), 39: (0x99, 127)}
    s = dataclasses.replace(s, deck_slots=MappingProxyType({"a": 2, "b": 1}), recording=False,
                            features=dataclasses.replace(s.features, beat_phase=0.5))
    sent = {m[1]: m[2] for m in fb.update(params(crossfader=0.0, blackout=1.0), s, 2.0)}
    assert sent == {44: 0, 45: 127, 40: 127, 52: 0, 39: 0, 53: 127}  # A on air: a load cues into B, which holds 1


def test_a_new_connection_is_sent_everything_again():
    fb = Feedback(mapping(FADER, RING), SPECS)
    assert len(fb.update(params(), None, 0.0)) == 2
    assert fb.update(params(), None, 1.0) == []
    fb.forget()
    assert len(fb.update(params(), None, 2.0)) == 2


# --- mapping files ---------------------------------------------------------------------------------

def test_mapping_files_say_which_controls_want_feedback():
    text = """name = "x"
channel = 2

[feedback]
default = true
port = "Launch Control"
beat_note = 39

[[cc]]
cc = 0
param = "brightness"

[[cc]]
cc = 1
param = "zoom"
feedback = false

[[note]]
note = 36
trigger = "tap"

[[note]]
note = 44
trigger = "deck_a"
value = 1
"""
    m = mapping_toml.parse(text, REGISTRY)
    assert m.feedback == FeedbackSettings(True, "Launch Control", 39, 2)
    assert [b.feedback for b in m.bindings] == [True, False, False, True]  # tap has no state to show
    assert mapping_toml.parse(mapping_toml.to_toml(m), REGISTRY) == m
    old = mapping_toml.parse('[[cc]]\ncc = 0\nparam = "zoom"\n', REGISTRY)  # files from before: no feedback
    assert old.feedback == FeedbackSettings() and not old.bindings[0].feedback


@pytest.mark.parametrize("text, where, what", [
    ('[[note]]\nnote = 36\ntrigger = "tap"\nfeedback = true\n', ":4:", "no state"),
    ('[[cc]]\ncc = 1\nparam = "zoom"\nfeedback = 1\n', ":4:", "true or false"),
    ('[feedback]\nbeat_note = 200\n', ":2:", "beat_note"),
    ('[feedback]\nblink = 3\n', ":2:", "unknown key 'blink'"),
    ('[feedback]\nbeat_note = 3\nbeat_channel = "omni"\n', ":3:", "beat_channel"),
])
def test_bad_feedback_settings_name_the_line(text, where, what):
    problems = mapping_toml.parse(text, REGISTRY, "m.toml").problems  # left out and said, not raised
    assert len(problems) == 1 and what in problems[0] and problems[0].startswith("m.toml" + where)


def test_learned_controls_follow_the_mappings_default():
    from livecppn.control.learn import MidiLearn

    learn = MidiLearn(REGISTRY, Mapping(feedback=FeedbackSettings(default=True)))
    learn.learn("zoom")
    assert learn.offer("cc", 1, 20).feedback
    learn.learn("tap")
    assert not learn.offer("note", 1, 36).feedback


# --- through JACK ----------------------------------------------------------------------------------

class Controller:
    """A virtual controller: an output into livecppn and an input of the same name for what comes back.
    What comes back is read by polling rtmidi (mido's inputs call back on JACK's thread, which can hang
    a process that opens JACK clients meanwhile: see midi_ports.py)."""

    def __init__(self, name: str):
        self.name = name
        self.out = mido.open_output(name, virtual=True)
        self.inp = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, queue_size_limit=8192)
        self.inp.open_virtual_port(name)
        self.got: list[tuple[float, mido.Message]] = []

    def read(self) -> list[tuple[float, mido.Message]]:
        while (event := self.inp.get_message()) is not None:
            self.got.append((time.monotonic(), mido.Message.from_bytes(event[0])))
        return self.got

    def last(self, control: int):
        self.read()
        values = [m.value for _, m in self.got if m.type == "control_change" and m.control == control]
        return values[-1] if values else None

    def close(self):
        self.out.close()
        self.inp.close_port()
        self.inp.delete()


class Frames:
    """The render thread: steps the bus every 10 ms (slewed) and publishes to the MIDI control."""

    def __init__(self, bus: ParamBus, midi: MidiControl, status=None):
        self.bus, self.midi, self.status = bus, midi, status
        self.params = bus.snapshot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.params = self.bus.step(0.01)
            s = self.status
            self.midi.publish(self.params, dataclasses.replace(s, params=self.params) if s is not None else None)
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join()


@pytest.fixture
def rig(jack_midi):
    name = port_name("LaunchKnobs")
    m = mapping(Binding("cc", 0, 1, param="brightness"), Binding("cc", 1, 1, param="zoom"),
                Binding("cc", 16, 1, param="rotation", mode="twos_complement"), PAD_A1)
    ctl, bus = Controller(name), ParamBus()
    midi = MidiControl(bus, [name.split(" ", 1)[1]], m).start()  # found by substring, the output too
    frames = Frames(bus, midi)
    try:
        assert wait_for(lambda: midi.status.outputs and all(
            s.state == "connected" for s in midi.status.outputs.values()), 5)
        assert wait_for(lambda: ctl.last(1) is not None, 3)  # the first look: what the controls should show
        time.sleep(0.3)
        ctl.read()
        ctl.got.clear()
        yield ctl, bus, midi, frames
    finally:
        frames.stop()
        midi.stop()
        ctl.close()


def test_osc_and_show_changes_arrive_at_the_controller(rig):
    ctl, bus, midi, frames = rig
    with OscControl(bus, port=0) as osc:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/livecppn/param/zoom", 4.0)
        assert wait_for(lambda: ctl.last(1) == cc_value(4.0, 0.1, 8.0), 3), ctl.got
    bus.set("rotation", 90.0)  # the autopilot, a key, another control: anything but the encoder itself
    assert wait_for(lambda: ctl.last(16) == cc_value(90.0, -180.0, 180.0), 3), ctl.got
    frames.status = show_status(deck_slots=MappingProxyType({"a": 1, "b": 2}))  # an autopilot load into A
    assert wait_for(lambda: any(m.type == "note_on" and m.note == 44 and m.velocity == 127 and m.channel == 0
                                for _, m in ctl.read()), 3), ctl.got
    assert all(m.channel == 0 for _, m in ctl.got)  # channel 1 on the wire


def test_a_controls_own_movement_is_not_echoed(rig):
    ctl, bus, midi, frames = rig
    for value in range(0, 128, 8):  # a fader swept up by hand
        ctl.out.send(cc(0, value))
        time.sleep(0.02)
    assert wait_for(lambda: frames.params.brightness == pytest.approx(2.0 * 120 / 127, abs=1e-3), 3)
    time.sleep(ECHO_HOLD + 0.3)
    assert [m for _, m in ctl.read() if m.type == "control_change" and m.control == 0] == []
    bus.set("brightness", 0.0)  # and then OSC pulls it down: the motor fader follows
    assert wait_for(lambda: ctl.last(0) == 0, 3), ctl.got


def test_rate_limit_holds_under_an_osc_flood(rig):
    ctl, bus, midi, frames = rig
    rng = random.Random(7)
    with OscControl(bus, port=0) as osc:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        start = time.monotonic()
        for i in range(5000):
            client.send_message("/livecppn/param/zoom", rng.uniform(0.1, 8.0))
            if i % 100 == 0:
                time.sleep(0.04)  # about two seconds: the server keeps up; the flood is in the values
            if i % 500 == 0:
                ctl.read()
        client.send_message("/livecppn/param/zoom", 2.5)
        flood = time.monotonic() - start
        assert wait_for(lambda: frames.params.zoom == pytest.approx(2.5, abs=1e-3), 5)
        assert wait_for(lambda: ctl.last(1) == cc_value(2.5, 0.1, 8.0), 3), ctl.got[-5:]
    times = [t for t, m in ctl.read() if m.type == "control_change" and m.control == 1]
    assert len(times) >= flood * FEEDBACK_HZ / 2  # it kept following the flood
    # any one second holds at most FEEDBACK_HZ messages (+2: JACK delivers once a period, in bunches)
    assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) <= FEEDBACK_HZ + 2


def test_a_show_lights_its_controller(tmp_path, jack_midi):
    """A headless show with the generic mapping: its slot pads, the beat pad and the faders follow the
    show (a pad press loads a slot, OSC moves a fader) over the output named like the input."""
    ctl = Controller(port_name("show-ctl"))
    osc_port = free_port()
    proc, report_path = start_show(tmp_path, "--osc-port", str(osc_port), "--midi", ctl.name)
    try:
        def lit(note):
            notes = [m.velocity for _, m in ctl.read() if m.type == "note_on" and m.note == note]
            return notes[-1] if notes else None

        assert wait_for(lambda: lit(44) == 127 and lit(45) == 0, 10), ctl.got[-20:]  # deck A holds slot 1
        ctl.out.send(mido.Message("note_on", note=45, velocity=100))  # pad 10: deck A <- slot 2
        assert wait_for(lambda: lit(45) == 127 and lit(44) == 0, 10), ctl.got[-20:]
        SimpleUDPClient("127.0.0.1", osc_port).send_message("/livecppn/param/brightness", 0.5)
        assert wait_for(lambda: ctl.last(0) == 32, 5), ctl.got[-20:]  # fader 1 follows OSC
        def beat_pad():
            return [m.velocity for _, m in ctl.read() if m.type == "note_on" and m.note == 39]

        before = len(beat_pad())
        assert wait_for(lambda: len(beat_pad()) >= before + 4, 5)  # pad 4 blinks with the synthetic beat
        assert set(beat_pad()) == {0, 127}
    finally:
        report, log = end_show(proc, report_path)
        ctl.close()
    assert report["controls"]["midi_outputs"][ctl.name]["state"] == "connected", log[-3000:]
