"""MIDI feedback (DESIGN §7): what to send back to a controller so its LEDs and motor faders follow the show.

Pure: no ports, no threads, no clock of its own (times are passed in), so the
rules are tested without JACK (tests/test_midi_feedback.py). `MidiControl`
runs one `Feedback` on its MIDI thread and sends what `update` returns to the
controller's outputs (midi_out.py).

Which controls: the mapping's bindings with `feedback = true` (mapping.py,
mapping_toml.py; a `[feedback] default` sets it for every entry that has a
state to show), and the `[feedback] beat_note`. What each is sent, on its own
channel and number (an omni binding: on the channel it was last moved on,
else 1):
- a CC → parameter (a fader, a knob, an LED ring): the parameter's value
  scaled over the binding's range to 0-127, the way the control's own 0-127
  spans it. A relative encoder's ring gets the same absolute value.
- a note → parameter (a momentary or toggle pad): velocity 127 while the
  value is nearer the range's high end, else 0 (a note-on at velocity 0, which
  controllers take as "light off").
- a `deck_a` / `deck_b` pad: lit while that deck holds the binding's slot (a
  slot number or a style name); a `load` pad: while the deck a load would go
  to (the one not on air) holds it; a `record` pad: while recording.
- the beat light: lit for the first BEAT_LIT of each beat, while a tempo is known.

Not echoing a control's own movement: when a fader or an absolute knob moves,
the value it sent is taken as what it shows, and for ECHO_HOLD seconds (then
until the slewed value has settled on what it asked for, at most ten
smoothing times) it is sent nothing, so a motor fader under a finger does not
fight the slew. After that it is sent a value only if the show's value is more
than one MIDI step away from its own (rounding), or when anything else (the
autopilot, OSC, another control, a preset load) moved it since. An encoder's
ring and a pad's light are sent their own control's result: the controller
cannot know it (a relative tick, a toggle's new state).

Rate limits: at most FEEDBACK_HZ messages a second per control, and MAX_RATE a
second over all (a token bucket holding BURST), so a flood of changes never
floods the cable. Nothing is queued: each control's newest value is compared
with what it shows every time `update` runs, so the last value always arrives
(no stale LED), just late by at most 1 / FEEDBACK_HZ.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from dataclasses import dataclass

from .mapping import RELATIVE_MODES, Binding, Mapping
from .params import Params

FEEDBACK_HZ = 30.0  # messages a second per control, at most (a motor fader or LED ring needs no more)
MAX_RATE = 1000.0  # messages a second over all controls: about what a 5-pin DIN cable carries (31250 baud)
BURST = 100  # messages that may go out at once (a preset load) before MAX_RATE applies
ECHO_HOLD = 0.25  # seconds a fader's own movement is not echoed back to it
BEAT_LIT = 0.25  # fraction of each beat the beat light is on
ON, OFF = 127, 0
NOTE_ON, CONTROL_CHANGE = 0x90, 0xB0


@dataclass
class _Light:
    """One control that is sent feedback, and what it is believed to show."""

    binding: Binding | None  # None: the beat light
    source: str  # "cc" | "note"
    number: int
    channel: int | None  # 1-16; None: the channel it was last moved on (omni binding)
    shown: int | None = None  # what the controller shows (None: unknown, send the next value)
    from_control: bool = False  # `shown` is what the control itself sent (rounding: one step of slack)
    moved_channel: int = 1  # omni: the channel the control was last moved on
    held_at: float | None = None  # a fader's own movement: when (its echo is held)
    target: float = 0.0  # ... and the parameter value it asked for
    next_at: float = 0.0  # the per-control rate limit: earliest time of its next message

    def message(self, value: int) -> list[int]:
        channel = (self.channel or self.moved_channel) - 1
        return [(CONTROL_CHANGE if self.source == "cc" else NOTE_ON) | channel, self.number, value]


def shows_its_own_moves(b: Binding) -> bool:
    """A fader or absolute knob: it shows what it sent, so its own movement is not sent back."""
    return b.source == "cc" and b.param is not None and b.mode not in RELATIVE_MODES


def _span(b: Binding, spec) -> tuple[float, float]:
    return b.range if b.range is not None else (spec.minimum, spec.maximum)


def cc_value(value: float, lo: float, hi: float) -> int:
    """A parameter value as the 0-127 a control spanning lo (0) .. hi (127) would send for it."""
    if hi == lo:
        return 0
    return min(127, max(0, round((value - lo) / (hi - lo) * 127)))


def _holds_slot(ref: object, deck: str, status) -> bool:
    """Whether `deck` holds the bank slot (a number) or style (a name) `ref`, per the frozen status."""
    if status is None:
        return False
    if isinstance(ref, str) and not ref.strip().isdigit():
        name = status.decks.get(deck)
        return name is not None and name.casefold() == ref.strip().casefold()
    try:
        slot = int(ref)
    except (TypeError, ValueError):
        return False
    return getattr(status, "deck_slots", {}).get(deck) == slot


class Feedback:
    """What to send to the controller, given what it was sent. MIDI thread only.

    `update(params, status, now)` takes the newest frozen Params and ShowStatus (or None before the
    first frame: then parameters only) and returns the messages to send now, as lists of bytes.
    `touched` tells it a control moved; `forget` that an output (re)connected and shows nothing known."""

    def __init__(self, mapping: Mapping, specs: MappingType):
        self.specs = specs
        self._lights: dict[tuple, _Light] = {}
        self._order: list[_Light] = []
        self._start = 0  # round robin under the overall limit: who goes first next time
        self._tokens = float(BURST)
        self._refilled: float | None = None
        self.set_mapping(mapping)

    def set_mapping(self, mapping: Mapping) -> None:
        """Use `mapping`'s feedback bindings (after MIDI learn); controls in both keep their state."""
        self.mapping = mapping
        old, self._lights = self._lights, {}
        for b in mapping.bindings:
            if b.feedback and b.can_feed_back:
                light = old.get(b.key)
                if light is None or light.binding != b:
                    light = _Light(b, b.source, b.number, b.channel)
                self._lights[b.key] = light
        fb = mapping.feedback
        if fb.beat_note is not None:
            key = ("beat", fb.beat_note, fb.beat_channel)
            self._lights[key] = old.get(key) or _Light(None, "note", fb.beat_note, fb.beat_channel)
        self._order = list(self._lights.values())
        self._start = 0

    @property
    def active(self) -> bool:
        """Whether any control wants feedback."""
        return bool(self._order)

    def forget(self) -> None:
        """An output (re)connected: it shows nothing we know of, so everything is sent again."""
        for light in self._order:
            light.shown, light.from_control, light.next_at = None, False, 0.0

    def touched(self, b: Binding, channel: int, value: int, target: float | None, now: float) -> None:
        """Control `b` was moved on `channel` (1-16), sending `value` (0-127), asking for `target`."""
        light = self._lights.get(b.key)
        if light is None:
            return
        light.moved_channel = channel
        if shows_its_own_moves(b) and target is not None:
            light.shown, light.from_control = value, True
            light.held_at, light.target = now, target

    def update(self, params: Params, status, now: float) -> list[list[int]]:
        """The messages to send now (each [status, number, value])."""
        if self._refilled is not None:
            self._tokens = min(float(BURST), self._tokens + (now - self._refilled) * MAX_RATE)
        self._refilled = now
        out: list[list[int]] = []
        order, n = self._order, len(self._order)
        for i in range(n):
            if self._tokens < 1.0:
                self._start = (self._start + i) % n  # the rest go first next time
                break
            light = order[(self._start + i) % n]
            if now < light.next_at:
                continue
            value = self._value(light, params, status)
            if value is None or self._held(light, params, now):
                continue
            if light.shown is not None and abs(value - light.shown) <= (1 if light.from_control else 0):
                continue
            out.append(light.message(value))
            light.shown, light.from_control, light.next_at = value, False, now + 1.0 / FEEDBACK_HZ
            self._tokens -= 1.0
        return out

    def _held(self, light: _Light, params: Params, now: float) -> bool:
        """A fader's own movement, still under way: not echoed."""
        if light.held_at is None:
            return False
        b = light.binding
        spec = self.specs[b.param]
        since = now - light.held_at
        lo, hi = _span(b, spec)
        step = abs(hi - lo) / 127
        value = params.values.get(b.param, spec.default)
        if since < ECHO_HOLD or (since < ECHO_HOLD + 10 * spec.smoothing and abs(value - light.target) > step):
            return True
        light.held_at = None
        return False

    def _value(self, light: _Light, params: Params, status) -> int | None:
        b = light.binding
        if b is None:  # the beat light
            if status is None:
                return None
            f = status.features
            return ON if f is not None and f.bpm > 0 and f.beat_phase < BEAT_LIT else OFF
        if b.param is not None:
            spec = self.specs[b.param]
            value = params.values.get(b.param, spec.default)
            lo, hi = _span(b, spec)
            if b.source == "cc":
                return cc_value(value, lo, hi)
            return ON if abs(value - hi) < abs(value - lo) else OFF
        if status is None:
            return None  # decks and recording are not known before the first frame
        if b.trigger == "record":
            return ON if status.recording else OFF
        if b.trigger == "load":  # the deck a load goes to: the one not on air (show/decks.py, on_air)
            deck = "b" if params.values.get("crossfader", 0.0) < 0.5 else "a"
        else:
            deck = b.trigger[-1]  # deck_a, deck_b
        return ON if _holds_slot(b.value, deck, status) else OFF
