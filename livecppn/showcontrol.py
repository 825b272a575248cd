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
from .model.bank import take_all
from .render.decks import wait_for_quantize
from .showlog import ShowLog

log = logging.getLogger("livecppn")


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
        from .control import mapping_toml
        from .control.mapping import MappingError
        from .control.midi import MidiControl

        try:
            mapping = mapping_toml.load(mapping_toml.resolve(opts.midi_map or "generic"), bus.registry)
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
        if "midi" in self.controls:  # learn commands that failed on the MIDI thread
            for msg in self.controls["midi"].take_errors():
                self.showlog.error(msg, "MIDI learn failed")
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
        if name != "learn_save":
            midi.command(name, value)  # applied on the MIDI thread; errors come back through take_errors
            return
        from .control.mapping_toml import mappings_dir

        # a name only (an OSC value must not escape the folder); anything else saves "learned"
        name_only = Path(value).name.removesuffix(".toml") if isinstance(value, str) else ""
        self.saver.request(midi.status.mapping, mappings_dir() / f"{name_only or 'learned'}.toml")


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

    def request(self, mapping, path: Path) -> None:
        """Save `mapping` (a frozen control.mapping.Mapping) to `path`. Any thread."""
        self._requests.put((mapping, path))

    def stop(self) -> None:
        """Write what is still asked for, then end."""
        self._stopping.set()
        self._requests.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from .control.mapping_toml import save

        while True:
            items = take_all(self._requests)
            wanted = [item for item in items if item is not None]
            if wanted:
                mapping, path = wanted[-1]
                try:
                    save(mapping, path)
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
        midi = controls["midi"].status
        ports = ", ".join(f"{name} {st.state}" for name, st in midi.ports.items())
        clock = midi.clock
        parts.append(f"midi {ports}" + (f" clock {clock.bpm:.1f}" if clock.running else ""))
        if midi.armed:
            parts.append(f"LEARN {midi.armed} (L next, Shift+L back, Backspace cancel, S save)")
    return ["  ".join(parts)] if parts else []


def controls_report(controls: dict) -> dict:
    """For the report: each controller's message counts; MIDI also its ports (reconnects) and clock."""
    out = {name: dict(control.stats) for name, control in controls.items()}
    if "midi" in controls:
        midi = controls["midi"].status
        clock = midi.clock
        out["midi_ports"] = {name: {"state": st.state, "port": st.port, "connects": st.connects}
                             for name, st in midi.ports.items()}
        out["midi_clock"] = {"running": clock.running, "bpm": round(clock.bpm, 3) if clock.bpm else None,
                             "source": clock.source}
        out["midi_learned"] = [{"source": b.source, "number": b.number, "channel": b.channel,
                                "target": b.param or b.trigger}
                               for b in midi.learned]
    return out


def log_rejected(rejected: list[str], showlog: ShowLog) -> None:
    """Bad control input is logged once per kind (no log flood) and never stops the show."""
    for msg in rejected:
        showlog.warn(msg, msg.split(" = ")[0])
    rejected.clear()
