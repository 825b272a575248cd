"""MIDI mappings (DESIGN §7): which CC or note drives which parameter or trigger.

A `Mapping` is an immutable set of `Binding`s with a lookup table, safe to
hand between threads. What a binding may name is checked against a `Registry`
(control/registry.py), passed in wherever a mapping meets one: when a file is
read (mapping_toml.py, with the line of each error), when MIDI learn binds a
control (learn.py), when MidiControl is given a mapping made in code
(`Mapping.check`). A `Mapping` built from bindings checks only that no control
is bound twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .registry import Registry

SOURCES = ("cc", "note")
CC_PARAM_MODES = ("absolute", "twos_complement", "binary_offset", "sign_magnitude")
NOTE_PARAM_MODES = ("momentary", "toggle")
RELATIVE_MODES = CC_PARAM_MODES[1:]
DEFAULT_STEP = 0.01  # relative encoders: fraction of the parameter's range per tick
# Triggers whose pad can be lit from the show's state (midi_feedback.py): a deck / cue pad while its deck
# holds the binding's slot, the record pad while recording. Other triggers have no state to show.
FEEDBACK_TRIGGERS = ("deck_a", "deck_b", "load", "record")


class MappingError(ValueError):
    """A mapping that cannot be used; the message starts with 'file:line:' where there is one."""


@dataclass(frozen=True)
class Binding:
    """One control: a CC or note (on one channel, or any) driving one parameter or trigger.

    cc → param: `mode` absolute (0-127 spans `range`) or a relative encoder mode (`step` of the
    range per tick). note → param: momentary (held = range high, released = range low) or toggle.
    cc or note → trigger: fires on note-on, or when the CC rises to 64 or above (a button press),
    with `value` as the trigger's argument.
    """

    source: str  # "cc" | "note"
    number: int  # 0-127
    channel: int | None = None  # 1-16; None = any (omni)
    param: str | None = None
    trigger: str | None = None
    mode: str = ""  # "" = the default for the kind (absolute / momentary); triggers: always ""
    step: float = DEFAULT_STEP
    range: tuple[float, float] | None = None  # param values at CC 0 / 127 (note: off / on); None = min/max
    value: object = None  # trigger argument
    feedback: bool = False  # echo the target's state to the controller's output (midi_feedback.py)
    line: int = field(default=0, compare=False)  # where it was declared in its file (0: not from a file)

    @property
    def target(self) -> str:
        return self.param if self.param is not None else self.trigger

    @property
    def key(self) -> tuple[str, int, int | None]:
        return self.source, self.number, self.channel

    @property
    def can_feed_back(self) -> bool:
        """Whether there is a state to show on this control: any parameter, or a FEEDBACK_TRIGGERS pad
        (a deck or cue pad with its slot)."""
        if self.param is not None:
            return True
        return self.trigger == "record" or self.trigger in FEEDBACK_TRIGGERS and self.value is not None


@dataclass(frozen=True)
class FeedbackSettings:
    """A mapping's [feedback] table: what goes back to the controller (midi_feedback.py)."""

    default: bool = False  # entries without their own `feedback` key (and learned ones) echo when they can
    port: str | None = None  # the controller's output (None: the output named like each input)
    beat_note: int | None = None  # a note lit on each beat (None: no beat light)
    beat_channel: int = 1  # 1-16


@dataclass(frozen=True)
class Mapping:
    """An immutable set of bindings, one per control (CC or note, and channel), with a lookup table.
    Read from a file with mapping_toml.load; check one made in code with `check(registry)`."""

    bindings: tuple[Binding, ...] = ()
    name: str = ""
    description: str = ""
    path: Path | None = field(default=None, compare=False)
    feedback: FeedbackSettings = FeedbackSettings()
    problems: tuple[str, ...] = field(default=(), compare=False)  # "FILE:LINE: …" per entry left out of a file
    _lookup: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        where = str(self.path) if self.path else "<mapping>"
        for b in self.bindings:
            old = self._lookup.get(b.key)
            if old is not None:
                raise MappingError(f"{where}:{b.line}: {describe(b)} is already mapped at line {old.line}")
            self._lookup[b.key] = b

    def find(self, source: str, channel: int, number: int) -> Binding | None:
        """The binding for a message (`channel` 1-16): a channel-specific one first, then omni. Any thread."""
        lookup = self._lookup
        return lookup.get((source, number, channel)) or lookup.get((source, number, None))

    def bind(self, binding: Binding) -> Mapping:
        """A copy with `binding` added, replacing whatever held the same CC/note and channel."""
        kept = tuple(b for b in self.bindings if b.key != binding.key)
        return replace(self, bindings=kept + (binding,))

    def check(self, registry: Registry) -> Mapping:
        """This mapping, if every binding names what `registry` declares, with usable options;
        else MappingError."""
        where = str(self.path) if self.path else "<mapping>"
        for b in self.bindings:
            check_binding(b, registry, where)
        return self


def describe(b: Binding) -> str:
    channel = "any channel" if b.channel is None else f"channel {b.channel}"
    return f"{'CC' if b.source == 'cc' else 'note'} {b.number} on {channel}"


def check_binding(b: Binding, registry: Registry, where: str,
                  at: Callable[[str], str] | None = None) -> None:
    """Raise MappingError unless `b` is usable with `registry`. The message starts with `at(key)` (the
    file and line of the offending key) when given, else `where` and the binding's line."""
    def fail(key: str, message: str):
        raise MappingError(f"{at(key) if at is not None else f'{where}:{b.line}' if b.line else where}: {message}")

    if b.param is not None:
        spec = registry.specs.get(b.param)
        if spec is None:
            fail("param", f"unknown param {b.param!r} (known: {', '.join(registry.specs)})")
        modes = CC_PARAM_MODES if b.source == "cc" else NOTE_PARAM_MODES
        if b.mode and b.mode not in modes:
            fail("mode", f"mode for a {b.source} → param must be one of {modes}, got {b.mode!r}")
        if b.mode in RELATIVE_MODES and not (math.isfinite(b.step) and 0 < b.step <= 1):
            fail("step", f"step is a fraction of the range per encoder tick, in (0, 1], got {b.step!r}")
        if b.mode not in RELATIVE_MODES and b.step != DEFAULT_STEP:
            fail("step", "step applies only to relative encoder modes " + ", ".join(RELATIVE_MODES))
        if b.range is not None:
            lo, hi = min(b.range), max(b.range)
            if not (math.isfinite(lo) and math.isfinite(hi) and spec.minimum <= lo and hi <= spec.maximum):
                fail("range", f"range {list(b.range)} must lie within {b.param}'s "
                              f"[{spec.minimum}, {spec.maximum}]")
        if b.value is not None:
            fail("value", "value is a trigger's argument; a param takes its value from the control")
    else:
        spec = registry.trigger_specs.get(b.trigger)
        if spec is None:
            fail("trigger", f"unknown trigger {b.trigger!r} (known: {', '.join(registry.trigger_specs)})")
        for key, bad in (("mode", b.mode), ("range", b.range), ("step", b.step != DEFAULT_STEP)):
            if bad:
                fail(key, f"{key} applies to params only; {b.trigger!r} is a trigger")
        if b.value is not None and not spec.argument:
            fail("value", f"trigger {b.trigger!r} takes no value")
        if b.value is not None and not isinstance(b.value, (int, float, str)):
            fail("value", f"trigger value must be a number or string, got {b.value!r}")
        if b.feedback and not b.can_feed_back:
            fail("feedback", f"trigger {b.trigger!r} has no state to light a control with (feedback works for "
                             f"parameters, {', '.join(FEEDBACK_TRIGGERS[:3])} with a slot `value`, and record)")
