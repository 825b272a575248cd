"""One frame's work, shared by `livecppn live` and `livecppn render` (DESIGN §1, §2).

`FrameStep.run` does everything between "a frame begins" and "the output
picture is in the compositor's framebuffer": the control step (the bus, the
`go` fade, triggers, deck loads, the autopilot), the audio snapshot, the post
effects, the CPPN on the visible decks, and the transition + effects pass. The
caller owns the clock: live passes the wall clock and the real frame time,
offline the frame clock (frame n at n / fps, dt = 1 / fps). Because both call
this, what a performer sees is what a render produces.

Each frame it also lists its control events (`events`): the parameters a
controller set (their new targets), the triggers fired (by a controller, a
key or the autopilot) and the deck loads that swapped in. The automation log
(offline/automation.py) writes them; a render replays them. Render thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autopilot import Autopilot
from ..control.params import ParamBus, Params
from .compositor import Compositor
from .decks import Decks
from .effects import Effects


@dataclass
class FrameOut:
    params: Params
    features: object  # AudioFeatures
    fx: object  # EffectFrame


class FrameStep:
    """Render thread. `run()` once per frame."""

    def __init__(self, decks: Decks, compositor: Compositor, effects: Effects, bus: ParamBus, triggers,
                 autopilot: Autopilot | None = None):
        self.decks, self.compositor, self.effects, self.bus = decks, compositor, effects, bus
        self.triggers, self.autopilot = triggers, autopilot
        self.t_net = 0.0  # the network's time input: the sum of dt × time_speed
        self.features = None  # the previous frame's, for triggers that need the tempo (go)
        self.params = bus.snapshot()
        self.events: list[dict] = []  # this frame's control events (see the module docstring)

    def control(self, now: float, dt: float, key_triggers=(), key_actions: bool = False) -> Params:
        """The control step: the `go` fade, the bus, triggers and deck loads. Call before listening."""
        bus, decks, autopilot = self.bus, self.decks, self.autopilot
        decks.step_fade(now, bus)
        params = bus.step(dt)
        decks.take_over(bus)
        manual = bus.take_triggers() + list(key_triggers)
        if autopilot is not None:
            if key_actions or Autopilot.is_manual(bus.changed, manual):
                autopilot.touched(now)  # a person is playing: hand control back at once
            elif "autopilot" in bus.changed and params.autopilot >= 0.5:
                autopilot.engage()  # switched on: take over now
        self.events = [{"kind": "set", "name": name, "value": bus.target(name)} for name in sorted(bus.changed)]
        self.events += [{"kind": "trigger", "name": name, "value": value} for name, value in manual]
        self.triggers.handle(manual, params, self.features, now)
        self._loads()
        self.params = params
        return params

    def _loads(self) -> None:
        for loaded in self.triggers.apply_loads():
            if loaded.style is not None:
                self.events.append({"kind": "load", "deck": loaded.deck,
                                    "style": str(loaded.style.path) if loaded.style.path else None,
                                    "name": loaded.style.name})

    def render(self, now: float, dt: float, features) -> FrameOut:
        """The audio snapshot's consequences: autopilot, effects, the CPPN and the compositor pass."""
        params, decks = self.params, self.decks
        self.features = features
        if self.autopilot is not None:
            on_air = decks.on_air(params.crossfader)
            styles = {k: d.generator.style.path for k, d in decks.decks.items()}
            proposals = self.autopilot.update(now, dt, features, params, styles[on_air],
                                              styles["b" if on_air == "a" else "a"])
            if proposals:  # the same trigger handling as a controller's
                self.events += [{"kind": "trigger", "name": n, "value": v, "by": "autopilot"} for n, v in proposals]
                self.triggers.handle(proposals, params, features, now)
        fx = self.effects.update(params, features, dt)
        self.t_net += dt * params.time_speed
        audio = features.vector() * np.float32(params.audio_gain)
        self.render_decks(audio, params, fx)
        return FrameOut(params, features, fx)

    def render_decks(self, audio: np.ndarray, params: Params, fx) -> None:
        """The CPPN on the visible decks, then the transition + effects pass into the compositor's FBO."""
        tex_a, tex_b = self.decks.render(self.t_net, audio, params)
        if tex_a is not None and tex_b is not None:
            self.compositor.draw(tex_a, tex_b, params, fx=fx)
        else:
            self.compositor.draw(tex_a or tex_b, None, params, fx=fx)

    def run(self, now: float, dt: float, listen: Callable[[], object], key_triggers=(),
            key_actions: bool = False) -> FrameOut:
        """control → listen (the frame's audio snapshot) → render."""
        self.control(now, dt, key_triggers, key_actions)
        return self.render(now, dt, listen())
