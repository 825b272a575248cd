"""Audio sources: where the ring buffer's samples come from (DESIGN §1, §8).

- DeviceSource (devices.py): a PortAudio input (PyAudio, callback mode). The
  callback only copies the block into the ring and returns.
- FileSource: a decoded file played into the ring at wall-clock pace.
- SyntheticSource: a built-in, deterministic 120 BPM beat, so `livecppn live`
  always has something to react to, even on a machine with no input at all.

Every source owns one RingBuffer and (at most) one thread besides the caller's.
A source that dies mid-show (device unplugged, decode error) sets `failed` and
the ring simply stops growing: the render loop keeps going in silence.

PyAudio and PyAV are imported when first needed, so importing this module
does no work and needs neither.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time

import numpy as np

from .base import AudioError, AudioSource
from .devices import DeviceSource, list_devices  # noqa: F401 - part of this module's interface

log = logging.getLogger("livecppn.audio")

BLOCK_SECONDS = 0.01  # block size of the paced (file, synthetic) players
MAX_LAG_SECONDS = 0.25  # a paced player further behind than this skips ahead instead of bursting


class _PacedPlayer(AudioSource):
    """Plays a mono float32 array into the ring at wall-clock pace, in ~10 ms blocks, on its own thread.

    Each block is written when its last sample is due, as a device would deliver it.
    """

    def __init__(self, name: str, samples: np.ndarray, sample_rate: int, loop: bool):
        super().__init__(name, sample_rate)
        self._samples = samples
        self._loop = loop
        self._pos = 0  # next sample of `samples` to play
        self._block = np.empty(max(1, round(BLOCK_SECONDS * sample_rate)), dtype=np.float32)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._finished = False

    @property
    def finished(self) -> bool:
        """True once a non-looping player has played its last sample."""
        return self._finished

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"livecppn-audio {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        """Runs on the player's thread."""
        try:
            self._pace()
        except Exception as e:  # the show goes on in silence; `failed` says why
            self._fail(f"{type(e).__name__}: {e}")

    def _pace(self) -> None:
        rate, block = self.sample_rate, len(self._block)
        t0, sent = time.monotonic(), 0
        while not self._stopping.is_set():
            due = (time.monotonic() - t0) * rate
            if due - sent > MAX_LAG_SECONDS * rate:  # we were stalled (suspended process): skip, don't burst
                t0, due = time.monotonic() - sent / rate, sent
            while sent + block <= due:
                n = self._fill(self._block)
                if n:
                    self.ring.write(self._block[:n])
                sent += block
                if n < block:
                    self._finished = True
                    return
            self._stopping.wait(max(0.0, t0 + (sent + block) / rate - time.monotonic()))

    def _fill(self, out: np.ndarray) -> int:
        """Copy the next samples into `out`, wrapping when looping; returns how many were copied."""
        samples, total, filled = self._samples, len(self._samples), 0
        while filled < len(out) and total:
            if self._pos >= total:
                if not self._loop:
                    break
                self._pos = 0
            k = min(len(out) - filled, total - self._pos)
            out[filled:filled + k] = samples[self._pos:self._pos + k]
            filled += k
            self._pos += k
        return filled


# --- synthetic beat ----------------------------------------------------------------------------

_LOOP_BARS = 4  # the pattern repeats every 4 bars (bass line and chords)
_BASS_HZ = (55.0, 43.65, 65.41, 49.0)  # A1 F1 C2 G1, one per bar
_PAD_HZ = ((220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (261.63, 329.63, 392.0), (196.0, 246.94, 293.66))


@functools.lru_cache(maxsize=4)
def _beat_loop(sample_rate: int, bpm: float) -> np.ndarray:
    """One seamless 4-bar loop of the synthetic beat (read-only, cached)."""
    sr, beat = sample_rate, 60.0 / bpm
    length = round(_LOOP_BARS * 4 * beat * sr)
    mix = np.zeros(length)
    rng = np.random.default_rng(20240601)  # deterministic: the same hats every run

    def place(sound: np.ndarray, at: float) -> None:
        idx = (round(at * sr) + np.arange(len(sound))) % length  # tails wrap, so the loop is seamless
        np.add.at(mix, idx, sound)

    def env_t(seconds: float) -> np.ndarray:
        return np.arange(round(seconds * sr)) / sr

    t = env_t(min(0.35, 0.9 * beat))  # kick: ~55 Hz sine with a fast pitch drop from ~150 Hz
    freq = 55.0 + 95.0 * np.exp(-t / 0.03)
    kick = 0.9 * np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.15) * (1 - np.exp(-t / 0.001))
    t = env_t(0.05)  # closed hi-hat: a short noise burst, high-passed after the envelope so no click is left
    spectrum = np.fft.rfft(rng.standard_normal(len(t)) * np.exp(-t / 0.012) * (1 - np.exp(-t / 0.0005)))
    spectrum[: int(7000 * len(t) / sr)] = 0
    noise = np.fft.irfft(spectrum, len(t))
    hat = 0.25 * noise / np.max(np.abs(noise))

    t = env_t(0.9 * beat)  # bass: re-struck on every beat, with the kick, fading out before the next
    bass_env = (1 - np.exp(-t / 0.005)) * np.exp(-t / 0.4) * np.clip((0.9 * beat - t) / 0.02, 0, 1)
    t_bar = env_t(4 * beat)  # pad: one chord per bar, slow swell, crossfaded at the bar line
    pad_env = np.clip(t_bar / 0.15, 0, 1) * np.clip((4 * beat - t_bar) / 0.15, 0, 1)
    for bar in range(_LOOP_BARS):
        f = _BASS_HZ[bar]
        bass = 0.3 * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) * bass_env
        place(sum(0.05 * np.sin(2 * np.pi * fp * t_bar) for fp in _PAD_HZ[bar]) * pad_env, bar * 4 * beat)
        for b in range(4):
            at = (bar * 4 + b) * beat
            place(kick, at)
            place(bass, at)
            place(hat, at + beat / 2)
    mix *= 0.8 / np.max(np.abs(mix))
    loop = mix.astype(np.float32)
    loop.flags.writeable = False  # shared through the cache
    return loop


def synthetic_beat(seconds: float, sample_rate: int = 48000, bpm: float = 120.0) -> np.ndarray:
    """The built-in beat as mono float32, `seconds` long: four-on-the-floor kick, off-beat
    hats, a bass line and pad chords; deterministic. Kicks fall exactly on multiples of 60/bpm s.
    """
    if not (bpm > 0 and sample_rate > 0):
        raise ValueError(f"synthetic_beat needs bpm > 0 and sample_rate > 0, got {bpm}, {sample_rate}")
    return np.resize(_beat_loop(int(sample_rate), float(bpm)), max(0, round(seconds * sample_rate)))


class SyntheticSource(_PacedPlayer):
    """The built-in beat, generated on its own thread at real-time pace (~10 ms blocks)."""

    def __init__(self, sample_rate: int = 48000, bpm: float = 120.0):
        synthetic_beat(0, sample_rate, bpm)  # validates the arguments
        super().__init__(f"synthetic beat ({bpm:g} BPM)", _beat_loop(int(sample_rate), float(bpm)),
                         sample_rate, loop=True)
        self.bpm = float(bpm)


# --- files ---------------------------------------------------------------------------------------

def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a whole file (anything ffmpeg reads) to (mono float32 samples, its own sample rate).

    Raises AudioError naming the file and the problem. Also the offline renderer's reader.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"audio file {path!r}: no such file")
    try:
        import av
    except ImportError as e:
        raise AudioError(f"audio file {path!r}: decoding needs PyAV (pip install av): {e}") from e
    chunks = []
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise AudioError(f"audio file {path!r}: has no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate)
            # Planar float at the file's own layout, then the channel mean: the same mixdown as the
            # ring applies to a live stereo input (ffmpeg's own mono downmix is 3 dB hotter).
            resampler = av.AudioResampler(format="fltp", rate=rate)
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(None))  # flush
    except av.FFmpegError as e:
        raise AudioError(f"audio file {path!r}: cannot decode: {getattr(e, 'strerror', None) or e}") from e
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if not len(samples):
        raise AudioError(f"audio file {path!r}: decoded no audio samples")
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return samples, rate


class FileSource(_PacedPlayer):
    """A file decoded up front (PyAV) and played into the ring at real-time pace, looping if `loop`.

    Raises AudioError at construction for a missing or undecodable file.
    `samples` is the decoded mono audio (read-only), for offline use.
    """

    def __init__(self, path: str | os.PathLike, loop: bool = True):
        samples, rate = load_audio(path)
        samples.flags.writeable = False
        super().__init__(f"file: {os.path.basename(os.fspath(path))}", samples, rate, loop)
        self.path = os.fspath(path)
        self.samples = samples


def open_source(spec: str | None) -> AudioSource:
    """The CLI's --audio: None/""/"default" → default input, "synthetic" → built-in beat,
    an existing file → FileSource, anything else → a device index or name.

    With no usable default input, logs one warning and returns SyntheticSource():
    the show must always run. A named device or file that cannot be opened raises AudioError.
    """
    key = spec.strip().lower() if spec is not None else ""
    if key in ("", "default"):
        try:
            return DeviceSource(None)
        except AudioError as e:
            log.warning("no usable audio input (%s); playing the built-in synthetic beat instead", e)
            return SyntheticSource()
    if key == "synthetic":
        return SyntheticSource()
    if os.path.isfile(spec):
        return FileSource(spec)
    try:
        return DeviceSource(spec)
    except AudioError as e:
        raise AudioError(f"--audio {spec!r} is neither an existing file nor a usable input device: {e}") from e
