"""MIDI in and feedback out (DESIGN §1, §7, §8): controllers, MIDI learn and MIDI clock onto the
parameter bus; what anything else changed back to the controllers' LEDs and motor faders.

`MidiControl` owns one thread, the MIDI thread. Each millisecond it applies
the learn commands other threads sent (`command`), reads every input
(midi_ports.py), decodes the bytes (midi_decode.py), looks each control up in
the mapping (or binds it, when learn is armed) and collects the bus events;
four times a second it times out the MIDI clock (midiclock.py) and maintains
the ports; every FEEDBACK_TICK it sends the controllers what changed
(midi_feedback.py decides, midi_out.py holds the outputs). No blocking, one
log line per kind of bad input at most.

Between threads (DESIGN §1), nothing live is shared:
- in: bus events go on the bus's control queue; learn commands on a queue of
  their own; the render thread's frozen `Params` and `ShowStatus` arrive by
  `publish(params, status)`, once per frame (a relative encoder starts from
  them after a pause; feedback shows them).
- out: one frozen `MidiStatus` (ports, clock, learn, mapping, counts), replaced
  by reference whenever it changes, read through `status`; and the learn
  errors, drained by the render thread with `take_errors()` for the show log.
The status is published before the bus events of the same read go out, so
whatever the bus shows, the status has already counted.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType

from .learn import COMMANDS, MidiLearn
from .mapping import RELATIVE_MODES, Binding, Mapping
from .midi_decode import MidiEvent, decode, relative_ticks
from .midi_feedback import Feedback
from .midi_out import Outputs
from .midi_ports import Ports, list_ports, rtmidi_api
from .midiclock import ClockState, MidiClock
from .params import ParamBus, Params

log = logging.getLogger("livecppn.midi")

__all__ = ["KINDS", "MidiControl", "MidiStatus", "list_ports"]  # list_ports: the CLI's device listing

POLL_INTERVAL = 1.0  # seconds between looks for lost / returned inputs
READ_INTERVAL = 0.001  # seconds between reads of the inputs (~1% of a core when idle)
MAINTAIN_INTERVAL = 0.25  # clock timeout and sysex flush
COUNTS_INTERVAL = 0.05  # seconds between publications of the status for its counts alone
ENCODER_PAUSE = 1.0  # seconds without moving after which an encoder (or toggle) starts again from the frame's value
FEEDBACK_TICK = 0.005  # seconds between looks at what to send back (the limits are midi_feedback.py's)
# What `stats` counts. Every counter exists from the start: the thread only ever increments.
KINDS = ("cc", "note_on", "note_off", "clock", "start", "stop", "continue", "song_position",  # used
         "unmapped",  # a CC or note with no binding (also counted as cc / note_*)
         "learned",  # a CC or note taken by MIDI learn
         "sysex", "other",  # valid, not used here (program change, pitch bend, aftertouch, MTC, ...)
         "invalid",  # malformed: no status byte, wrong length, data byte above 127, unended sysex
         "error")  # an exception in livecppn's handler (a bug; the input goes on)


@dataclass(frozen=True)
class MidiStatus:
    """What the MIDI thread shows the others; a new one whenever something in it changes."""

    ports: MappingProxyType  # requested name -> PortStatus
    clock: ClockState
    armed: str | None  # the learn target waiting for a control
    mapping: Mapping  # the bindings in use, learned ones included (what learn_save writes)
    learned: tuple[Binding, ...]  # the bindings made by learn, oldest first
    stats: MappingProxyType  # messages by kind (see KINDS), over all inputs since construction
    # the feedback outputs: requested name -> PortStatus
    outputs: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


class _Outbox:
    """Bus events collected during one pass of the MIDI thread, put on the bus after the status."""

    def __init__(self):
        self.events: list[tuple[str, str, object]] = []

    def set(self, name: str, value: float) -> None:
        self.events.append(("set", name, value))

    def trigger(self, name: str, value: object = None) -> None:
        self.events.append(("trigger", name, value))

    def send(self, bus: ParamBus) -> None:
        events, self.events = self.events, []
        for kind, name, value in events:
            (bus.set if kind == "set" else bus.trigger)(name, value)


class MidiControl:
    """MIDI inputs → ParamBus. `start()` opens what it finds and starts the MIDI thread; `stop()`
    closes everything (idempotent). The registry is the bus's. Thread contracts on each method."""

    def __init__(self, bus: ParamBus, ports: list[str], mapping: Mapping | None = None,
                 backend: str | None = None, poll_interval: float = POLL_INTERVAL, outputs: list[str] | None = None):
        """`outputs`: where feedback goes (--midi-out); default: the mapping's `[feedback] port`, else the
        output named like each input. None are opened when nothing in the mapping wants feedback."""
        self.bus = bus
        self.poll_interval = poll_interval
        registry = self._registry = bus.registry
        self._learner = MidiLearn(registry, mapping)  # MappingError: a mapping that names what is not there
        self._outbox = _Outbox()
        self._clock = MidiClock(self._outbox)
        self._ports = Ports(ports, rtmidi_api(backend), self._on_message)
        checked = self._learner.mapping
        self._feedback = Feedback(checked, registry.specs)
        wants = outputs or ([checked.feedback.port] if checked.feedback.port else list(ports))
        self._outputs = Outputs(wants if outputs or self._feedback.active or checked.feedback.default else [],
                                rtmidi_api(backend))
        self._shown = None  # the newest ShowStatus (for feedback: decks, recording, the beat)
        self._counts = dict.fromkeys(KINDS, 0)
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._errors: queue.SimpleQueue = queue.SimpleQueue()
        self._params = Params(MappingProxyType({s.name: s.default for s in registry.params}), registry.specs)
        self._logged: set[str] = set()
        self._changed = False  # something in the status besides the counts changed since it was last published
        self._counted = False  # the counts changed since then
        self._status_at = 0.0  # when it was last published (monotonic)
        self._cc_high: dict[tuple[int, int], bool] = {}  # (channel, cc) → last value was >= 64 (button edges)
        self._toggled: dict[tuple, tuple[bool, float]] = {}  # note toggles: binding key → (on, time)
        self._relative: dict[str, tuple[float, float]] = {}  # param → (value, time) of the encoder's gesture
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = self._make_status()

    # --- any thread ----------------------------------------------------------------------------

    @property
    def status(self) -> MidiStatus:
        """The newest status the MIDI thread published (frozen). Any thread."""
        return self._status

    @property
    def stats(self) -> MappingProxyType:
        """Messages by kind (`status.stats`). Any thread."""
        return self._status.stats

    def command(self, name: str, value: object = None, **options) -> None:
        """Ask the MIDI thread to apply a learn command: `learn` (value: the target; options: mode,
        step, value, see MidiLearn.learn), `learn_next`, `learn_prev`, `learn_cancel`. Any thread;
        an error in it comes back through `take_errors()`."""
        if name not in COMMANDS:
            raise ValueError(f"not a MIDI learn command: {name!r} (expected one of {COMMANDS})")
        self._commands.put((name, value, options))

    def list_ports(self) -> list[str]:
        """The inputs that could be opened now. Any thread."""
        return self._ports.available()

    # --- the render thread ---------------------------------------------------------------------

    def publish(self, params: Params, status=None) -> None:
        """The frame's parameters (frozen), for relative encoders and feedback, and its ShowStatus (frozen;
        feedback's decks, recording and beat). Render thread, once per frame."""
        self._shown = status if status is not None else self._shown
        self._params = params  # reference assignments: the MIDI thread only ever reads them

    def take_errors(self) -> list[str]:
        """Learn commands that failed since the last call, as messages for the show's log. Render thread."""
        errors = []
        while True:
            try:
                errors.append(self._errors.get_nowait())
            except queue.Empty:
                return errors

    # --- the owner's thread --------------------------------------------------------------------

    def start(self) -> MidiControl:
        if self._ports.closed:
            raise RuntimeError("MidiControl was stopped; make a new one")
        if self._thread is not None:
            return self
        self._ports.open()
        self._outputs.open()
        self._status = self._make_status()  # before the thread: ports found at start show at once
        self._thread = threading.Thread(target=self._run, name="livecppn-midi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every input and end the MIDI thread. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not self._ports.closed:
            self._ports.close()
            self._outputs.close()
            self._status = self._make_status()  # the thread has ended: this is the last word

    def __enter__(self) -> MidiControl:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the MIDI thread -----------------------------------------------------------------------

    def _run(self) -> None:
        next_maintain = next_scan = next_feedback = time.monotonic()
        while not self._stop.is_set():
            self._apply_commands()
            self._ports.read()
            now = time.monotonic()
            if now >= next_maintain:
                next_maintain = now + MAINTAIN_INTERVAL
                if self._clock.check(now):
                    log.info("MIDI clock: no ticks for %.0f s; tempo goes back to tap / the beat tracker",
                             self._clock.timeout)
                self._ports.maintain(now >= next_scan)
                if now >= next_scan:
                    next_scan = now + self.poll_interval
                    if self._outputs.maintain():
                        self._feedback.forget()  # a new connection shows nothing we know of
                self._changed = True
            # Counts alone are published at most every COUNTS_INTERVAL (a flood of bad bytes must not
            # rebuild the status a thousand times a second), but always before bus events go out.
            if (self._changed or self._clock.state is not self._status.clock
                    or self._counted and (self._outbox.events or now - self._status_at >= COUNTS_INTERVAL)):
                self._changed = self._counted = False
                self._status, self._status_at = self._make_status(), now
            self._outbox.send(self.bus)  # after the status (see the module doc)
            if now >= next_feedback:
                next_feedback = now + FEEDBACK_TICK
                self._feed_back(now)
            time.sleep(READ_INTERVAL)

    def _feed_back(self, now: float) -> None:
        if not self._outputs.connected:
            return
        if self._feedback.mapping is not self._learner.mapping:
            self._feedback.set_mapping(self._learner.mapping)  # learn bound something
        for message in self._feedback.update(self._params, self._shown, now):
            self._outputs.send(message)

    def _make_status(self) -> MidiStatus:
        learner = self._learner
        return MidiStatus(MappingProxyType(self._ports.status()), self._clock.state, learner.armed,
                          learner.mapping, learner.learned, MappingProxyType(dict(self._counts)),
                          MappingProxyType(self._outputs.status()))

    def _apply_commands(self) -> None:
        while True:
            try:
                name, value, options = self._commands.get_nowait()
            except queue.Empty:
                return
            self._changed = True
            try:
                log.info(self._learner.command(name, value, **options))
            except Exception as e:  # an unknown target (ValueError), bad options: for the show's log
                self._errors.put(f"MIDI {name} {value!r}: {e}")

    def _on_message(self, source: str, data: list[int], when: float) -> None:
        """One message from the input asked for as `source`, arrived at `when`. Never raises."""
        self._counted = True
        try:
            for event in decode(data):
                self._event(source, event, when)
        except Exception:
            self._counts["error"] += 1
            if "error" not in self._logged:
                self._logged.add("error")
                log.exception("MIDI: error handling %r (the input goes on; logged once)", data)

    def _event(self, source: str, e: MidiEvent, when: float) -> None:
        kind = e.kind
        self._counts[kind] += 1
        if kind == "clock":
            self._clock.tick(source, None if e.late else when)
        elif kind in ("cc", "note_on", "note_off"):
            self._control("cc" if kind == "cc" else "note", e.channel, e.number, e.value)
        elif kind in ("start", "stop", "continue", "song_position"):
            self._clock.transport(source, kind, time.monotonic(), e.number)
        elif kind not in self._logged:  # sysex, other, invalid: counted, logged once
            self._logged.add(kind)
            shown = " ".join(f"{b:02X}" for b in e.data[:8]) + (" ..." if len(e.data) > 8 else "")
            level = logging.WARNING if kind == "invalid" else logging.INFO
            log.log(level, "MIDI: ignoring %s message(s), first: %s (counted in stats; logged once)", kind, shown)

    def _control(self, source: str, channel: int, number: int, value: int) -> None:
        if value and (made := self._learner.offer(source, channel, number)) is not None:
            self._counts["learned"] += 1
            self._changed = True  # the mapping and what is armed
            log.info("MIDI learn: %s", made)
            return
        b = self._learner.mapping.find(source, channel, number)
        if b is None:
            self._counts["unmapped"] += 1
            return
        out = self._outbox
        if b.trigger is not None:
            if source == "cc":  # a button sending CCs: fire on the press (a rise to 64 or above)
                key, high = (channel, number), value >= 64
                was_high, self._cc_high[key] = self._cc_high.get(key, False), high
                if not high or was_high:
                    return
            elif not value:
                return  # note-off
            self._feedback.touched(b, channel, value, None, time.monotonic())  # an omni pad: lit on this channel
            out.trigger(b.trigger, b.value)
            return
        spec = self._registry.specs[b.param]
        lo, hi = b.range if b.range is not None else (spec.minimum, spec.maximum)
        if b.mode in RELATIVE_MODES:
            x = self._nudge(b, spec, relative_ticks(b.mode, value))
        elif source == "cc":
            x = lo + (hi - lo) * value / 127
        elif b.mode == "toggle":
            if not value:
                return
            x = hi if self._toggle(b, lo, hi) else lo
        else:  # momentary
            x = hi if value else lo
        if b.mode not in RELATIVE_MODES:
            self._relative.pop(b.param, None)  # an encoder on the same param starts from here next time
        self._feedback.touched(b, channel, value, x, time.monotonic())
        out.set(b.param, x)

    def _toggle(self, b: Binding, lo: float, hi: float) -> bool:
        """A toggle pad's new state. Pressed again soon, it flips its own; after a pause, the state the
        frame shows (something else, OSC or the autopilot, may have set the parameter meanwhile)."""
        now = time.monotonic()
        on, at = self._toggled.get(b.key, (None, -math.inf))
        if on is None or now - at > ENCODER_PAUSE:
            value = self._params.values.get(b.param, lo)
            on = abs(value - hi) < abs(value - lo)
        self._toggled[b.key] = (not on, now)
        return not on

    def _nudge(self, b: Binding, spec, ticks: int) -> float:
        """The new value for an encoder move. During a gesture it accumulates here; after a pause it
        starts again from the value the render thread last published, which others may have changed."""
        now = time.monotonic()
        value, at = self._relative.get(b.param, (None, -math.inf))
        if value is None or now - at > ENCODER_PAUSE:
            value = self._params.values.get(b.param, spec.default)
        lo, hi = sorted(b.range) if b.range is not None else (spec.minimum, spec.maximum)
        value = min(hi, max(lo, value + ticks * b.step * (spec.maximum - spec.minimum)))
        self._relative[b.param] = (value, now)
        return value
