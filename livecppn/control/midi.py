"""MIDI input (DESIGN §7, §8): controllers and MIDI clock onto the parameter bus.

`MidiControl` opens inputs by name (exact, then substring, case-insensitive),
several at once, and turns their messages into bus events through a `Mapping`.
Its one thread reads every input each millisecond, decodes a few bytes, looks
the control up and puts one event on the bus: no blocking, one log line per
kind of bad input at most. Message times come from rtmidi's time stamps, so a
late read (the GIL, a busy machine) does not bend the MIDI clock's tempo. Four
times a second the thread also times out the MIDI clock, and about once a
second it looks for inputs that vanished or came back, reopening them without
stopping anything. (A port that goes and comes back between two looks is not
noticed; a USB replug takes longer than that.)

Why read rather than take rtmidi's callbacks: with JACK, rtmidi calls back on
the JACK process thread, which must then wait for the GIL; python-rtmidi holds
the GIL while it opens or closes a port, and JACK waits for that process
thread to finish its cycle: any JACK client opened or closed in this process
(a MIDI input coming back, the audio capture reconnecting) could then hang the
process for good. Reading rtmidi's queue never runs Python on JACK's thread.
It also lets us count what mido would drop unseen (`stats`), with no Message
object per clock tick. The API is chosen the mido way: `backend=
"mido.backends.rtmidi/UNIX_JACK"` or the MIDO_BACKEND environment variable.

A sysex message that never ends (a glitching device, a fuzzer) makes rtmidi
hold everything after it, waiting for the End of Exclusive byte. So each input
gets a small output of ours connected to it, through which the thread sends a
lone End of Exclusive four times a second: a stalled input lets go within a
quarter second, and the messages that were held are taken apart and handled
(except their clock ticks' timing, which is lost).

MIDI clock in is followed by `MidiClock` (midiclock.py), fed from this thread.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from dataclasses import dataclass

import rtmidi

from livecppn.control.mapping import RELATIVE_MODES, Binding, Mapping, MidiLearn
from livecppn.control.midiclock import MidiClock
from livecppn.control.params import ParamBus

log = logging.getLogger("livecppn.midi")

POLL_INTERVAL = 1.0  # seconds between looks for lost / returned inputs
READ_INTERVAL = 0.001  # seconds between reads of the inputs (~1% of a core when idle)
MAINTAIN_INTERVAL = 0.25  # clock timeout and sysex flush
QUEUE_SIZE = 8192  # messages rtmidi holds per input between reads
CLIENT_NAME = "livecppn"
# What `stats` counts. Every counter exists from the start: the reader only ever increments.
KINDS = ("cc", "note_on", "note_off", "clock", "start", "stop", "continue", "song_position",  # used
         "unmapped",  # a CC or note with no binding (also counted as cc / note_*)
         "learned",  # a CC or note taken by MIDI learn
         "sysex", "other",  # valid, not used here (program change, pitch bend, aftertouch, MTC, ...)
         "invalid",  # malformed: no status byte, wrong length, data byte above 127, unended sysex
         "error")  # an exception in livecppn's handler (a bug; the input goes on)
_CHANNEL_LENGTH = {0x80: 3, 0x90: 3, 0xA0: 3, 0xB0: 3, 0xC0: 2, 0xD0: 2, 0xE0: 3}
_SYSTEM_LENGTH = {0xF1: 2, 0xF2: 3, 0xF3: 2, 0xF6: 1, 0xF8: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1, 0xFE: 1, 0xFF: 1}
_FLUSH = [0xF7]  # End of Exclusive: ends a sysex that rtmidi is still waiting for
_OWN_PORT = "livecppn_flush_"  # our flush outputs: never offered as inputs
_serial = iter(range(1, 1 << 30))


def rtmidi_api(backend: str | None = None) -> int:
    """The rtmidi API for a mido backend string ('mido.backends.rtmidi/UNIX_JACK'; None: $MIDO_BACKEND)."""
    spec = backend or os.environ.get("MIDO_BACKEND") or "mido.backends.rtmidi"
    module, _, api = spec.partition("/")
    if module not in ("mido.backends.rtmidi", "rtmidi"):
        raise ValueError(f"MIDI backend {spec!r}: livecppn reads MIDI through python-rtmidi; "
                         "use mido.backends.rtmidi[/API] (API: LINUX_ALSA, UNIX_JACK, MACOSX_CORE, WINDOWS_MM)")
    if not api:
        return rtmidi.API_UNSPECIFIED
    value = getattr(rtmidi, f"API_{api}", None)
    if value is None or value not in rtmidi.get_compiled_api():
        compiled = [rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()]
        raise ValueError(f"MIDI backend {spec!r}: no rtmidi API {api!r} here (compiled in: {compiled})")
    return value


def list_ports(backend: str | None = None) -> list[str]:
    """Names of the MIDI inputs that can be opened now (the sources: other programs' outputs)."""
    scanner = rtmidi.MidiIn(rtapi=rtmidi_api(backend), name=f"{CLIENT_NAME}-list")
    try:
        return [p for p in scanner.get_ports() if _OWN_PORT not in p]
    finally:
        scanner.delete()


def match_port(wanted: str, available: list[str], taken: set[str] = frozenset()) -> str | None:
    """The port `wanted` names: an exact name, else a case-insensitive exact one, else the first
    that contains it (case-insensitive). Ports in `taken` (open for another request) are skipped."""
    free = [p for p in available if p not in taken]
    low = wanted.casefold()
    for test in (lambda p: p == wanted, lambda p: p.casefold() == low, lambda p: low in p.casefold()):
        for port in free:
            if test(port):
                return port
    return None


def relative_ticks(mode: str, value: int) -> int:
    """Encoder ticks in one relative-CC value (+ clockwise)."""
    if mode == "twos_complement":  # 1..63 up, 127..64 down (127 = -1)
        return value - 128 if value >= 64 else value
    if mode == "binary_offset":  # 64 = none, 65 = +1, 63 = -1
        return value - 64
    if mode == "sign_magnitude":  # bit 6 is the sign: 1 = +1, 65 = -1
        return -(value & 0x3F) if value & 0x40 else value
    raise ValueError(f"not a relative mode: {mode!r}")


@dataclass(frozen=True)
class PortStatus:
    state: str  # "connected" | "lost" (was connected, gone) | "missing" (not seen yet) | "closed" (stopped)
    port: str | None  # the port it is (or was last) connected to
    connects: int  # times opened; above 1: reconnected


class _Input:
    """One requested input: its rtmidi handles while connected, and its message counters."""

    def __init__(self, wanted: str, index: int):
        self.wanted = wanted
        self.index = index
        self.midi_in: rtmidi.MidiIn | None = None
        self.flush: rtmidi.MidiOut | None = None  # ours, connected to midi_in: see the module doc
        self.port: str | None = None
        self.state = "missing"
        self.connects = 0
        self.counts = dict.fromkeys(KINDS, 0)
        # When each message came: rtmidi's time deltas (taken as the MIDI system got it, so a late read
        # does not move it), summed, plus an offset onto time.monotonic() fitted to the quickest reads.
        self.midi_time = 0.0
        self.offset = math.inf
        self.min_lag = math.inf


class MidiControl:
    """MIDI inputs → ParamBus. `start()` opens what it finds and starts the MIDI thread, which
    reads the inputs and (re)opens those missing or lost when they appear. `stop()` closes
    everything (idempotent). `status`, `stats`, `clock.state`: any thread, for the HUD."""

    def __init__(self, bus: ParamBus, ports: list[str], mapping: Mapping | None = None,
                 backend: str | None = None, poll_interval: float = POLL_INTERVAL):
        self.bus = bus
        self.learner = MidiLearn(mapping)
        self.clock = MidiClock(bus)
        self.poll_interval = poll_interval
        self._api = rtmidi_api(backend)
        self._inputs = [_Input(name, i) for i, name in enumerate(dict.fromkeys(ports))]
        self._logged: set[str] = set()
        self._cc_high: dict[tuple[int, int], bool] = {}  # (channel, cc) → last value was >= 64 (button edges)
        self._toggled: dict[tuple, bool] = {}  # note toggles: binding key → on
        self._relative: dict[str, tuple[float, float]] = {}  # param → (value, time) of the encoder's gesture
        self._lock = threading.Lock()  # the inputs' handles and the scanner: the MIDI thread, start, stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scanner: rtmidi.MidiIn | None = None
        self._closed = False

    # --- public --------------------------------------------------------------------------------

    @property
    def mapping(self) -> Mapping:
        return self.learner.mapping

    def learn(self, name: str, **options) -> None:
        """Arm MIDI learn for a parameter or trigger (any thread); see MidiLearn.learn."""
        self.learner.learn(name, **options)

    def list_ports(self) -> list[str]:
        with self._lock:
            return self._ports()

    @property
    def status(self) -> dict[str, PortStatus]:
        """Per requested name: connected / lost / missing."""
        return {i.wanted: PortStatus(i.state, i.port, i.connects) for i in self._inputs}

    @property
    def stats(self) -> dict[str, int]:
        """Messages by kind (see KINDS), over all inputs since construction."""
        total = dict.fromkeys(KINDS, 0)
        for inp in self._inputs:
            for kind, n in list(inp.counts.items()):
                total[kind] += n
        return total

    def start(self) -> MidiControl:
        if self._closed:
            raise RuntimeError("MidiControl was stopped; make a new one")
        if self._thread is not None:
            return self
        with self._lock:
            self._scanner = rtmidi.MidiIn(rtapi=self._api, name=f"{CLIENT_NAME}-scan")
            available = self._scan()
        for inp in self._inputs:
            if inp.state != "connected":
                log.warning("MIDI input %r not found (yet); will open it when it appears. Inputs now: %s",
                            inp.wanted, ", ".join(available) or "none")
        self._thread = threading.Thread(target=self._run, name="livecppn-midi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every input and end the MIDI thread. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for inp in self._inputs:
                self._close(inp)
                inp.state = "closed"
            if self._scanner is not None:
                self._scanner.delete()
                self._scanner = None

    def __enter__(self) -> MidiControl:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the MIDI thread -----------------------------------------------------------------------

    def _run(self) -> None:
        next_maintain = next_scan = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                for inp in self._inputs:
                    if inp.midi_in is not None:
                        self._read(inp)
                now = time.monotonic()
                if now >= next_maintain:
                    next_maintain = now + MAINTAIN_INTERVAL
                    self._maintain(now, now >= next_scan)
                    if now >= next_scan:
                        next_scan = now + self.poll_interval
            time.sleep(READ_INTERVAL)

    def _read(self, inp: _Input) -> None:
        get = inp.midi_in.get_message
        for _ in range(QUEUE_SIZE):  # bounded: a flood cannot keep this loop from the rest of its work
            try:
                event = get()
            except Exception as e:
                self._once(f"read:{inp.wanted}", logging.WARNING, "MIDI input %r: read failed (%s)", inp.wanted, e)
                return
            if event is None:
                return
            now = time.monotonic()
            inp.midi_time += event[1]
            when = inp.midi_time + inp.offset
            if not 0.0 <= now - when < 1.0:  # the first message, or one read quicker than ever, or lost track
                inp.offset, when = now - inp.midi_time, now
            inp.min_lag = min(inp.min_lag, now - when)
            try:
                self._dispatch(inp, event[0], when)
            except Exception:
                inp.counts["error"] += 1
                if "error" not in self._logged:
                    self._logged.add("error")
                    log.exception("MIDI: error handling %r (the input goes on; logged once)", event)

    def _maintain(self, now: float, scan: bool) -> None:
        if self.clock.check(now):
            log.info("MIDI clock: no ticks for %.0f s; tempo goes back to tap / the beat tracker",
                     self.clock.timeout)
        for inp in self._inputs:
            if inp.min_lag < math.inf:  # deltas that went missing (held messages) make times early: undo
                inp.offset += inp.min_lag
                inp.min_lag = math.inf
            if inp.flush is not None:
                try:
                    inp.flush.send_message(_FLUSH)
                except Exception as e:
                    self._once("flush", logging.WARNING, "MIDI: cannot unstick inputs (%s)", e)
        if scan:
            self._scan()

    def _ports(self) -> list[str]:
        try:
            return [p for p in self._scanner.get_ports() if _OWN_PORT not in p] if self._scanner else []
        except Exception as e:  # a MIDI system going away must not end the MIDI thread
            self._once("scan", logging.WARNING, "MIDI: cannot list ports (%s); still trying", e)
            return []

    def _scan(self) -> list[str]:
        available = self._ports()
        for inp in self._inputs:
            if inp.state == "connected" and inp.port not in available:
                self._read(inp)  # what it sent before it went
                self._close(inp)
                inp.state = "lost"
                log.warning("MIDI input %r (%s) lost; reopening it when it comes back", inp.wanted, inp.port)
        taken = {i.port for i in self._inputs if i.state == "connected"}
        for inp in self._inputs:
            if inp.state != "connected":
                port = match_port(inp.wanted, available, taken)
                if port is not None and self._open(inp, port):
                    taken.add(port)
        return available

    def _open(self, inp: _Input, port: str) -> bool:
        midi_in = None
        our_port = f"in_{inp.index + 1}_{os.getpid()}_{next(_serial)}"
        try:
            # A fresh handle each time: rtmidi's JACK input does not deliver again after close + reopen.
            midi_in = rtmidi.MidiIn(rtapi=self._api, name=CLIENT_NAME, queue_size_limit=QUEUE_SIZE)
            # Nothing ignored: sysex is counted, clock used, and rtmidi's time deltas skip what it ignores.
            midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
            midi_in.open_port(midi_in.get_ports().index(port), our_port)
        except Exception as e:  # gone again between the scan and the open, or refused: try on the next poll
            if midi_in is not None:
                midi_in.delete()
            self._once(f"open:{inp.wanted}", logging.WARNING, "MIDI input %r: cannot open %r (%s); retrying",
                       inp.wanted, port, e)
            return False
        inp.flush = self._open_flush(our_port)
        inp.midi_time, inp.offset = 0.0, math.inf  # a new handle counts time from its first message
        inp.midi_in, inp.port = midi_in, port
        inp.connects += 1
        inp.state = "connected"  # last: status readers see a whole connection
        self._logged.discard(f"open:{inp.wanted}")
        log.info("MIDI input %r %s %s", inp.wanted, "reconnected to" if inp.connects > 1 else "opened:", port)
        return True

    def _open_flush(self, our_port: str) -> rtmidi.MidiOut | None:
        flush = None
        try:
            flush = rtmidi.MidiOut(rtapi=self._api, name=CLIENT_NAME)
            ports = flush.get_ports()
            flush.open_port(next(i for i, p in enumerate(ports) if our_port in p), _OWN_PORT + our_port)
            return flush
        except Exception as e:  # the input works without it; it just cannot be unstuck
            if flush is not None:
                flush.delete()
            self._once("flush-open", logging.WARNING, "MIDI: no flush output for %s (%r): a broken sysex may "
                       "stall that input", our_port, e)
            return None

    def _close(self, inp: _Input) -> None:
        flush, inp.flush = inp.flush, None
        if flush is not None:
            flush.close_port()
            flush.delete()
        midi_in, inp.midi_in = inp.midi_in, None
        if midi_in is not None:
            midi_in.close_port()
            midi_in.delete()

    # --- messages (the MIDI thread: cheap, never raise) ----------------------------------------

    def _dispatch(self, inp: _Input, data: list[int], t: float | None) -> None:
        """One message; `t` its arrival time, None when it was held back behind a broken sysex."""
        counts = inp.counts
        n = len(data)
        status = data[0] if n else 0
        if status == 0xF8 and n == 1:  # clock: the busiest message (48 a second at 120 BPM)
            counts["clock"] += 1
            self.clock.tick(inp.wanted, t)
            return
        if status == 0xF0 and n > 2 and any(b > 0x7F for b in data[1:-1]):
            self._unglue(inp, data)
        elif status < 0x80 or any(b > 0x7F for b in data[1:n if status != 0xF0 else n - 1]):
            self._bad(counts, "invalid", data)
        elif status >= 0xF0:
            if data != _FLUSH:  # our own End of Exclusive, when nothing was stalled
                self._system(inp, counts, status, data, n)
        elif n != _CHANNEL_LENGTH[status & 0xF0]:
            self._bad(counts, "invalid", data)
        elif status & 0xF0 == 0xB0:
            counts["cc"] += 1
            self._control("cc", (status & 0x0F) + 1, data[1], data[2], counts)
        elif status & 0xF0 == 0x90 and data[2]:
            counts["note_on"] += 1
            self._control("note", (status & 0x0F) + 1, data[1], data[2], counts)
        elif status & 0xF0 in (0x80, 0x90):
            counts["note_off"] += 1
            self._control("note", (status & 0x0F) + 1, data[1], 0, counts)
        else:
            self._bad(counts, "other", data)

    def _unglue(self, inp: _Input, data: list[int]) -> None:
        """A sysex that did not end, with the messages rtmidi held behind it glued on: count the
        sysex as invalid, handle the rest (each starts at a status byte) as late messages."""
        starts = [i for i, byte in enumerate(data) if byte > 0x7F] + [len(data)]
        pieces = [data[a:b] for a, b in itertools.pairwise(starts)]  # the first: the sysex that did not end
        for i, piece in enumerate(pieces):
            if piece == _FLUSH:
                continue  # ended the piece before it
            if piece[0] == 0xF0 and pieces[i + 1:i + 2] == [_FLUSH]:
                piece = piece + _FLUSH
            self._dispatch(inp, piece, None)

    def _system(self, inp: _Input, counts: dict, status: int, data: list[int], n: int) -> None:
        if status == 0xF0:
            self._bad(counts, "sysex" if data[-1] == 0xF7 else "invalid", data)
        elif _SYSTEM_LENGTH.get(status) != n:
            self._bad(counts, "invalid", data)
        elif status in (0xFA, 0xFB, 0xFC):
            kind = {0xFA: "start", 0xFB: "continue", 0xFC: "stop"}[status]
            counts[kind] += 1
            self.clock.transport(inp.wanted, kind, time.monotonic())
        elif status == 0xF2:
            counts["song_position"] += 1
            self.clock.transport(inp.wanted, "song_position", time.monotonic(), data[1] | data[2] << 7)
        else:
            self._bad(counts, "other", data)

    def _bad(self, counts: dict, kind: str, data: list[int]) -> None:
        counts[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            shown = " ".join(f"{b:02X}" for b in data[:8]) + (" ..." if len(data) > 8 else "")
            level = logging.WARNING if kind == "invalid" else logging.INFO
            log.log(level, "MIDI: ignoring %s message(s), first: %s (counted in stats; logged once)", kind, shown)

    def _control(self, source: str, channel: int, number: int, value: int, counts: dict) -> None:
        if value and self.learner.offer(source, channel, number) is not None:
            counts["learned"] += 1
            log.info("MIDI learn: %s", self.learner.last)
            return
        b = self.mapping.find(source, channel, number)
        if b is None:
            counts["unmapped"] += 1
            return
        if b.trigger is not None:
            if source == "cc":  # a button sending CCs: fire on the press (a rise to 64 or above)
                key, high = (channel, number), value >= 64
                was_high, self._cc_high[key] = self._cc_high.get(key, False), high
                if not high or was_high:
                    return
            elif not value:
                return  # note-off
            self.bus.trigger(b.trigger, b.value)
            return
        spec = self.bus.specs.get(b.param)
        if spec is None:  # a mapping made against another registry
            counts["unmapped"] += 1
            return
        lo, hi = b.range if b.range is not None else (spec.minimum, spec.maximum)
        if b.mode in RELATIVE_MODES:
            self.bus.set(b.param, self._nudge(b, spec, relative_ticks(b.mode, value)))
            return
        if source == "cc":
            x = lo + (hi - lo) * value / 127
        elif b.mode == "toggle":
            if not value:
                return
            on = self._toggled[b.key] = not self._toggled.get(b.key, False)
            x = hi if on else lo
        else:  # momentary
            x = hi if value else lo
        self._relative.pop(b.param, None)  # an encoder on the same param starts from here next time
        self.bus.set(b.param, x)

    def _nudge(self, b: Binding, spec, ticks: int) -> float:
        """The new value for an encoder move. During a gesture it accumulates here; after a second's
        pause it starts again from the bus's value, which other controllers may have changed."""
        now = time.monotonic()
        value, at = self._relative.get(b.param, (None, -math.inf))
        if value is None or now - at > 1.0:
            value = self.bus.snapshot().values.get(b.param, spec.default)
        lo, hi = sorted(b.range) if b.range is not None else (spec.minimum, spec.maximum)
        value = min(hi, max(lo, value + ticks * b.step * (spec.maximum - spec.minimum)))
        self._relative[b.param] = (value, now)
        return value

    def _once(self, key: str, level: int, msg: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, msg, *args)
