"""Audio sources: where the ring buffer's samples come from (DESIGN §1, §8).

- DeviceSource (devices.py): a PortAudio input (PyAudio, callback mode). The
  callback only copies the block into the ring and returns. loopback_source()
  (devices.py) records what the computer plays.
- FileSource: a decoded file played to the output device (playback.py), the ring
  receiving each block as it is heard; or, muted, paced at wall-clock speed.
- SyntheticSource: a built-in, deterministic 120 BPM beat, so `livecppn live`
  always has something to react to, even on a machine with no input at all.

Every source owns one RingBuffer and (at most) one thread besides the caller's.
A source that dies mid-show (device unplugged, decode error) sets `failed` and
the ring simply stops growing: the render loop keeps going in silence. A device
that comes back is reopened into the same ring.

PyAudio and PyAV are imported when first needed, so importing this module
does no work and needs neither.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time

import numpy as np

from .base import AudioError, AudioSource
from .devices import DeviceSource, list_devices  # noqa: F401 - part of this module's interface
from .loopback import loopback_source
from .playback import Playback, output_format

log = logging.getLogger("livecppn.audio")

BLOCK_SECONDS = 0.01  # block size of the paced (file, synthetic) players
MAX_LAG_SECONDS = 0.25  # a paced player further behind than this skips ahead instead of bursting
SILENT_STATUS = "ok (no output: analysing silently)"  # a file that could not be played to a device


class _PacedPlayer(AudioSource):
    """Plays float32 frames (n, channels) into the ring at wall-clock pace, in ~10 ms blocks, on its
    own thread. Each block is written when its last sample is due, as a device would deliver it.
    """

    def __init__(self, name: str, frames: np.ndarray, sample_rate: int, loop: bool):
        frames = frames if frames.ndim == 2 else frames[:, None]  # (n,) is mono
        super().__init__(name, sample_rate, frames.shape[1])
        self._frames = frames
        self._loop = loop
        self._pos = 0  # absolute index of the next frame to play (not wrapped)
        self._block = np.empty((max(1, round(BLOCK_SECONDS * sample_rate)), frames.shape[1]), dtype=np.float32)
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
                n = self._read(self._block, self._pos)
                if n:
                    self.ring.write(self._block[:n])
                self._pos += n
                sent += block
                if n < block:
                    self._finished = True
                    return
            self._stopping.wait(max(0.0, t0 + (sent + block) / rate - time.monotonic()))

    def _read(self, out: np.ndarray, start: int) -> int:
        """Copy frames from absolute position `start` (wrapping when looping) into `out`; returns how
        many were copied (fewer than len(out) only at the end of a non-looping player). Any thread."""
        frames, total, filled = self._frames, len(self._frames), 0
        while filled < len(out) and total:
            pos = start + filled
            if pos >= total:
                if not self._loop:
                    break
                pos %= total
            k = min(len(out) - filled, total - pos)
            out[filled:filled + k] = frames[pos:pos + k]
            filled += k
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
    kick *= np.clip((t[-1] - t) / 0.008, 0, 1)  # 8 ms fade-out: a cut-off tail clicks, and clicks are onsets
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

@contextlib.contextmanager
def _audio_stream(path: str):
    """The first audio stream of `path`, open; PyAV's errors become AudioError naming the file."""
    if not os.path.isfile(path):
        raise AudioError(f"audio file {path!r}: no such file")
    try:
        import av
    except ImportError as e:
        raise AudioError(f"audio file {path!r}: decoding needs PyAV (pip install av): {e}") from e
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise AudioError(f"audio file {path!r}: has no audio stream")
            yield av, container, container.streams.audio[0]
    except av.FFmpegError as e:
        raise AudioError(f"audio file {path!r}: cannot decode: {getattr(e, 'strerror', None) or e}") from e


def probe_audio(path: str | os.PathLike) -> tuple[int, int]:
    """(sample rate, channels) of a file's first audio stream, without decoding it. Raises AudioError."""
    path = os.fspath(path)
    with _audio_stream(path) as (_, _, stream):
        ctx = stream.codec_context
        return int(ctx.sample_rate or stream.rate), int(ctx.channels)


def decode_audio(path: str | os.PathLike, rate: int | None = None,
                 channels: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole file (anything ffmpeg reads) to (planar float32 (channels, n), rate).

    `rate`/`channels` (1 or 2) convert with ffmpeg's resampler; None keeps the file's own.
    Raises AudioError naming the file and the problem.
    """
    path = os.fspath(path)
    chunks = []
    with _audio_stream(path) as (av, container, stream):
        rate = int(rate or stream.codec_context.sample_rate or stream.rate)
        layout = {None: None, 1: "mono", 2: "stereo"}[channels]
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))  # flush
    planar = np.concatenate(chunks, axis=1).astype(np.float32, copy=False) if chunks else np.zeros((1, 0), np.float32)
    if not planar.shape[1]:
        raise AudioError(f"audio file {path!r}: decoded no audio samples")
    np.nan_to_num(planar, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return planar, rate


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a whole file to (mono float32 samples, its own sample rate). Raises AudioError
    naming the file and the problem. Also the offline renderer's reader."""
    planar, rate = decode_audio(path)
    # The channel mean: the same mixdown as the ring applies to a live stereo input
    # (ffmpeg's own mono downmix is 3 dB hotter).
    return planar.mean(axis=0, dtype=np.float32), rate


class FileSource(_PacedPlayer):
    """A file decoded up front (PyAV), looping if `loop`. Raises AudioError at construction for a
    missing or undecodable file.

    play=True: played to the output device (`output`: index, name or None for the default) so the
    performer hears it, converted to a rate and layout the device takes (more than two channels
    become stereo). The output callback writes each block into the ring as it reaches the speaker
    (`output_latency` seconds after it was handed over; see playback.py), so the analysis is in
    sync with what is heard. If no output can be opened, or the output dies mid-show, ONE warning
    is logged and the file goes on silently at wall-clock pace from where it was (the show goes on).
    play=False (`--mute`): silent wall-clock pacing, mono at the file's own rate.
    `frames`: what the ring receives, (n, channels) at `sample_rate`; `samples`: its mono mix
    (both read-only).
    """

    def __init__(self, path: str | os.PathLike, loop: bool = True, play: bool = True, block: int = 512,
                 output: int | str | None = None):
        self.path = os.fspath(path)
        name = f"file: {os.path.basename(self.path)}"
        self._play, self._out_block, self._out_device = play, int(block), output
        self._output: Playback | None = None
        self._warned = False
        self.output_latency = 0.0  # seconds between handing a block to the device and the ring seeing it
        fmt = None
        if play:
            rate, channels = probe_audio(self.path)  # a bad file is an error, a missing output is not
            try:
                fmt = output_format(rate, channels, device=output)
            except AudioError as e:
                self._play = False
                self._warn_silent(name, e)
        planar, rate = decode_audio(self.path, *(fmt[1:] if fmt else (None, None)))
        samples = planar.mean(axis=0, dtype=np.float32)
        frames = np.ascontiguousarray(planar.T) if fmt else samples[:, None]
        del planar
        for a in (samples, frames):
            a.flags.writeable = False
        super().__init__(name, frames, rate, loop)
        if self._warned:
            self._status = SILENT_STATUS
        self.frames = frames
        self.samples = samples
        self.output_device = fmt[0] if fmt else None

    def _warn_silent(self, name: str, why) -> None:
        if not self._warned:  # one warning per source: the show goes on
            self._warned = True
            log.warning("%s: cannot play it to an output device (%s); analysing it silently instead", name, why)

    @property
    def finished(self) -> bool:
        output = self._output
        return self._finished or (output is not None and output.finished)

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._play:
            try:
                self._output = Playback(self._read, len(self._frames), self.sample_rate, self.ring.channels,
                                        self.ring, self._loop, self._out_block, self._out_device, start=self._pos)
                self.output_latency = self._output.output_latency
                self._output.start()
            except Exception as e:  # AudioError, or PortAudio refusing to start
                self._drop_output(e)
        super().start()  # the thread watches the output, or paces the file itself

    def _pace(self) -> None:
        """Runs on the player's thread: while the device plays, watch it; else pace silently."""
        output = self._output
        while output is not None and not self._stopping.wait(0.1):
            if not output.is_active():
                if output.finished:  # checked after is_active: the callback sets it before completing
                    self._finished = True
                    return
                self._drop_output("the output stream stopped")
                break
        if not self._stopping.is_set():
            super()._pace()

    def _drop_output(self, why) -> None:
        output, self._output = self._output, None
        if output is not None:
            self._pos = output.heard  # go on silently from what was last heard
            output.close()
        self._play = False
        self._status = SILENT_STATUS
        self._warn_silent(self.name, why)

    def stop(self) -> None:
        super().stop()
        output, self._output = self._output, None
        if output is not None:
            self._pos, self._finished = output.heard, self._finished or output.finished
            output.close()


def open_source(spec: str | None, mute: bool = False, block: int = 256) -> AudioSource:
    """The CLI's --audio: None/""/"default" → default input, "synthetic" → built-in beat,
    "loopback" → what the computer plays (loopback_source), an existing file → FileSource
    (played to the default output unless `mute`), anything else → a device index or name.
    `block`: frames per capture callback (devices and loopback).

    With no usable default input, logs one warning and returns SyntheticSource():
    the show must always run. A named device, loopback or file that cannot be opened raises AudioError.
    """
    key = spec.strip().lower() if spec is not None else ""
    if key in ("", "default"):
        try:
            return DeviceSource(None, block=block)
        except AudioError as e:
            log.warning("no usable audio input (%s); playing the built-in synthetic beat instead", e)
            return SyntheticSource()
    if key == "synthetic":
        return SyntheticSource()
    if key == "loopback":
        return loopback_source(block=block)
    if os.path.isfile(spec):
        return FileSource(spec, play=not mute)
    try:
        return DeviceSource(spec, block=block)
    except AudioError as e:
        raise AudioError(f"--audio {spec!r} is neither an existing file nor a usable input device: {e}") from e
