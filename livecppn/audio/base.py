"""The audio source contract shared by every source (DESIGN §1, §8)."""

from __future__ import annotations

import logging

from .ring import RingBuffer

log = logging.getLogger("livecppn.audio")

RING_SECONDS = 4.0  # history each source keeps; the features need ~43 ms, tempo tracking a few seconds


class AudioError(Exception):
    """An audio source cannot be opened; the message names the file or device and the problem."""


class AudioSource:
    """Base class: a named producer of samples into `ring`, at `sample_rate` frames per second."""

    name: str
    sample_rate: int
    ring: RingBuffer

    def __init__(self, name: str, sample_rate: int, channels: int = 1):
        self.name = name
        self.sample_rate = int(sample_rate)
        self.ring = RingBuffer(max(1, int(RING_SECONDS * self.sample_rate)), channels)
        self._failed: str | None = None

    def start(self) -> None:
        """Begin delivering audio into the ring (returns at once; the work runs on the source's thread)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop delivering; idempotent, joins threads, closes streams."""
        raise NotImplementedError

    def position(self) -> float:
        """Seconds of audio delivered to the ring so far (frames_written / sample_rate)."""
        return self.ring.frames_written / self.sample_rate

    @property
    def failed(self) -> str | None:
        """None while healthy; a message once the source has died. Cheap: poll it every frame."""
        return self._failed

    def _fail(self, message: str) -> None:
        # The first failure wins; the live loop logs it once and shows it in the HUD (DESIGN §8).
        if self._failed is None:
            self._failed = message
            log.debug("audio source %s failed: %s", self.name, message)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.sample_rate} Hz>"
