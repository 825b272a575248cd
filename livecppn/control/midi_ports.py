"""MIDI input ports (DESIGN §7, §8): opened by name, read without callbacks, reopened when they return.

`Ports` holds the inputs a show asked for (exact name, then substring,
case-insensitive), several at once. The MIDI thread calls `read()` each
millisecond, which hands every message with its arrival time to the handler
it was given, and `maintain()` four times a second, which unsticks stalled
inputs and, about once a second, looks for inputs that vanished or came back,
reopening them without stopping anything. (A port that goes and comes back
between two looks is not noticed; a USB replug takes longer than that.)
`open()` (start), `close()` (stop) and `available()` may run on other threads:
one lock keeps them and the MIDI thread apart.

Why read rather than take rtmidi's callbacks: with JACK, rtmidi calls back on
the JACK process thread, which must then wait for the GIL; python-rtmidi holds
the GIL while it opens or closes a port, and JACK waits for that process
thread to finish its cycle: any JACK client opened or closed in this process
(a MIDI input coming back, the audio capture reconnecting) could then hang the
process for good. Reading rtmidi's queue never runs Python on JACK's thread.
Message times come from rtmidi's time stamps, so a late read (the GIL, a busy
machine) does not bend the MIDI clock's tempo. The API is chosen the mido
way: `backend="mido.backends.rtmidi/UNIX_JACK"` or $MIDO_BACKEND.

A sysex message that never ends (a glitching device, a fuzzer) makes rtmidi
hold everything after it, waiting for the End of Exclusive byte. So each input
gets a small output of ours connected to it, through which `maintain` sends a
lone End of Exclusive (FLUSH): a stalled input lets go within a quarter
second, and the messages that were held come out glued to the sysex
(midi_decode.unglue takes them apart; their clock ticks' timing is lost).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import rtmidi

from .midi_decode import END_OF_EXCLUSIVE

log = logging.getLogger("livecppn.midi")

QUEUE_SIZE = 8192  # messages rtmidi holds per input between reads
CLIENT_NAME = "livecppn"
FLUSH = [END_OF_EXCLUSIVE]  # ends a sysex that rtmidi is still waiting for
_OWN_PORT = "livecppn_flush_"  # our flush outputs: never offered as inputs
OWN_OUT = "livecppn_out_"  # our feedback outputs (midi_out.py): never offered as inputs either
_OWN_IN = "livecppn_in_"  # our inputs: never offered as feedback outputs
_serial = itertools.count(1)  # our port names are unique in the process


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
        return [p for p in scanner.get_ports() if not is_own(p)]
    finally:
        scanner.delete()


def is_own(port: str) -> bool:
    """Whether a port is one this process opened (an input of ours, a flush or feedback output)."""
    return _OWN_PORT in port or OWN_OUT in port or _OWN_IN in port


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


@dataclass(frozen=True)
class PortStatus:
    state: str  # "connected" | "lost" (was connected, gone) | "missing" (not seen yet) | "closed" (stopped)
    port: str | None  # the port it is (or was last) connected to
    connects: int  # times opened; above 1: reconnected


class _Input:
    """One requested input: its rtmidi handles while connected, and its clock."""

    def __init__(self, wanted: str, index: int):
        self.wanted = wanted
        self.index = index
        self.midi_in: rtmidi.MidiIn | None = None
        self.flush: rtmidi.MidiOut | None = None  # ours, connected to midi_in: see the module doc
        self.port: str | None = None
        self.state = "missing"
        self.connects = 0
        # When each message came: rtmidi's time deltas (taken as the MIDI system got it, so a late read
        # does not move it), summed, plus an offset onto time.monotonic() fitted to the quickest reads.
        self.midi_time = 0.0
        self.offset = math.inf
        self.min_lag = math.inf


class Ports:
    """The requested inputs. `handle(wanted, data, when)` gets each message read: the name it was
    asked for by, its bytes, its arrival time (time.monotonic() seconds). The handler must not raise."""

    def __init__(self, wanted: list[str], api: int, handle: Callable[[str, list[int], float], None]):
        self._api = api
        self._handle = handle
        self._inputs = [_Input(name, i) for i, name in enumerate(dict.fromkeys(wanted))]
        self._lock = threading.Lock()
        self._scanner: rtmidi.MidiIn | None = None
        self._logged: set[str] = set()
        self.closed = False

    def status(self) -> dict[str, PortStatus]:
        """Per requested name: connected / lost / missing / closed."""
        return {i.wanted: PortStatus(i.state, i.port, i.connects) for i in self._inputs}

    def open(self) -> list[str]:
        """Open what can be found now; returns the ports seen. Logs each input not found."""
        with self._lock:
            self._scanner = rtmidi.MidiIn(rtapi=self._api, name=f"{CLIENT_NAME}-scan")
            available = self._scan()
        for inp in self._inputs:
            if inp.state != "connected":
                log.warning("MIDI input %r not found (yet); will open it when it appears. Inputs now: %s",
                            inp.wanted, ", ".join(available) or "none")
        return available

    def available(self) -> list[str]:
        """The inputs that could be opened now (ours left out). Any thread."""
        with self._lock:
            return self._ports()

    def read(self) -> None:
        """Hand every message waiting on every input to the handler. The MIDI thread."""
        with self._lock:
            for inp in self._inputs:
                if inp.midi_in is not None:
                    self._read(inp)

    def maintain(self, scan: bool) -> None:
        """Refit the inputs' clocks, unstick stalled sysex, and with `scan` close what went and open
        what came. The MIDI thread, a few times a second."""
        with self._lock:
            for inp in self._inputs:
                if inp.min_lag < math.inf:  # deltas that went missing (held messages) make times early: undo
                    inp.offset += inp.min_lag
                    inp.min_lag = math.inf
                if inp.flush is not None:
                    try:
                        inp.flush.send_message(FLUSH)
                    except Exception as e:
                        self._once("flush", "MIDI: cannot unstick inputs (%s)", e)
            if scan:
                self._scan()

    def close(self) -> None:
        """Close every input (idempotent). Call after the MIDI thread ended."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for inp in self._inputs:
                self._close(inp)
                inp.state = "closed"
            if self._scanner is not None:
                self._scanner.delete()
                self._scanner = None

    # --- under the lock --------------------------------------------------------------------------

    def _read(self, inp: _Input) -> None:
        get = inp.midi_in.get_message
        for _ in range(QUEUE_SIZE):  # bounded: a flood cannot keep the thread from the rest of its work
            try:
                event = get()
            except Exception as e:
                self._once(f"read:{inp.wanted}", "MIDI input %r: read failed (%s)", inp.wanted, e)
                return
            if event is None:
                return
            now = time.monotonic()
            inp.midi_time += event[1]
            when = inp.midi_time + inp.offset
            if not 0.0 <= now - when < 1.0:  # the first message, or one read quicker than ever, or lost track
                inp.offset, when = now - inp.midi_time, now
            inp.min_lag = min(inp.min_lag, now - when)
            self._handle(inp.wanted, event[0], when)

    def _ports(self) -> list[str]:
        try:
            return [p for p in self._scanner.get_ports() if not is_own(p)] if self._scanner else []
        except Exception as e:  # a MIDI system going away must not end the MIDI thread
            self._once("scan", "MIDI: cannot list ports (%s); still trying", e)
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
        our_port = f"{_OWN_IN}{inp.index + 1}_{os.getpid()}_{next(_serial)}"
        try:
            # A fresh handle each time: rtmidi's JACK input does not deliver again after close + reopen.
            midi_in = rtmidi.MidiIn(rtapi=self._api, name=CLIENT_NAME, queue_size_limit=QUEUE_SIZE)
            # Nothing ignored: sysex is counted, clock used, and rtmidi's time deltas skip what it ignores.
            midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
            midi_in.open_port(midi_in.get_ports().index(port), our_port)
        except Exception as e:  # gone again between the scan and the open, or refused: try on the next poll
            if midi_in is not None:
                midi_in.delete()
            self._once(f"open:{inp.wanted}", "MIDI input %r: cannot open %r (%s); retrying", inp.wanted, port, e)
            return False
        inp.flush = self._open_flush(our_port)
        inp.midi_time, inp.offset = 0.0, math.inf  # a new handle counts time from its first message
        inp.midi_in, inp.port = midi_in, port
        inp.connects += 1
        inp.state = "connected"
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
            self._once("flush-open", "MIDI: no flush output for %s (%r): a broken sysex may stall that input",
                       our_port, e)
            return None

    @staticmethod
    def _close(inp: _Input) -> None:
        flush, inp.flush = inp.flush, None
        if flush is not None:
            flush.close_port()
            flush.delete()
        midi_in, inp.midi_in = inp.midi_in, None
        if midi_in is not None:
            midi_in.close_port()
            midi_in.delete()

    def _once(self, key: str, msg: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(msg, *args)
