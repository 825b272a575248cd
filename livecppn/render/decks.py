"""Decks A and B, the crossfade between them, and the `go` transition (DESIGN §7).

Each deck is a backend (a generator and its texture sink) holding one style.
Only the decks that are visible are rendered: at crossfader 0 or 1 the other
deck costs nothing. A `go` fades the crossfader to the other side over the
transition time, starting at once, on the next beat or on the next bar.
When the glsl backend cannot compile a loaded style's shader, both decks move
to the backends the `fallback` hook builds (its owner decides which and says
so; DESIGN §8). Render thread only.
"""

from __future__ import annotations

import logging
from typing import Callable

from ..control.params import ParamBus, Params
from ..model.bank import Loaded
from ..model.style import Style
from .backends import Backend
from .gl import ShaderError

log = logging.getLogger("livecppn.render")


class GoFade:
    """A timed crossfader move: from `start` to `target` over `duration` seconds from `begin` (wall clock)."""

    def __init__(self, begin: float, duration: float, start: float, target: float):
        self.begin, self.duration, self.start, self.target = begin, duration, start, target

    def value(self, now: float) -> float | None:
        """The crossfader now, or None before the fade begins."""
        if now < self.begin:
            return None
        if self.duration <= 0:
            return self.target
        x = min(1.0, (now - self.begin) / self.duration)
        x = x * x * (3 - 2 * x)  # eased: no jolt at either end
        return self.start + (self.target - self.start) * x

    def done(self, now: float) -> bool:
        return now >= self.begin + self.duration


def wait_for_quantize(mode: float, bpm: float, beat_phase: float, bar_phase: float) -> float:
    """Seconds until the next beat (mode 1) or bar (mode 2); 0 for mode 0 or an unknown tempo."""
    mode = int(round(mode))
    if mode == 0 or bpm <= 0:
        return 0.0
    beat = 60.0 / bpm
    if mode == 1:
        return (1.0 - beat_phase) % 1.0 * beat
    return (1.0 - bar_phase) % 1.0 * 4 * beat


# Given the error and the style each deck should now hold, backends for both decks (or raise).
Fallback = Callable[[ShaderError, dict[str, Style]], dict[str, Backend]]


class Decks:
    def __init__(self, a: Backend, b: Backend, fallback: Fallback | None = None):
        self.decks = {"a": a, "b": b}
        self.fade: GoFade | None = None
        self.fallback = fallback

    def on_air(self, crossfader: float) -> str:
        """The deck mostly showing; a `load` goes to the other one."""
        return "a" if crossfader < 0.5 else "b"

    def go(self, now: float, params: Params, wait: float) -> None:
        target = 0.0 if params.crossfader >= 0.5 else 1.0
        self.fade = GoFade(now + wait, params.transition_time, params.crossfader, target)

    def step_fade(self, now: float, bus: ParamBus) -> None:
        """Drive the crossfader while a `go` runs (overrides its slew); call before bus.step().
        A controller that moves the crossfader takes over: see `take_over`."""
        if self.fade is None:
            return
        value = self.fade.value(now)
        if value is not None:
            bus.jump("crossfader", value)
        if self.fade.done(now):
            self.fade = None

    def take_over(self, bus: ParamBus) -> None:
        """After bus.step(): a crossfader move from a controller ends a running `go` at once."""
        if self.fade is not None and "crossfader" in bus.changed:
            self.fade = None

    def apply(self, loaded: Loaded) -> str:
        """Swap a style loaded off-thread into its deck (between frames); returns a log line."""
        if loaded.error:
            return f"deck {loaded.deck.upper()}: {loaded.error}; keeping its current style"
        try:
            self.decks[loaded.deck].generator.set_style(loaded.style, loaded.model)
        except ShaderError as e:  # the glsl backend: this style's program does not compile here
            if self.fallback is None:
                raise
            styles = {k: d.generator.style for k, d in self.decks.items()} | {loaded.deck: loaded.style}
            self.replace(self.fallback(e, styles))
        return f"deck {loaded.deck.upper()}: {loaded.style.name}"

    def replace(self, backends: dict[str, Backend]) -> None:
        """Both decks onto new backends (the old ones are released); the crossfade goes on."""
        old, self.decks = self.decks, dict(backends)
        for deck in old.values():
            deck.sink.release()

    @property
    def backend(self) -> Backend:
        """Deck A's backend: both decks always run on the same one."""
        return self.decks["a"]

    def resize(self, width: int, height: int) -> None:
        for deck in self.decks.values():
            deck.generator.resize(width, height)
            deck.sink.resize(width, height)

    def render(self, t: float, audio, params: Params):
        """Render the visible decks; returns (texture A or None, texture B or None)."""
        x = params.crossfader
        out = []
        for name, visible in (("a", x < 1.0 - 1e-4), ("b", x > 1e-4)):
            deck = self.decks[name]
            if visible:
                deck.sink.upload(deck.generator.render(t, audio, zoom=params.zoom, rotation=params.rotation))
                out.append(deck.sink.texture)
            else:
                out.append(None)
        return tuple(out)

    def styles(self) -> dict[str, str]:
        return {k: d.generator.style.name for k, d in self.decks.items()}


