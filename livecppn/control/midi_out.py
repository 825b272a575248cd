"""MIDI outputs for feedback (DESIGN §7, §8): the controllers' own inputs, opened by name, reopened when they return.

A controller shows up as an input (what it sends) and an output (what it is
sent: LEDs, motor faders) of the same name, so by default the output for
feedback is found by each requested input's name: exact, then substring,
case-insensitive (midi_ports.match_port). A mapping's `[feedback] port` or
`--midi-out NAME` names it instead. Ports of our own (our inputs, flush and
feedback outputs) are never taken.

Like the inputs (midi_ports.py), `open()` and `close()` run on the owner's
thread while the MIDI thread is not running; `send()` and `maintain()` on the
MIDI thread. A send that fails is counted and logged once; the next scan
notices an output that went, reopens it when it returns, and `maintain` then
says so, so that everything is sent to it again.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading

import rtmidi

from .midi_ports import CLIENT_NAME, OWN_OUT, PortStatus, is_own, match_port

log = logging.getLogger("livecppn.midi")

_serial = itertools.count(1)


class _Output:
    def __init__(self, wanted: str, index: int):
        self.wanted = wanted
        self.index = index
        self.midi_out: rtmidi.MidiOut | None = None
        self.port: str | None = None
        self.state = "missing"
        self.connects = 0


class Outputs:
    """The requested feedback outputs. Thread contracts: see the module doc."""

    def __init__(self, wanted: list[str], api: int):
        self._api = api
        self._outputs = [_Output(name, i) for i, name in enumerate(dict.fromkeys(wanted))]
        self._lock = threading.Lock()
        self._scanner: rtmidi.MidiOut | None = None
        self._logged: set[str] = set()
        self.closed = False
        self.sent = 0  # messages sent, all outputs
        self.failed = 0  # sends that failed

    @property
    def connected(self) -> bool:
        return any(o.midi_out is not None for o in self._outputs)

    def status(self) -> dict[str, PortStatus]:
        with self._lock:
            return {o.wanted: PortStatus(o.state, o.port, o.connects) for o in self._outputs}

    def open(self) -> None:
        """Open what can be found now; log each output not found (once)."""
        if not self._outputs:
            return
        with self._lock:
            self._scanner = rtmidi.MidiOut(rtapi=self._api, name=f"{CLIENT_NAME}-scan-out")
            available = self._scan()
        for out in self._outputs:
            if out.state != "connected":
                log.warning("MIDI feedback output %r not found (yet); will open it when it appears. Outputs now: %s",
                            out.wanted, ", ".join(available) or "none")

    def maintain(self) -> bool:
        """Close what went, open what came. True when an output was (re)opened: send it everything. MIDI thread."""
        with self._lock:
            before = sum(o.connects for o in self._outputs)
            if self._scanner is not None:
                self._scan()
            return sum(o.connects for o in self._outputs) != before

    def send(self, message: list[int]) -> None:
        """One message to every connected output. Never raises. MIDI thread."""
        with self._lock:
            for out in self._outputs:
                if out.midi_out is None:
                    continue
                try:
                    out.midi_out.send_message(message)
                    self.sent += 1
                except Exception as e:  # a vanished port: reopened by the next scan
                    self.failed += 1
                    self._once(f"send:{out.wanted}", "MIDI feedback output %r: send failed (%s)", out.wanted, e)

    def close(self) -> None:
        """Close every output (idempotent). After the MIDI thread ended."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for out in self._outputs:
                self._close(out)
                out.state = "closed"
            if self._scanner is not None:
                self._scanner.delete()
                self._scanner = None

    # --- under the lock --------------------------------------------------------------------------

    def _scan(self) -> list[str]:
        try:
            available = [p for p in self._scanner.get_ports() if not is_own(p)]
        except Exception as e:  # a MIDI system going away must not end the MIDI thread
            self._once("scan", "MIDI: cannot list outputs (%s); still trying", e)
            return []
        for out in self._outputs:
            if out.state == "connected" and out.port not in available:
                self._close(out)
                out.state = "lost"
                log.warning("MIDI feedback output %r (%s) lost; reopening it when it comes back", out.wanted, out.port)
        taken = {o.port for o in self._outputs if o.state == "connected"}
        for out in self._outputs:
            if out.state != "connected":
                port = match_port(out.wanted, available, taken)
                if port is not None and self._open(out, port):
                    taken.add(port)
        return available

    def _open(self, out: _Output, port: str) -> bool:
        midi_out = None
        try:
            midi_out = rtmidi.MidiOut(rtapi=self._api, name=CLIENT_NAME)
            midi_out.open_port(midi_out.get_ports().index(port),
                               f"{OWN_OUT}{out.index + 1}_{os.getpid()}_{next(_serial)}")
        except Exception as e:  # gone again between the scan and the open: try on the next scan
            if midi_out is not None:
                midi_out.delete()
            self._once(f"open:{out.wanted}", "MIDI feedback output %r: cannot open %r (%s); retrying",
                       out.wanted, port, e)
            return False
        out.midi_out, out.port = midi_out, port
        out.connects += 1
        out.state = "connected"
        self._logged.discard(f"open:{out.wanted}")
        self._logged.discard(f"send:{out.wanted}")
        log.info("MIDI feedback output %r %s %s", out.wanted, "reconnected to" if out.connects > 1 else "opened:",
                 port)
        return True

    @staticmethod
    def _close(out: _Output) -> None:
        midi_out, out.midi_out = out.midi_out, None
        if midi_out is not None:
            midi_out.close_port()
            midi_out.delete()

    def _once(self, key: str, msg: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(msg, *args)
