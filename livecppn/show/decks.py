"""The show's side of decks A and B: the `go` fade and deck loads (DESIGN §7).

A `go` fades the crossfader to the other side over the transition time,
starting at once, on the next beat or on the next bar (`go_quantize`; at
once when the tempo is unknown or not trusted, control/beat_trust.py). The
fade is a crossfader *override* computed in the control step and handed to
`ParamBus.step`, so its order relative to the controllers is fixed by that one
call: a controller that moves the crossfader in the same frame wins and ends
the fade. Loads arrive from the style loader thread and swap in between
frames. Rendering the decks is GL work (render/decks.py). Render thread only.
"""

from __future__ import annotations

import logging

from ..control.beat_trust import grid_trusted
from ..control.params import ParamBus, Params
from ..model.bank import Loaded
from ..render.decks import Decks

log = logging.getLogger("livecppn")


class GoFade:
    """A timed crossfader move: from `start` to `target` over `duration` seconds from `begin` (show clock)."""

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


def wait_for_quantize(mode: int, bpm: float, beat_phase: float, bar_phase: float, beats_per_bar: int = 4,
                      trusted: bool = True) -> float:
    """Seconds until the next beat (mode 1) or bar (mode 2, of `beats_per_bar` beats); 0 for mode 0, an
    unknown tempo, or a grid not `trusted` (control/beat_trust.py: `grid_trusted`): then a go starts at once."""
    if mode == 0 or bpm <= 0 or not trusted:
        return 0.0
    beat = 60.0 / bpm
    if mode == 1:
        return (1.0 - beat_phase) % 1.0 * beat
    return (1.0 - bar_phase) % 1.0 * beats_per_bar * beat


def quantize_wait(mode: int, features) -> float:
    """`wait_for_quantize` for a frame's features (None: at once)."""
    if features is None:
        return 0.0
    return wait_for_quantize(mode, features.bpm, features.beat_phase, features.bar_phase, features.beats_per_bar,
                             grid_trusted(features))


def on_air(crossfader: float) -> str:
    """The deck mostly showing; a `load` goes to the other one."""
    return "a" if crossfader < 0.5 else "b"


class Crossfade:
    """The `go`: while it runs, the control step's crossfader comes from here."""

    def __init__(self):
        self.fade: GoFade | None = None

    def go(self, now: float, params: Params, wait: float) -> None:
        target = 0.0 if params.crossfader >= 0.5 else 1.0
        self.fade = GoFade(now + wait, params.transition_time, params.crossfader, target)

    def step(self, bus: ParamBus, now: float, dt: float) -> Params:
        """The bus's step for this frame, with the fade's crossfader as an override. A controller that
        moves the crossfader in this step wins and ends the fade."""
        fade = self.fade
        value = fade.value(now) if fade is not None else None
        params = bus.step(dt, {"crossfader": value} if value is not None else None)
        if fade is not None and ("crossfader" in bus.changed or fade.done(now)):
            self.fade = None
        return params


def apply_loads(decks: Decks, loads: list[Loaded], showlog) -> None:
    """Styles loaded off-thread swap into their decks (between frames); failures are said, the deck
    keeps its style (DESIGN §8)."""
    for loaded in loads:
        if loaded.error:
            showlog.error(f"deck {loaded.deck.upper()}: {loaded.error}; keeping its current style",
                          f"deck load: {loaded.error_kind}")
        else:
            decks.set_style(loaded.deck, loaded.style, loaded.model)
            log.info("deck %s: %s", loaded.deck.upper(), loaded.style.name)
