"""MIDI bytes → events (DESIGN §7, §8): pure (no ports, no threads, no bus); `decode` never raises.

`decode(data)` takes one message as rtmidi hands it over (a list of ints) and
returns the events in it, each with the kind the MIDI thread counts it as:

- channel messages: `cc`, `note_on`, `note_off` (a note-on at velocity 0 is a
  note-off), with channel 1-16, number and value; program change, pressure
  and pitch bend are `other`;
- system messages: `clock`, `start`, `stop`, `continue`, `song_position`
  (its position in MIDI beats, sixteenths); a whole sysex is `sysex`; tune
  request, MTC, active sensing, reset are `other`;
- `invalid`: no status byte first, a data byte above 127, the wrong length,
  a sysex that did not end.

A message must begin with its status byte. JACK forbids running status in its
buffers, and rtmidi hands over whole messages, so a message that begins with
a data byte is garbage, not running status: `invalid`.

A sysex that never ends makes rtmidi hold everything after it, glued on,
until some message ends with End of Exclusive (the MIDI thread sends a lone
one now and then: midi_ports.FLUSH). Such a message is taken apart again
(`unglue`): the unended sysex is `invalid`, and each message held behind it
comes out with `late` set: when it arrived is not known. A lone End of
Exclusive (the flush, when nothing was stalled) decodes to nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

# Every kind an event can have, in the order the MIDI thread's stats list them.
EVENT_KINDS = ("cc", "note_on", "note_off", "clock", "start", "stop", "continue", "song_position",
               "sysex", "other", "invalid")
END_OF_EXCLUSIVE = 0xF7
_CHANNEL_LENGTH = {0x80: 3, 0x90: 3, 0xA0: 3, 0xB0: 3, 0xC0: 2, 0xD0: 2, 0xE0: 3}
_SYSTEM_LENGTH = {0xF1: 2, 0xF2: 3, 0xF3: 2, 0xF6: 1, 0xF8: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1, 0xFE: 1, 0xFF: 1}
_TRANSPORT = {0xFA: "start", 0xFB: "continue", 0xFC: "stop"}
_FLUSH = [END_OF_EXCLUSIVE]


@dataclass(frozen=True, slots=True)
class MidiEvent:
    kind: str  # one of EVENT_KINDS
    channel: int = 0  # 1-16 for cc / note_on / note_off; 0 otherwise
    number: int = 0  # controller or note number; song_position: the position in MIDI beats (sixteenths)
    value: int = 0  # controller value or velocity (note_off: 0)
    late: bool = False  # was held behind an unended sysex: its arrival time is unknown
    data: tuple[int, ...] = ()  # sysex / other / invalid: the message's bytes (for a log line)


_CLOCK = (MidiEvent("clock"),)  # the busiest message (48 a second at 120 BPM): one shared event
_LATE_CLOCK = (MidiEvent("clock", late=True),)


def decode(data: list[int]) -> tuple[MidiEvent, ...]:
    """The events in one message as rtmidi delivers it (usually one; none for a lone End of
    Exclusive; several for a message glued behind an unended sysex)."""
    n = len(data)
    if n and data[0] == 0xF0 and n > 2 and any(b > 0x7F for b in data[1:-1]):
        return unglue(data)
    return _decode(data, False)


def unglue(data: list[int]) -> tuple[MidiEvent, ...]:
    """A sysex that did not end, with the messages rtmidi held behind it glued on: the sysex is
    `invalid`, the rest (each starts at a status byte) are decoded as late messages."""
    starts = [i for i, byte in enumerate(data) if byte > 0x7F] + [len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(starts)]  # the first: the sysex that did not end
    events: list[MidiEvent] = []
    for i, piece in enumerate(pieces):
        if piece == _FLUSH:
            continue  # ended the piece before it
        if piece[0] == 0xF0 and pieces[i + 1:i + 2] == [_FLUSH]:
            piece = piece + _FLUSH
        events += _decode(piece, i > 0)
    return tuple(events)


def _decode(data: list[int], late: bool) -> tuple[MidiEvent, ...]:
    n = len(data)
    status = data[0] if n else 0
    if status == 0xF8 and n == 1:
        return _LATE_CLOCK if late else _CLOCK
    if status < 0x80 or any(b > 0x7F for b in data[1:n if status != 0xF0 else n - 1]):
        return (MidiEvent("invalid", late=late, data=tuple(data)),)
    if status >= 0xF0:
        return () if data == _FLUSH else (_system(data, status, n, late),)
    kind = status & 0xF0
    if n != _CHANNEL_LENGTH[kind]:
        return (MidiEvent("invalid", late=late, data=tuple(data)),)
    channel = (status & 0x0F) + 1
    if kind == 0xB0:
        return (MidiEvent("cc", channel, data[1], data[2], late),)
    if kind == 0x90 and data[2]:
        return (MidiEvent("note_on", channel, data[1], data[2], late),)
    if kind in (0x80, 0x90):
        return (MidiEvent("note_off", channel, data[1], 0, late),)
    return (MidiEvent("other", late=late, data=tuple(data)),)


def _system(data: list[int], status: int, n: int, late: bool) -> MidiEvent:
    if status == 0xF0:
        return MidiEvent("sysex" if data[-1] == END_OF_EXCLUSIVE else "invalid", late=late, data=tuple(data))
    if _SYSTEM_LENGTH.get(status) != n:
        return MidiEvent("invalid", late=late, data=tuple(data))
    if status in _TRANSPORT:
        return MidiEvent(_TRANSPORT[status], late=late)
    if status == 0xF2:
        return MidiEvent("song_position", number=data[1] | data[2] << 7, late=late)
    return MidiEvent("other", late=late, data=tuple(data))


def relative_ticks(mode: str, value: int) -> int:
    """Encoder ticks in one relative-CC value (+ clockwise)."""
    if mode == "twos_complement":  # 1..63 up, 127..64 down (127 = -1)
        return value - 128 if value >= 64 else value
    if mode == "binary_offset":  # 64 = none, 65 = +1, 63 = -1
        return value - 64
    if mode == "sign_magnitude":  # bit 6 is the sign: 1 = +1, 65 = -1
        return -(value & 0x3F) if value & 0x40 else value
    raise ValueError(f"not a relative mode: {mode!r}")
