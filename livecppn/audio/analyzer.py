"""The Analyzer: all of livecppn's listening in one object, live or offline.

Runs on the render thread (live, `update` once per frame on the source's ring)
or in an offline loop (`process`, the samples that arrived since the previous
frame). Both paths do the same work, so the live look and the offline render
match (DESIGN §2):

1. Every new sample, exactly once, hop by hop (~5.3 ms) and in order, goes
   through aubio's onset detector (the `onset` flags and `onsets` list) and
   the tempo tracker's onset function (odf.py, tracker.py). The frame rate does not
   change what they find.
2. Once per call, the spectral features (features.py) are computed on the
   newest `window` samples, and the beat clock is read at the audio time of
   the newest sample (live: of now, which the newest sample trails by up to a
   block; wallclock.py).

Live, it never waits for audio: `update` takes whatever the ring holds, and if
it has fallen more than `max_lag` behind (a stalled frame, a suspended
process), it skips to the newest audio instead of catching up, so work never
queues behind a slow frame (DESIGN §1); `skipped_frames` counts what it dropped.

The seed feature `beat` pulses on the beat clock whenever a tempo is known
(tracker, tap or external clock), and on onsets otherwise. The clock's beat is
predicted, so the pulse lands on the beat with no detection delay, once per
beat, not on every hi-hat or ghost note, and it follows the performer's tap
or MIDI clock; onsets are the fallback until the tracker locks, and for music
without a steady pulse. The tracker's pulse stops under the silence gate
(silence stays calm); a tapped or external tempo keeps pulsing, as asked.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .beatclock import BeatClock
from .config import FeatureConfig
from .features import AudioFeatures, FeatureExtractor
from .odf import BandFlux, aubio_module
from .ring import RingBuffer
from .smoothing import auto_gain, follow, retention
from .tracker import TempoTracker
from .wallclock import WallClock

MAX_ONSETS = 10000  # onset times kept for `livecppn analyze`
HOP_AT_48K = 256


@dataclass(frozen=True)
class AudioSpan:
    """The audio one live update consumed: `length` samples of the audio clock from `start`; the last
    len(samples) of them are `samples` (valid until the next update), any before them were skipped
    (silence)."""

    start: int
    length: int
    samples: np.ndarray

    def padded(self) -> np.ndarray:
        """The whole span, skipped samples as silence."""
        out = np.zeros(self.length, np.float32)
        n = min(self.length, len(self.samples))
        if n:
            out[self.length - n:] = self.samples[len(self.samples) - n:]
        return out


def hop_for_rate(sample_rate: int) -> int:
    """Analysis hop: the power of two nearest 256 samples at 48 kHz (~5.3 ms): 256 at 44.1/48, 512 at 96 kHz."""
    return 1 << max(5, round(math.log2(HOP_AT_48K * sample_rate / 48000)))


class OnsetDetector:
    """aubio onset detection, one hop at a time. Render thread; one caller; hops in order, exactly `hop` long.

    aubio's own silence gate looks at the hop in which it *reports* an onset,
    ~5 hops after the sound, so a click followed by digital silence (a click
    track, a loopback capture) is thrown away. Its gate is turned off here and
    ours looks at the loudest hop since the onset instead.
    """

    def __init__(self, sample_rate: int, hop: int, method: str = "hfc", threshold: float | None = None,
                 min_interval: float = 0.03, silence_db: float = -60.0):
        self.hop = hop
        self._rate = sample_rate
        self._onset = aubio_module().onset(method, 4 * hop, hop, sample_rate)
        if threshold is not None:
            self._onset.set_threshold(threshold)
        self._onset.set_minioi_s(min_interval)
        self._onset.set_silence(-math.inf)
        self._silence = 10 ** (silence_db / 10)  # as a mean square
        self._levels = [0.0] * (math.ceil(self._onset.get_delay() / hop) + 3)  # mean squares of recent hops
        self._fed = 0  # samples aubio has seen; its onset positions count from its own start

    def __call__(self, hop_samples: np.ndarray) -> float | None:
        """Feed one hop (float32, contiguous). Returns how many seconds before the end of this hop
        the detected onset happened (aubio compensates its own look-ahead), or None."""
        found = self._onset(hop_samples)[0]
        self._fed += self.hop
        self._levels[self._fed // self.hop % len(self._levels)] = float(np.dot(hop_samples, hop_samples)) / self.hop
        if not found or max(self._levels) < self._silence:
            return None
        return max(0.0, (self._fed - self._onset.get_last()) / self._rate)


class Analyzer:
    """Render thread (live) or offline loop. Consumes every new sample exactly once for onset/tempo
    (hop by hop, in order) and computes the spectral features on the newest window. Never blocks;
    never waits for audio. One caller; not thread-safe.
    """

    def __init__(self, sample_rate: int, config: FeatureConfig | None = None):
        self.extractor = FeatureExtractor(sample_rate, config)
        self.config = cfg = self.extractor.config
        self.sample_rate = int(sample_rate)
        self.window = cfg.window  # FFT window length in samples (at this rate)
        self.hop = hop_for_rate(self.sample_rate)
        self._tail = np.zeros(2 * self.window, dtype=np.float32)  # newest window, written twice: always contiguous
        self._hop_buf = np.zeros(self.hop, dtype=np.float32)
        self._read_buf = np.zeros(max(int(cfg.max_lag * self.sample_rate), self.window) + 1, dtype=np.float32)
        # Set by the show each frame (the `beat_lookahead` and `meter` parameters): the beat clock is read
        # this many seconds ahead, so beat-synced events fire early by the projector's latency; a meter of
        # 3 or 4 overrides the one heard in the audio (None: the tracker's).
        self.beat_lookahead = 0.0
        self.beats_per_bar: int | None = None
        self.reset()

    def reset(self) -> None:
        """Forget everything heard (features, onsets, tempo, taps, clock), as if just constructed."""
        cfg, rate = self.config, self.sample_rate
        self.extractor.reset()
        tc = cfg.tempo
        self._onset = OnsetDetector(rate, self.hop, tc.onset_method, tc.onset_threshold, tc.onset_min_interval,
                                    cfg.silence_db)
        self._pulse_fn = BandFlux(rate, self.hop)
        # Measured on clicks: the onset function peaks ~1.5 hops after the sound begins.
        self.tracker = TempoTracker(rate / self.hop, tc, odf_delay=1.5 * self.hop / rate)
        self.clock = BeatClock(tc.tap_gap, tc.clock_timeout)
        self.wall = WallClock()  # live: time.monotonic() onto the audio clock
        self.updated_at = 0.0  # live: the time.monotonic() second of the last update (its beat is the beat then)
        self._tail[:] = 0.0
        self._tail_at = 0  # where the next sample goes in _tail
        self._hop_fill = 0  # samples waiting in _hop_buf for a whole hop
        self._samples = 0  # audio clock, in samples: everything consumed or skipped
        self._pos: int | None = None  # live: the ring frame index to read next
        self.onsets: list[float] = []
        self.skipped_frames = 0
        # Live: the audio this frame's update consumed. The analyser is the one reader of the ring that
        # keeps a position; others (the recorder) take this span instead of reading the ring themselves.
        self.span = AudioSpan(0, 0, np.zeros(0, np.float32))
        self._onset_seen = False  # since the previous snapshot
        self._onset_time = -1.0
        self._odf_max = 0.0  # onset function peak since the previous snapshot
        self._odf_peak = cfg.tempo.onset_floor
        self._strength = 0.0
        self._pulse = 0.0

    @property
    def audio_time(self) -> float:
        """Audio-clock seconds at the end of the audio analysed (live: the ring's frame index / rate)."""
        return self._samples / self.sample_rate

    # --- tempo sources ----------------------------------------------------------------------------

    # Like everything here, these run on the render thread: a MIDI or OSC thread hands its clock and taps
    # to the render thread through the control queue (DESIGN §1), never calls them directly.

    def tap(self, t: float | None = None) -> float | None:
        """A tap at audio time `t` (default: now, `audio_time`). Two or more set the tempo; see BeatClock.
        Returns the tempo this tap set (None: it set none)."""
        return self.clock.tap(self.audio_time if t is None else float(t))

    def audio_time_at(self, mono: float) -> float:
        """Monotonic time `mono` on the audio clock: live, from the updates' timing (WallClock); else as if
        the newest audio analysed were now."""
        t = self.wall.audio_time(mono)
        return self.audio_time - (time.monotonic() - mono) if t is None else t

    def clear_tap(self) -> None:
        self.clock.clear_tap()

    def set_external_clock(self, bpm: float, beat_time: float) -> None:
        """An external clock (MIDI clock) says a beat fell at audio time `beat_time` at `bpm`.
        Overrides tap and tracker until clear_external_clock() or config.tempo.clock_timeout without an update."""
        self.clock.set_external(float(bpm), float(beat_time), self.audio_time)

    def clear_external_clock(self) -> None:
        self.clock.clear_external()

    def set_tempo(self, bpm: float) -> None:
        """Hold `bpm` as the tap tempo from now, going on from the beat shown (the `bpm` trigger)."""
        self.clock.set_tempo(float(bpm), self.audio_time)

    def set_link(self, bpm: float, beat_time: float, beat: int, quantum: int) -> None:
        """Ableton Link's session: beat `beat` of its timeline fell at audio time `beat_time` (bars of
        `quantum` beats). Overrides every other source until clear_link() or clock_timeout without an update."""
        self.clock.set_link(float(bpm), float(beat_time), int(beat), int(quantum), self.audio_time)

    def clear_link(self) -> None:
        self.clock.clear_link()

    # --- input -----------------------------------------------------------------------------------

    def update(self, ring: RingBuffer, dt: float) -> AudioFeatures:
        """Live: analyse every frame the ring received since the previous call; one snapshot.

        The first call starts one window before the ring's newest frame, and the
        audio clock is the ring's: frame index / sample_rate. When more than
        `max_lag` seconds wait (or the ring overwrote frames not yet read), the
        older ones are skipped and counted in `skipped_frames`. Use either
        `update` or `process` on one Analyzer, not both.
        """
        written = ring.frames_written
        start = None if self._pos is None else self._samples
        if self._pos is None:
            self._pos = self._samples = max(0, written - self.window)
        elif written < self._pos:  # a different or restarted ring: pick it up at its newest; the clock goes on
            self._pos = max(0, written - self.window)
        if written - self._pos > self.config.max_lag * self.sample_rate or self._pos < ring.oldest:
            self._skip(max(0, written - self.window) - self._pos)
        n = written - self._pos
        block = ring.read(self._pos, n, out=self._read_buf[:n])
        self._skip(n - len(block))  # overwritten while we read: skip those too
        self._pos = written
        self._consume(block)
        start = self._samples - len(block) if start is None else start
        self.span = AudioSpan(start, self._samples - start, block)
        self.updated_at = time.monotonic()
        self.wall.observe(self.audio_time, self.updated_at)
        return self._snapshot(dt, self.wall.audio_time(self.updated_at))

    def process(self, samples: np.ndarray, dt: float) -> AudioFeatures:
        """Offline: the mono float32 samples that arrived since the previous call (any length, 0 allowed)."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        self._consume(samples)
        return self._snapshot(dt)

    def _skip(self, n: int) -> None:
        if n <= 0:
            return
        self.skipped_frames += n
        self._pos = (self._pos or 0) + n
        self._samples += n
        self.tracker.skip(n // self.hop, self.audio_time)

    def _consume(self, x: np.ndarray) -> None:
        """Every sample once: into the window tail and, hop by hop, into onsets and tempo."""
        if len(x) and not np.isfinite(x).all():  # corrupt input: the bad samples count as silence
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        self._to_tail(x)
        hop, i = self.hop, 0
        if self._hop_fill:
            take = min(hop - self._hop_fill, len(x))
            self._hop_buf[self._hop_fill:self._hop_fill + take] = x[:take]
            self._hop_fill += take
            i = take
            self._samples += take
            if self._hop_fill == hop:
                self._hop_fill = 0
                self._run_hop(self._hop_buf)
        while i + hop <= len(x):
            self._samples += hop
            self._run_hop(x[i:i + hop])
            i += hop
        rest = len(x) - i
        if rest:
            self._hop_buf[:rest] = x[i:]
            self._hop_fill = rest
            self._samples += rest

    def _to_tail(self, x: np.ndarray) -> None:
        w = self.window
        x = x[-w:]
        k = len(x)
        at = self._tail_at
        first = min(k, w - at)  # before the wrap
        for off in (0, w):
            self._tail[at + off:at + off + first] = x[:first]
            self._tail[off:off + k - first] = x[first:]
        self._tail_at = (at + k) % w

    def _run_hop(self, hop_samples: np.ndarray) -> None:
        """One hop whose last sample is at `_samples`: onset detection and the tracker's onset function."""
        now = self._samples / self.sample_rate
        lag = self._onset(hop_samples)
        if lag is not None:
            t = now - lag
            self._onset_seen, self._onset_time = True, t
            self.onsets.append(t)
            if len(self.onsets) > MAX_ONSETS:
                del self.onsets[0]
        value, low, loud = self._pulse_fn(hop_samples)
        self._odf_max = max(self._odf_max, value)
        self.tracker.push(value, now, low, loud)

    # --- output ----------------------------------------------------------------------------------

    def _snapshot(self, dt: float, now: float | None = None) -> AudioFeatures:
        """The features; the beat clock is read at audio time `now` (live: WallClock's now; default: the
        newest sample)."""
        cfg = self.config
        w = self.window
        dt = self.extractor.analyse(self._tail[self._tail_at:self._tail_at + w], dt)
        gated = self.extractor.gated

        # Onset strength: the onset function's peak since the last snapshot, auto-gained like the levels.
        level, self._odf_max = self._odf_max, 0.0
        target, self._odf_peak = auto_gain(level, self._odf_peak, dt, gated, cfg.tempo.onset_floor, cfg.gain_attack,
                                           cfg.gain_decay)
        self._strength = follow(self._strength, target, dt, *cfg.times("onset_strength"))

        if now is None or now - self.audio_time < 1e-6:  # on time (or faster): exactly as offline
            now = self.audio_time
        beat = self.clock.state(now + self.beat_lookahead, self.tracker.grid, self.tracker.confidence,
                                self.beats_per_bar)
        onset, self._onset_seen = self._onset_seen, False  # OnsetDetector gates silence itself (silence_db)
        self._pulse *= retention(dt, cfg.beat_release)
        if beat.source == "none":
            if onset:
                self._pulse = 1.0
        elif beat.new_beats and not (gated and beat.source == "tracker"):
            self._pulse = 1.0
        return self.extractor.features(
            beat=self._pulse, onset_strength=self._strength, onset=onset, onset_time=self._onset_time,
            bpm=beat.bpm, beat_phase=beat.beat_phase, bar_phase=beat.bar_phase, beat_count=beat.beat_count,
            tempo_source=beat.source, audio_time=self.audio_time, beats_per_bar=beat.beats_per_bar,
            bpm_confidence=beat.confidence)
