"""The MIDI byte decoder on its own (no JACK, no threads): what each message decodes to, what is
invalid, what comes apart from behind an unended sysex, and that no bytes at all make it raise."""

import random

import pytest

from livecppn.control.midi_decode import EVENT_KINDS, MidiEvent, decode, relative_ticks


def kinds(data):
    return [e.kind for e in decode(data)]


def test_controls_and_notes_with_their_channel():
    assert decode([0xB0, 7, 100]) == (MidiEvent("cc", 1, 7, 100),)
    assert decode([0xBF, 127, 0]) == (MidiEvent("cc", 16, 127, 0),)
    assert decode([0x99, 36, 90]) == (MidiEvent("note_on", 10, 36, 90),)
    assert decode([0x99, 36, 0]) == (MidiEvent("note_off", 10, 36, 0),)  # note-on at velocity 0
    assert decode([0x82, 60, 64]) == (MidiEvent("note_off", 3, 60, 0),)  # release velocity dropped


def test_clock_transport_and_song_position():
    assert kinds([0xF8]) == ["clock"]
    assert decode([0xF8]) is decode([0xF8])  # the busiest message makes no new object
    assert kinds([0xFA]) + kinds([0xFB]) + kinds([0xFC]) == ["start", "continue", "stop"]
    assert decode([0xF2, 0x10, 0x01]) == (MidiEvent("song_position", number=0x10 | 1 << 7),)


def test_valid_but_unused_messages_are_other():
    for data in ([0xC3, 5], [0xD0, 40], [0xE0, 0, 64], [0xA0, 60, 10], [0xF1, 0x20], [0xF3, 2], [0xF6],
                 [0xFE], [0xFF]):
        assert decode(data) == (MidiEvent("other", data=tuple(data)),), data


def test_sysex():
    assert decode([0xF0, 0x7E, 0x00, 0x06, 0x01, 0xF7]) == (
        MidiEvent("sysex", data=(0xF0, 0x7E, 0x00, 0x06, 0x01, 0xF7)),)
    assert kinds([0xF0, 0xF7]) == ["sysex"]
    assert kinds([0xF0, 0x41, 0x10]) == ["invalid"]  # did not end
    assert decode([0xF7]) == ()  # a lone End of Exclusive (the MIDI thread's own flush): nothing


@pytest.mark.parametrize("data", [
    [],  # nothing
    [0x45, 0x12],  # a data byte first: running status is never delivered (JACK forbids it), so garbage
    [0x40, 0x40, 0x40],
    [0xB0, 0x00, 0x80],  # a data byte above 127
    [0xB0, 7],  # too short
    [0x90, 36, 100, 1],  # too long
    [0xC0],
    [0xF8, 0],  # a clock with a byte after it
    [0xF2, 1],  # song position, short
    [0xF4], [0xF5], [0xF9], [0xFD],  # undefined system messages
])
def test_malformed_messages_are_invalid_and_carry_their_bytes(data):
    assert decode(data) == (MidiEvent("invalid", data=tuple(data)),)


def test_messages_held_behind_an_unended_sysex_come_apart_late():
    # what rtmidi hands over once the flush's End of Exclusive arrives: the stalled sysex, a CC,
    # a note, a clock tick, and the flush itself, glued together
    glued = [0xF0, 0x41, 0x10, 0x42, 0xB0, 0x00, 0x7F, 0x90, 36, 100, 0xF8, 0xF7]
    assert decode(glued) == (
        MidiEvent("invalid", data=(0xF0, 0x41, 0x10, 0x42)),
        MidiEvent("cc", 1, 0, 127, late=True),
        MidiEvent("note_on", 1, 36, 100, late=True),
        MidiEvent("clock", late=True),
    )
    # the sysex that did end is whole again; a later sysex that did not end is invalid
    assert kinds([0xF0, 0x01, 0xF7, 0xFA, 0xF0, 0x02, 0xF7]) == ["sysex", "start", "sysex"]
    assert kinds([0xF0, 0x01, 0xFC, 0xF0, 0x02]) == ["invalid", "stop", "invalid"]
    assert all(e.late for e in decode([0xF0, 0x01, 0xFC, 0xF0, 0x02])[1:])


def test_relative_encoder_modes():
    assert [relative_ticks("twos_complement", v) for v in (1, 5, 127, 123, 64)] == [1, 5, -1, -5, -64]
    assert [relative_ticks("binary_offset", v) for v in (65, 70, 63, 58, 64)] == [1, 6, -1, -6, 0]
    assert [relative_ticks("sign_magnitude", v) for v in (1, 5, 65, 69)] == [1, 5, -1, -5]
    with pytest.raises(ValueError, match="not a relative mode"):
        relative_ticks("absolute", 3)


def test_any_bytes_decode_without_raising():
    rng = random.Random(7)
    for _ in range(20_000):
        n = rng.randrange(12)
        data = [rng.randrange(256) for _ in range(n)]
        if rng.random() < 0.3:
            data = [0xF0] + data
        events = decode(data)
        assert all(e.kind in EVENT_KINDS for e in events), (data, events)
        assert all(1 <= e.channel <= 16 for e in events if e.kind in ("cc", "note_on", "note_off"))
        assert all(0 <= e.number <= 127 and 0 <= e.value <= 127 for e in events if e.kind != "song_position")
