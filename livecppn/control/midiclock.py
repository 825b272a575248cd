"""MIDI clock in (24 ticks per quarter note, start/stop/continue, song position) -> tempo.

MIDI clock goes to the render thread as triggers (which hands it to the audio
analyzer): `clock` with `(bpm, beat_wall, beat)` once per beat while the clock
runs (`beat_wall`: `time.monotonic()` seconds of that beat; `beat`: quarter
notes since song position 0), and `clock_stop` (no value) after Stop or
`CLOCK_TIMEOUT` seconds without ticks.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("livecppn.midi")

PPQ = 24  # MIDI clock ticks per quarter note
CLOCK_TIMEOUT = 2.0  # seconds without ticks before the external clock is dropped


class TriggerSink(Protocol):
    """Where the clock's triggers go: the bus, or what MidiControl hands to the bus."""

    def trigger(self, name: str, value: object = None) -> None: ...


@dataclass(frozen=True)
class ClockState:
    running: bool  # a clock trigger is out and has not been stopped
    bpm: float | None  # the last estimate sent
    beat: int | None  # its beat: quarter notes since song position 0
    source: str | None  # the input whose clock is followed


class MidiClock:
    """MIDI clock in → `clock` / `clock_stop` triggers on the bus.

    The tempo is a least-squares line through the tick times of the last four
    beats (smooth, with the jitter of a period-quantised transport averaged
    out); when the last beat alone disagrees by more than 8% the window restarts
    from it, so a tempo change is followed within a beat or two. The first
    input that sends ticks is followed until it stops or times out. Fed and
    timed out (`check()`) on the MIDI thread; `state` can be read from any.
    """

    WINDOW = 4 * PPQ + 1  # ticks: four beats
    JUMP = 0.08  # relative tempo change within one beat that restarts the window
    GAP = 0.5  # seconds between ticks that break the line (a pause; below 5 BPM)
    BPM_RANGE = (20.0, 500.0)  # estimates outside are not sent

    def __init__(self, bus: TriggerSink, timeout: float = CLOCK_TIMEOUT):
        self._bus = bus
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ticks: deque[tuple[int, float]] = deque(maxlen=self.WINDOW)  # (song position in ticks, time)
        self._source: str | None = None
        self._stopped = False  # after Stop, ticks are ignored until Start or Continue
        self._pos = 0  # song position of the next tick, in ticks
        self._last_tick = -math.inf
        self._engaged = False  # a `clock` trigger went out since the last `clock_stop`
        self.state = ClockState(False, None, None, None)

    def _accept(self, source: str, t: float) -> bool:
        if self._source != source and t - self._last_tick < self.timeout:
            return False  # another input's clock is being followed
        self._source = source
        return True

    def transport(self, source: str, kind: str, t: float, position: int = 0) -> None:
        """Start, stop, continue or song_position (`position` in MIDI beats: sixteenths)."""
        with self._lock:
            if not self._accept(source, t):
                return
            self._ticks.clear()  # the line is over positions: a jump starts a new one
            if kind == "song_position":
                self._pos = position * (PPQ // 4)
                return
            self._stopped = kind == "stop"
            if kind == "start":
                self._pos = 0
            elif kind == "stop":
                self._release()

    def tick(self, source: str, t: float | None) -> None:
        """A clock tick that arrived at `t`; None: one that arrived late (held behind a broken sysex),
        which moves the song position but says nothing about the tempo."""
        with self._lock:
            if self._stopped or not self._accept(source, self._last_tick if t is None else t):
                return
            if t is None:
                self._pos += 1
                self._ticks.clear()
                return
            if t - self._last_tick > self.GAP:
                self._ticks.clear()
            self._last_tick = t
            pos, self._pos = self._pos, self._pos + 1
            ticks = self._ticks
            ticks.append((pos, t))
            if pos % PPQ or len(ticks) <= PPQ:
                return
            slope, at = last = _fit(ticks, PPQ + 1, pos)
            if len(ticks) > PPQ + 1 and slope > 0:
                slope, at = _fit(ticks, len(ticks), pos)
                if not slope > 0 or abs(last[0] / slope - 1.0) > self.JUMP:
                    for _ in range(len(ticks) - PPQ - 1):  # a new tempo: keep only its beat
                        ticks.popleft()
                    slope, at = last
            bpm = 60.0 / (PPQ * slope) if slope > 0 else 0.0
            if not self.BPM_RANGE[0] <= bpm <= self.BPM_RANGE[1]:
                return  # not a tempo anyone plays to: garbage ticks
            self._engaged = True
            self.state = ClockState(True, bpm, pos // PPQ, source)
        self._bus.trigger("clock", (bpm, at, pos // PPQ))

    def check(self, t: float) -> bool:
        """Drop a clock that sent no tick for `timeout` seconds. Returns True when it did."""
        with self._lock:
            if not (self._engaged and t - self._last_tick > self.timeout):
                return False
            self._ticks.clear()
            self._source = None
            self._release()
            return True

    def _release(self) -> None:
        if self._engaged:
            self._engaged = False
            self._bus.trigger("clock_stop")
        self.state = ClockState(False, self.state.bpm, self.state.beat, self._source)


def _fit(ticks: deque, n: int, pos: int) -> tuple[float, float]:
    """Least-squares line through the last `n` (position, time) ticks: (seconds per tick, time at `pos`)."""
    pts = list(ticks)[-n:]
    p0, t0 = pts[0]
    mp = sum(p - p0 for p, _ in pts) / n
    mt = sum(t - t0 for _, t in pts) / n
    var = sum((p - p0 - mp) ** 2 for p, _ in pts)
    cov = sum((p - p0 - mp) * (t - t0 - mt) for p, t in pts)
    slope = cov / var if var else 0.0
    return slope, t0 + mt + slope * (pos - p0 - mp)
