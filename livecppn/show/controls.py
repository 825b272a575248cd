"""The show's controllers: starting OSC, MIDI and Ableton Link, and saving learned MIDI mappings.

OSC, MIDI and Link feed the parameter bus from their own threads; keys feed it from
the window. They read back only what the render thread publishes once per
frame (`publish`), never live objects (DESIGN §1). A controller that cannot
start is reported and the show runs without it (DESIGN §8).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from ..control.params import ParamBus
from ..model.bank import take_all
from ..showlog import ShowLog

log = logging.getLogger("livecppn")


def start_controls(opts, bus: ParamBus, showlog: ShowLog) -> dict:
    """OSC, MIDI and Link, feeding the bus from their own threads."""
    controls = {}
    if opts.osc_port is not None:
        from ..control.osc import OscControl

        try:
            osc = OscControl(bus, host=opts.osc_host, port=opts.osc_port, allow=opts.osc_allow, send=opts.osc_send)
            osc.start()
            controls["osc"] = osc
        except (OSError, ValueError) as e:  # the port itself: taken, or an address this machine lacks
            showlog.error(f"OSC off: {e}")
        else:
            for problem in osc.problems:  # a bad --osc-send or --osc-allow entry: dropped, OSC input stays on
                showlog.error(problem)
    mapping = open_mapping(opts, bus.registry, showlog) if opts.midi or opts.midi_map else None
    if opts.midi:
        from ..control.midi import MidiControl

        try:
            controls["midi"] = MidiControl(bus, opts.midi, mapping, outputs=opts.midi_out).start()
        except Exception as e:  # noqa: BLE001 - no MIDI system at all must not stop the show
            showlog.error(f"MIDI off: {e}")
    if opts.link:
        from ..control.link import LinkControl, LinkUnavailable

        try:
            controls["link"] = LinkControl(bus).start()
        except LinkUnavailable as e:
            showlog.error(f"Link off: {e}")
    return controls


def open_mapping(opts, registry, showlog: ShowLog):
    """The MIDI mapping (--midi-map, default generic), checked even without --midi so a typo is said at
    start, not found mid-set. Each bad entry is said once and left out, the rest works; a file that
    cannot be used at all is said and MIDI runs with no mapping (learn still works)."""
    from ..control import mapping_toml
    from ..control.mapping import MappingError

    try:
        mapping = mapping_toml.load(mapping_toml.resolve(opts.midi_map or "generic"), registry)
    except MappingError as e:
        showlog.error(f"{e}; MIDI runs with no mapping (learn still works)" if opts.midi else str(e))
        return None
    for problem in mapping.problems:
        showlog.error(f"{problem} (left out; the rest of the mapping works)")
    if not opts.midi:
        showlog.warn(f"--midi-map {opts.midi_map}: checked, but not used without --midi PORT")
    return mapping


def publish(controls: dict, status) -> None:
    """Hand this frame's frozen values to the controller threads (feedback, relative encoders)."""
    if "osc" in controls:
        controls["osc"].publish(status.params, status.features)  # feedback and --osc-send; never blocks
    if "midi" in controls:
        controls["midi"].publish(status.params, status)  # feedback: values, decks, recording, the beat
    if "link" in controls:
        controls["link"].publish(status.params)  # the bar in use is Link's quantum


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
        """Save `mapping` (immutable: the MIDI thread replaces it whole on each binding) to `path`."""
        self._requests.put((mapping, path))

    def stop(self) -> None:
        """Write what is still asked for, then end."""
        self._stopping.set()
        self._requests.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from ..control.mapping_toml import save

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
