"""Acting on triggers, once per frame, on the render thread (DESIGN §7).

Every trigger the registry declares has one handler here, in one table: the
controllers' (OSC, MIDI), the keys' and the autopilot's triggers all go
through `Triggers.handle`, in the order they arrived. Nothing here blocks:
deck loads are requested from the style loader thread and swap in when ready,
a mapping is saved on its own thread, the recorder only notes what is wanted.
The window's own keys (fullscreen, HUD, quit) are handlers the show passes in.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..control.params import Params
from ..control.registry import Registry
from ..showlog import ShowLog
from .decks import Crossfade, on_air, quantize_wait

log = logging.getLogger("livecppn")

Handler = Callable[[object, Params, object, float], None]  # (value, params, features, now)


class Triggers:
    """Render thread. `handle()` once per frame with the frame's triggers."""

    def __init__(self, registry: Registry, analyzer, crossfade: Crossfade, loader, showlog: ShowLog,
                 controls: dict | None = None, saver=None, extra: dict[str, Handler] | None = None):
        self.registry, self.analyzer, self.crossfade, self.loader = registry, analyzer, crossfade, loader
        self.showlog, self.controls, self.saver = showlog, controls if controls is not None else {}, saver
        learn = {name: self._learn_handler(name)
                 for name in ("learn", "learn_next", "learn_prev", "learn_cancel", "learn_save")}
        self.table: dict[str, Handler] = {
            "tap": self._tap,
            "tap_clear": lambda v, p, f, now: analyzer.clear_tap(),
            "go": self._go,
            "deck_a": lambda v, p, f, now: loader.request("a", v),
            "deck_b": lambda v, p, f, now: loader.request("b", v),
            "load": lambda v, p, f, now: loader.request("b" if on_air(p.crossfader) == "a" else "a", v),
            "clock": self._clock,
            "clock_stop": lambda v, p, f, now: analyzer.clear_external_clock(),
            "bpm": self._bpm,
            "link": self._link,
            "link_beat": self._link_beat,
            "link_gone": lambda v, p, f, now: analyzer.clear_link(),
            **learn,
            **(extra or {}),  # the show's: record, and the window's keys
        }

    def unhandled(self) -> set[str]:
        """Triggers the registry declares that have no handler here (a test keeps this empty)."""
        return set(self.registry.trigger_specs) - set(self.table)

    def handle(self, triggers: list[tuple[str, object]], params: Params, features, now: float) -> None:
        for name, value in triggers:
            handler = self.table.get(name)
            if handler is not None:  # a trigger the show has no part for (no window: no fullscreen)
                handler(value, params, features, now)

    def _go(self, value, params: Params, features, now: float) -> None:
        self.crossfade.go(now, params, quantize_wait(params.mode("go_quantize"), features))

    def _clock(self, value, params, features, now: float) -> None:
        if isinstance(value, tuple) and len(value) == 3:
            bpm, beat_wall, _beat = value  # beat_wall on time.monotonic(): onto the audio clock, as Link's
            self.analyzer.set_external_clock(bpm, self.analyzer.audio_time_at(beat_wall))

    # Ableton Link (control/link.py): its thread sends the session as `link_beat`; tap and `bpm` set the
    # session's tempo through it, a request it carries out on its own thread.

    def _tap(self, value, params, features, now: float) -> None:
        bpm = self.analyzer.tap()
        if bpm is not None and "link" in self.controls:
            self.controls["link"].set_tempo(bpm)

    def _bpm(self, value, params, features, now: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 20 <= value <= 999:
            self.showlog.warn(f"bpm {value!r}: expected a tempo from 20 to 999 BPM", "bpm: bad tempo")
            return
        self.analyzer.set_tempo(float(value))
        if "link" in self.controls:
            self.controls["link"].set_tempo(float(value))

    def _link(self, value, params, features, now: float) -> None:
        if "link" not in self.controls:
            self.showlog.warn("Link: not started (start with --link)", "Link: not started")
            return
        self.controls["link"].enable(None if value is None else bool(value))

    def _link_beat(self, value, params, features, now: float) -> None:
        if isinstance(value, tuple) and len(value) == 5:
            bpm, beat_wall, beat, quantum, _peers = value  # beat_wall on time.monotonic()
            analyzer = self.analyzer
            analyzer.set_link(bpm, analyzer.audio_time_at(beat_wall), beat, quantum)

    def _learn_handler(self, name: str) -> Handler:
        return lambda value, params, features, now: self._learn(name, value)

    def _learn(self, name: str, value) -> None:
        midi = self.controls.get("midi")
        if midi is None:
            self.showlog.warn(f"MIDI {name}: no MIDI input (start with --midi PORT)", f"MIDI {name}: no MIDI")
            return
        if name != "learn_save":
            midi.command(name, value)  # learn state lives on the MIDI thread (DESIGN §1)
            return
        from ..paths import user_mappings_dir

        # a name only (an OSC value must not escape the folder); anything else saves "learned".
        # Always into the user's folder: never into the installed package (DESIGN §3)
        name_only = Path(value).name.removesuffix(".toml") if isinstance(value, str) else ""
        self.saver.request(midi.status.mapping, user_mappings_dir() / f"{name_only or 'learned'}.toml")
