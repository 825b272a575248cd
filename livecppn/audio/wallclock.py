"""Where time.monotonic() falls on the audio clock, live.

Render thread, inside `Analyzer.update`. Two uses: tempo sources timed by the
wall clock (Link) are put on the audio clock with it, and the beat clock is
read at "now" rather than at the newest sample, which arrived up to a block
(plus scheduling delay) ago: a beat shown to within a millisecond or two, not
jittering by a block (10 ms for the synthetic source).

Audio reaches the ring in blocks, each written a varying delay after its last
sample and never before, so audio time minus monotonic time, noted at each
update, is at its truest when it is largest. The offset is the largest seen,
let down by at most `DRIFT` seconds per second so that it follows a sound card
whose clock runs slower than the system's; audio later than `STALE` behind it
(a stall, a restarted source) starts the estimate again.
"""

from __future__ import annotations

DRIFT = 1e-3  # s/s: 1000 ppm, far more than any sound card's drift, far less than a block's jitter per second
STALE = 0.05  # s: more than a block's jitter (a 2048-sample block at 44.1 kHz is 46 ms)


class WallClock:
    """audio time ≈ monotonic time + `offset`. One caller (the render thread)."""

    def __init__(self) -> None:
        self.offset: float | None = None  # None until the first observation
        self._at = 0.0

    def observe(self, audio_time: float, mono: float) -> None:
        """The audio clock stood at `audio_time` (its newest sample) at monotonic time `mono`."""
        seen = audio_time - mono
        let_down = DRIFT * (mono - self._at)
        if self.offset is None or seen > self.offset - let_down or seen < self.offset - STALE:
            self.offset = seen
        else:
            self.offset -= let_down
        self._at = mono

    def audio_time(self, mono: float) -> float | None:
        """The audio-clock time of monotonic time `mono`; None before any observation."""
        return None if self.offset is None else mono + self.offset
