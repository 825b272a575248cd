"""The audio source contract shared by every source (DESIGN §1, §8)."""

from __future__ import annotations

import logging

from .ring import RingBuffer

log = logging.getLogger("livecppn.audio")

RING_SECONDS = 4.0  # history each source keeps; the features need ~43 ms, tempo tracking a few seconds


class AudioError(Exception):
    """An audio source cannot be opened; the message names the file or device and the problem."""


class AudioSource:
    """Base class: a named producer of samples into `ring`, at `sample_rate` frames per second.

    Health, for the HUD and the report (all cheap to poll every frame from the render thread):
    - `failed`: None while delivering; otherwise why it is not delivering right now.
    - `status`: one line: "ok", "lost: <why>; retrying", "reconnected", "failed: <why>", ...
    - `overflows`: input blocks the device dropped because we read too late (counted, never raised).
    - `reconnects`: how often a lost device came back.
    The ring is created once and never replaced, so readers need no change across a reconnect.
    """

    name: str
    sample_rate: int
    ring: RingBuffer

    def __init__(self, name: str, sample_rate: int, channels: int = 1):
        self.name = name
        self.sample_rate = int(sample_rate)
        self.ring = RingBuffer(max(1, int(RING_SECONDS * self.sample_rate)), channels)
        self.overflows = 0  # written by the audio thread only
        self.reconnects = 0
        self._failed: str | None = None
        self._status = "ok"

    def start(self) -> None:
        """Begin delivering audio into the ring (returns at once; the work runs on the source's thread)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop delivering; idempotent, joins threads, closes streams."""
        raise NotImplementedError

    def position(self) -> float:
        """Seconds of audio delivered to the ring so far (frames_written / sample_rate); monotonic."""
        return self.ring.frames_written / self.sample_rate

    @property
    def failed(self) -> str | None:
        """None while healthy; why the source is not delivering right now. Returns to None when a
        lost device comes back. Cheap: poll it every frame."""
        return self._failed

    @property
    def status(self) -> str:
        """One line for the HUD (see the class docstring). Cheap: poll it every frame."""
        return self._status

    def _fail(self, message: str, retrying: bool = False) -> None:
        # The first reason of an outage wins; the live loop logs it once and shows it (DESIGN §8).
        if self._failed is None:
            self._failed = message
            self._status = f"lost: {message}; retrying" if retrying else f"failed: {message}"
            log.debug("audio source %s: %s", self.name, self._status)

    def _recover(self, status: str) -> None:
        """Delivering again (after a reconnect): clear `failed`, show `status`."""
        self._status = status
        self._failed = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.sample_rate} Hz>"
