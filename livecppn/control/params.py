"""The parameter bus (DESIGN §7): one control queue in, one frozen snapshot out per frame.

What may be set or fired is declared once in the registry (registry.py),
which the bus is given. Controllers (keys, MIDI, OSC) put events on one
control queue from any thread; the render thread drains it once per frame in
`ParamBus.step(dt)`, gets one frozen `Params` snapshot, with each value slewed
toward its target over its smoothing time (in seconds, so the feel does not
change with the frame rate), and takes the frame's triggers with
`take_triggers()`.
"""

from __future__ import annotations

import math
import queue
from dataclasses import dataclass, field
from types import MappingProxyType

from ..audio.smoothing import coefficient
from .registry import Registry, default_registry


@dataclass(frozen=True)
class Params:
    """One frame's parameter values (immutable; safe to hand to any stage)."""

    values: MappingProxyType
    specs: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # the registry's, for modes

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, float]:
        return dict(self.values)

    def mode(self, name: str) -> int:
        """A mode parameter's choice as its index (the registry decodes it: one place for every mode)."""
        return self.specs[name].mode(self.values[name])

    def choice(self, name: str) -> str:
        """A mode parameter's choice by name ("mix", "beats" …)."""
        return self.specs[name].choice(self.values[name])


class ParamBus:
    """Control queue + slewed values. `set()` is safe from any thread; `step()` is render-thread only."""

    def __init__(self, registry: Registry | None = None):
        self.registry = registry = registry or default_registry()
        self.specs = registry.specs  # read-only: the declarations do not change during a show
        self._accepted = {t.name for t in registry.controller_triggers}
        self._queue: queue.SimpleQueue[tuple[str, str, object]] = queue.SimpleQueue()
        self._triggers: list[tuple[str, object]] = []
        self._target = {s.name: s.default for s in registry.params}
        self._value = dict(self._target)
        self.rejected: list[str] = []  # messages for the HUD/log; the show goes on
        self.changed: set[str] = set()  # the parameters a controller set in the last step()

    def set(self, name: str, value: float) -> None:
        """Ask for a new value (clamped to its range; slewed). Any thread."""
        self._queue.put(("set", name, value))

    def trigger(self, name: str, value: object = None) -> None:
        """Fire a trigger on the next frame. Any thread."""
        self._queue.put(("trigger", name, value))

    def jump(self, name: str, value: float) -> None:
        """Set a value now, without slew (the render thread's own automation, e.g. a `go` fade)."""
        spec = self.specs[name]
        self._target[name] = self._value[name] = spec.clamp(float(value))

    def target(self, name: str) -> float:
        """The value `name` is slewing toward (what a controller last asked for). Render thread."""
        return self._target[name]

    def take_triggers(self) -> list[tuple[str, object]]:
        """The triggers drained by the last step(), in arrival order. Render thread, once per frame."""
        triggers, self._triggers = self._triggers, []
        return triggers

    def step(self, dt: float, overrides: dict[str, float] | None = None) -> Params:
        """Drain the queue, slew toward targets, return this frame's snapshot. Once per frame.

        `overrides`: values the show itself drives this frame (the `go` fade drives the crossfader),
        set without slew, unless a controller set that parameter in this step: a person wins."""
        self.changed.clear()
        while True:
            try:
                kind, name, value = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "trigger":
                if name in self._accepted:
                    self._triggers.append((name, value))
                else:
                    self.rejected.append(f"ignored unknown trigger {name!r}")
                continue
            spec = self.specs.get(name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            if spec is None or not math.isfinite(value):
                self.rejected.append(f"ignored control {name!r} = {value!r}")
                continue
            self._target[name] = spec.clamp(value)
            self.changed.add(name)
        for name, value in (overrides or {}).items():
            if name not in self.changed:
                self._target[name] = self._value[name] = self.specs[name].clamp(float(value))
        for name, spec in self.specs.items():
            target, current = self._target[name], self._value[name]
            if spec.smoothing <= 0 or dt <= 0:
                self._value[name] = target if spec.smoothing <= 0 else current
            else:
                a = coefficient(dt, spec.smoothing)
                self._value[name] = current + (target - current) * a
        return self.snapshot()

    def snapshot(self) -> Params:
        return Params(MappingProxyType(dict(self._value)), self.specs)
