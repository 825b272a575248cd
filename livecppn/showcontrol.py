"""The show's controllers: starting OSC and MIDI, and acting on triggers between frames.

OSC and MIDI feed the parameter bus from their own threads; keys feed it from
the window. The render thread drains the bus once per frame and hands the
triggers to `Triggers.handle`, which acts on them in order (tap tempo, go,
clock, deck loads, MIDI learn). Nothing here blocks: deck loads are requested
from the style loader thread and swap in when ready.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from .control.params import ParamBus, Params
from .control.registry import default_registry
from .model.bank import take_all
from .render.decks import wait_for_quantize
from .showlog import ShowLog

log = logging.getLogger("livecppn")

# What the learn key (L) steps through: every parameter, then every trigger a control can fire.
LEARN_TARGETS = default_registry().learn_targets


def start_controls(opts, bus: ParamBus, showlog: ShowLog) -> dict:
    """OSC and MIDI, feeding the bus from their own threads. A controller that cannot
    start is reported and the show runs without it (DESIGN §8)."""
    controls = {}
    if opts.osc_port is not None:
        from .control.osc import OscControl

        try:
            osc = OscControl(bus, host=opts.osc_host, port=opts.osc_port, allow=opts.osc_allow, send=opts.osc_send)
            osc.start()
            controls["osc"] = osc
        except (OSError, ValueError) as e:
            showlog.error(f"OSC off: {e}")
    if opts.midi:
        from .control.mapping import Mapping, MappingError, resolve
        from .control.midi import MidiControl

        try:
            mapping = Mapping.load(resolve(opts.midi_map or "generic"))
        except MappingError as e:
            showlog.error(f"{e}; MIDI runs with no mapping (learn still works)")
            mapping = None
        try:
            controls["midi"] = MidiControl(bus, opts.midi, mapping).start()
        except Exception as e:  # noqa: BLE001 - no MIDI system at all must not stop the show
            showlog.error(f"MIDI off: {e}")
    return controls


class Triggers:
    """Acts on the bus's triggers, once per frame, on the render thread."""

    def __init__(self, analyzer, decks, loader, controls: dict, showlog: ShowLog):
        self.analyzer, self.decks, self.loader, self.controls, self.showlog = analyzer, decks, loader, controls, showlog
        self.saver = MappingSaver(showlog) if "midi" in controls else None

    def handle(self, triggers: list[tuple[str, object]], params: Params, features, now: float) -> None:
        analyzer = self.analyzer
        for name, value in triggers:
            if name == "tap":
                analyzer.tap()
            elif name == "tap_clear":
                analyzer.clear_tap()
            elif name == "go":
                tempo = (features.bpm, features.beat_phase, features.bar_phase) if features else (0.0, 0.0, 0.0)
                self.decks.go(now, params, wait_for_quantize(params.go_quantize, *tempo))
            elif name == "clock" and isinstance(value, tuple) and len(value) == 3:
                bpm, beat_wall, _beat = value  # beat_wall on time.monotonic(): move it onto the audio clock
                analyzer.set_external_clock(bpm, analyzer.audio_time - (time.monotonic() - beat_wall))
            elif name == "clock_stop":
                analyzer.clear_external_clock()
            elif name in ("learn", "learn_save", "learn_next", "learn_prev", "learn_cancel"):
                self._learn(name, value)
            elif name in ("deck_a", "deck_b", "load"):
                deck = name[-1] if name != "load" else ("b" if self.decks.on_air(params.crossfader) == "a" else "a")
                self.loader.request(deck, value)

    def stop(self) -> None:
        if self.saver is not None:
            self.saver.stop()

    def apply_loads(self) -> list:
        """Styles loaded off-thread swap in between frames; returns what was tried (`Loaded`s)."""
        loads = self.loader.poll()
        for loaded in loads:
            msg = self.decks.apply(loaded)
            if loaded.error:
                self.showlog.error(msg, f"deck load: {loaded.error_kind}")
            else:
                log.info(msg)
        return loads

    def _learn(self, name: str, value) -> None:
        midi = self.controls.get("midi")
        if midi is None:
            self.showlog.warn(f"MIDI {name}: no MIDI input (start with --midi PORT)", f"MIDI {name}: no MIDI")
            return
        from .control.mapping import mappings_dir

        try:
            if name in ("learn_next", "learn_prev"):  # the learn key steps through the targets
                armed = midi.learner.armed
                i = LEARN_TARGETS.index(armed) if armed in LEARN_TARGETS else -1
                value = LEARN_TARGETS[(i + (1 if name == "learn_next" else -1)) % len(LEARN_TARGETS)]
                name = "learn"
            if name == "learn_cancel":
                midi.learner.cancel()
                log.info("MIDI learn cancelled")
            elif name == "learn":
                midi.learn(str(value))
                log.info("MIDI learn: move a control to bind it to %s", value)
            else:
                # a name only (an OSC value must not escape the folder); anything else saves "learned"
                name_only = Path(value).name.removesuffix(".toml") if isinstance(value, str) else ""
                self.saver.request(midi.learner, mappings_dir() / f"{name_only or 'learned'}.toml")
        except (ValueError, OSError) as e:
            self.showlog.error(f"MIDI {name} {value!r}: {e}", f"MIDI {name} failed")


class MappingSaver:
    """Writes learned MIDI mappings on its own thread: a disk write never holds up a frame, and a
    flood of save requests writes at most once a second (the newest request wins)."""

    MIN_INTERVAL = 1.0

    def __init__(self, showlog: ShowLog):
        self.showlog = showlog
        self.saved = 0
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livecppn-mapping-saver", daemon=True)
        self._thread.start()

    def request(self, learner, path: Path) -> None:
        self._requests.put((learner, path))

    def stop(self) -> None:
        """Write what is still asked for, then end."""
        self._stopping.set()
        self._requests.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            items = take_all(self._requests)
            wanted = [item for item in items if item is not None]
            if wanted:
                learner, path = wanted[-1]
                try:
                    learner.save(path)
                    self.saved += 1
                    log.info("MIDI mapping saved to %s", path)
                except (ValueError, OSError) as e:
                    self.showlog.error(f"MIDI learn_save {path}: {e}", "MIDI learn_save failed")
            if None in items:
                return
            self._stopping.wait(self.MIN_INTERVAL)


def control_lines(controls: dict) -> list[str]:
    """One HUD line on the controllers: OSC port and traffic, MIDI ports, clock and learn."""
    parts = []
    if "osc" in controls:
        osc = controls["osc"]
        parts.append(f"osc :{osc.port} {osc.stats.get('dispatched', 0)} msgs")
    if "midi" in controls:
        midi = controls["midi"]
        ports = ", ".join(f"{name} {st.state}" for name, st in midi.status.items())
        clock = midi.clock.state
        parts.append(f"midi {ports}" + (f" clock {clock.bpm:.1f}" if clock.running else ""))
        if midi.learner.armed:
            parts.append(f"LEARN {midi.learner.armed} (L next, Shift+L back, Backspace cancel, S save)")
    return ["  ".join(parts)] if parts else []


def controls_report(controls: dict) -> dict:
    """For the report: each controller's message counts; MIDI also its ports (reconnects) and clock."""
    out = {name: dict(control.stats) for name, control in controls.items()}
    if "midi" in controls:
        midi = controls["midi"]
        clock = midi.clock.state
        out["midi_ports"] = {name: {"state": st.state, "port": st.port, "connects": st.connects}
                             for name, st in midi.status.items()}
        out["midi_clock"] = {"running": clock.running, "bpm": round(clock.bpm, 3) if clock.bpm else None,
                             "source": clock.source}
        out["midi_learned"] = [{"source": b.source, "number": b.number, "channel": b.channel,
                                "target": b.param or b.trigger}
                               for b in midi.learner.mapping.bindings if b.line == 0]  # line 0: learned here
    return out


def log_rejected(rejected: list[str], showlog: ShowLog) -> None:
    """Bad control input is logged once per kind (no log flood) and never stops the show."""
    for msg in rejected:
        showlog.warn(msg, msg.split(" = ")[0])
    rejected.clear()
