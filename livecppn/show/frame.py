"""One frame's work, shared by `livecppn live` and `livecppn render` (DESIGN §1, §2).

`control()` is the control step: the bus (with the `go` fade's crossfader as
an override), who is playing, the autopilot's proposals, every trigger in one
dispatch, and the deck loads that arrived. `render()` is what the frame's
audio snapshot drives: the post effects, the CPPN on the visible decks, and
the transition + effects pass into the compositor's framebuffer. The caller
owns the clock: live passes the wall clock and the real frame time, offline
the frame clock (frame n at n / fps, dt = 1 / fps). Because both call this,
what a performer sees is what a render produces.

Each frame also lists its control events (`events`): the parameters a
controller set (their new targets), the triggers fired (by a controller, a
key or the autopilot) and the deck loads that swapped in. The automation log
(media/automation.py) writes them; a render replays them. Render thread only.
"""

from __future__ import annotations

import numpy as np

from ..control.params import ParamBus, Params
from ..render.compositor import Compositor
from ..render.decks import Decks
from ..render.effects import Effects
from .autopilot import Autopilot
from .decks import Crossfade, apply_loads, on_air
from .triggers import Triggers


def tempo_setup(analyzer, params: Params) -> None:
    """The tempo setup parameters onto the analyser, every frame before it runs (live and offline, so a
    render replays them): `beat_lookahead` (ms) reads the beat clock that far ahead, `meter` overrides the
    bar length heard in the audio (auto: the tracker's)."""
    analyzer.beat_lookahead = params.beat_lookahead / 1000.0
    meter = params.choice("meter")
    analyzer.beats_per_bar = None if meter == "auto" else int(meter)


class FrameStep:
    """Render thread: `control()` then `render()`, once per frame."""

    def __init__(self, decks: Decks, compositor: Compositor, effects: Effects, bus: ParamBus, triggers: Triggers,
                 crossfade: Crossfade, autopilot: Autopilot | None = None):
        self.decks, self.compositor, self.effects, self.bus = decks, compositor, effects, bus
        self.triggers, self.crossfade, self.autopilot = triggers, crossfade, autopilot
        self.t_net = 0.0  # the network's time input: the sum of dt × time_speed
        self.features = None  # the previous frame's: the autopilot and `go` read the tempo from it
        self.params = bus.snapshot()
        self.events: list[dict] = []  # this frame's control events (see the module docstring)

    def control(self, now: float, dt: float, key_triggers=(), key_actions: bool = False) -> Params:
        """The control step. `key_triggers`: triggers from keys that bypass the bus (learn keys);
        `key_actions`: any key at all was pressed (a person is playing)."""
        bus, autopilot = self.bus, self.autopilot
        params = self.crossfade.step(bus, now, dt)
        manual = bus.take_triggers() + list(key_triggers)
        self.events = [{"kind": "set", "name": name, "value": bus.target(name)} for name in sorted(bus.changed)]
        self.events += [{"kind": "trigger", "name": name, "value": value} for name, value in manual]
        fired = list(manual)
        if autopilot is not None:
            if key_actions or bus.registry.is_manual(bus.changed, manual):
                autopilot.touched(now)  # a person is playing: hand control back at once
            elif "autopilot" in bus.changed and params.autopilot >= 0.5:
                autopilot.engage()  # switched on: take over now
            if self.features is not None:
                proposals = self._autopilot(now, dt, params)
                self.events += [{"kind": "trigger", "name": n, "value": v, "by": "autopilot"} for n, v in proposals]
                fired += proposals
        self.triggers.handle(fired, params, self.features, now)
        self._loads()
        self.params = params
        return params

    def _autopilot(self, now: float, dt: float, params: Params) -> list[tuple[str, object]]:
        """The autopilot's proposals (ordinary triggers), from the newest audio snapshot."""
        x = on_air(params.crossfader)
        styles = {k: d.generator.style.path for k, d in self.decks.decks.items()}
        return self.autopilot.update(now, dt, self.features, params, styles[x], styles["b" if x == "a" else "a"])

    def _loads(self) -> None:
        loads = self.triggers.loader.poll()
        apply_loads(self.decks, loads, self.triggers.showlog)
        for loaded in loads:
            if loaded.style is not None:
                self.events.append({"kind": "load", "deck": loaded.deck,
                                    "style": str(loaded.style.path) if loaded.style.path else None,
                                    "name": loaded.style.name})

    def render(self, dt: float, features, draw: bool = True):
        """The audio snapshot's consequences: effects, the CPPN and the compositor pass. Returns the
        frame's effect values. draw=False (a render segment's run-up to its first frame): the same state
        afterwards, the picture skipped unless the trail carries it into the next frame."""
        params = self.params
        self.features = features
        fx = self.effects.update(params, features, dt)
        self.t_net += dt * params.time_speed
        if not draw and "TRAILS" not in fx.stages():
            return fx
        audio = features.vector() * np.float32(params.audio_gain)
        tex_a, tex_b = self.decks.render(self.t_net, audio, params)
        if tex_a is not None and tex_b is not None:
            self.compositor.draw(tex_a, tex_b, params, fx=fx)
        else:
            self.compositor.draw(tex_a or tex_b, None, params, fx=fx)
        return fx
