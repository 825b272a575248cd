"""Ableton Link in and out: the session's tempo and beat to the beat clock, the show's tempo to the session.

Link is an optional extra (`pip install 'livecppn[link]'`: LinkPython-extern,
GPL like Link itself), imported here only, and only when a show asks for it.
`LinkControl`'s thread hands the session to the render thread as triggers, as
MIDI clock does: `link_beat` with `(bpm, beat_wall, beat, quantum, peers)` a
few times a second and at once when the tempo or the peers change, while at
least one other peer is in the session (`beat_wall`: the `time.monotonic()`
second at which beat number `beat` of the session's timeline falls; a bar is
`quantum` beats from beat 0); `link_gone` when the last peer leaves or Link is
switched off. The beat clock puts Link above every other source while it is
there (DESIGN §2, §7). The other way, `set_tempo` (tap tempo, the `bpm`
trigger) sets the session's tempo, for everyone in it; alone in a session,
livecppn leads, and a peer that joins takes that tempo up.

Link's clock on Linux is CLOCK_MONOTONIC_RAW, not time.monotonic()'s
CLOCK_MONOTONIC (measured: 0.18 s apart on the dev machine, and NTP slews one
and not the other), so each message converts Link time to monotonic time by
reading both clocks back to back.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass

from .midiclock import TriggerSink

log = logging.getLogger("livecppn.link")

MISSING = ("Ableton Link needs the optional `link` extra: pip install 'livecppn[link]' "
           "(LinkPython-extern, GPL-2.0-or-later like Link itself)")
BPM_RANGE = (20.0, 999.0)  # what Link accepts


class LinkUnavailable(RuntimeError):
    """The `link` extra is not installed."""


@dataclass(frozen=True)
class LinkState:
    enabled: bool  # in the session (joined), or switched off
    peers: int  # other peers in the session
    bpm: float | None  # the session's tempo (None before the thread's first look)
    quantum: int  # beats in a bar, for the beat phase


class LinkControl:
    """The Link session ↔ the bus. Its own thread talks to Link; `enable`, `set_tempo`, `publish` and
    `stop` may be called from any thread (they queue a request); `state` and `stats` from any."""

    INTERVAL = 0.25  # s between `link_beat` messages while nothing changes

    def __init__(self, bus: TriggerSink, quantum: int = 4, bpm: float = 120.0, enabled: bool = True,
                 interval: float = INTERVAL):
        self._bus, self._bpm, self._interval = bus, bpm, interval
        self._enabled, self._quantum = enabled, quantum
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._engaged = False  # a `link_beat` went out since the last `link_gone`
        self._link = None
        self._thread: threading.Thread | None = None
        self.stats = {"beats_sent": 0, "gone": 0, "peers_joined": 0, "peers_left": 0, "tempo_set": 0}
        self.state = LinkState(enabled, 0, None, quantum)

    def start(self) -> LinkControl:
        """Create the Link peer (joined when enabled) and its thread. Raises LinkUnavailable."""
        try:
            import link
        except ImportError as e:
            raise LinkUnavailable(MISSING) from e
        self._link = link.Link(float(self._bpm))
        self._link.setNumPeersCallback(self._poke)  # Link's own thread: it only wakes ours
        self._link.setTempoCallback(self._poke)
        self._link.enabled = self._enabled
        self._thread = threading.Thread(target=self._run, name="livecppn-link", daemon=True)
        self._thread.start()
        log.info("Link %s (quantum %d)", "joined" if self._enabled else "ready, off", self._quantum)
        return self

    # --- any thread ------------------------------------------------------------------------------

    def enable(self, on: bool | None) -> None:
        """Join (True) or leave (False) the session; None toggles."""
        self._ask("enable", on)

    def set_tempo(self, bpm: float) -> None:
        """Set the session's tempo (while joined; a tempo outside 20–999 BPM is ignored)."""
        if BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
            self._ask("tempo", float(bpm))

    def publish(self, params) -> None:
        """The frame's parameters: the bar in use (`meter`: 3, else 4) is the quantum of the beat phase."""
        quantum = 3 if params.choice("meter") == "3" else 4
        if quantum != self._quantum:
            self._quantum = quantum  # read back only by the Link thread, which takes it next time round
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._link is not None:
            self._link.enabled = False

    def _ask(self, kind: str, value) -> None:
        self._requests.put((kind, value))
        self._wake.set()

    def _poke(self, *_) -> None:
        self._wake.set()

    # --- the Link thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            while True:
                try:
                    kind, value = self._requests.get_nowait()
                except queue.Empty:
                    break
                self._apply(kind, value)
            try:
                self._send()
            except Exception:  # noqa: BLE001 - a Link fault must not end the thread or the show (DESIGN §8)
                log.exception("Link: reading the session failed; trying again")

    def _apply(self, kind: str, value) -> None:
        link = self._link
        if kind == "enable":
            self._enabled = (not self._enabled) if value is None else bool(value)
            link.enabled = self._enabled
            log.info("Link %s", "joined" if self._enabled else "left")
        elif kind == "tempo" and self._enabled:
            session = link.captureAppSessionState()
            session.setTempo(value, link.clock().micros())
            link.commitAppSessionState(session)
            self.stats["tempo_set"] += 1

    def _send(self) -> None:
        link, quantum = self._link, self._quantum
        peers = link.numPeers() if self._enabled else 0
        before = self.state.peers
        if peers != before:
            self.stats["peers_joined" if peers > before else "peers_left"] += abs(peers - before)
            log.info("Link: %d peer%s", peers, "" if peers == 1 else "s")
        session = link.captureAppSessionState()
        bpm = session.tempo()
        if peers:
            m0 = time.monotonic()
            now = link.clock().micros()
            offset = 0.5 * (m0 + time.monotonic()) - now * 1e-6  # Link time + offset = monotonic time
            beat = math.floor(session.beatAtTime(now, quantum))
            beat_wall = session.timeAtBeat(beat, quantum) * 1e-6 + offset
            self._engaged = True
            self.stats["beats_sent"] += 1
            self._bus.trigger("link_beat", (bpm, beat_wall, beat, quantum, peers))
        elif self._engaged:
            self._engaged = False
            self.stats["gone"] += 1
            self._bus.trigger("link_gone")
        self.state = LinkState(self._enabled, peers, bpm, quantum)
