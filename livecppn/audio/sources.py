"""Audio sources: where the ring buffer's samples come from (DESIGN §1, §8).

- DeviceSource (devices.py): a PortAudio input (PyAudio, callback mode). The
  callback only copies the block into the ring and returns. loopback_source()
  (devices.py) records what the computer plays.
- FileSource: a decoded file played to the output device (playback.py), the ring
  receiving each block as it is heard; or, muted, paced at wall-clock speed.
- SyntheticSource: the built-in, deterministic 120 BPM beat (synth.py), so
  `livecppn live` always has something to react to, even on a machine with no
  input at all.

Files are decoded up front by decode.py.

Every source owns one RingBuffer and (at most) one thread besides the caller's.
A source that dies mid-show (device unplugged, decode error) sets `failed` and
the ring simply stops growing: the render loop keeps going in silence. A device
that comes back is reopened into the same ring.

PyAudio and PyAV are imported when first needed, so importing this module
does no work and needs neither.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np

from .base import AudioError, AudioSource
from .decode import decode_audio, probe_audio
from .devices import DeviceSource, list_devices  # noqa: F401 - part of this module's interface
from .loopback import loopback_source
from .playback import Playback, output_format
from .synth import beat_loop, synthetic_beat

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


class SyntheticSource(_PacedPlayer):
    """The built-in beat, generated on its own thread at real-time pace (~10 ms blocks)."""

    def __init__(self, sample_rate: int = 48000, bpm: float = 120.0):
        synthetic_beat(0, sample_rate, bpm)  # validates the arguments
        super().__init__(f"synthetic beat ({bpm:g} BPM)", beat_loop(int(sample_rate), float(bpm)),
                         sample_rate, loop=True)
        self.bpm = float(bpm)
        self.fallback: str | None = None  # why it plays instead of the default input (open_source), if so


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

    With no usable default input, returns SyntheticSource() with `fallback` saying why (the show
    says it where the performer looks): the show must always run. A named device, loopback or file that
    cannot be opened raises AudioError.
    """
    key = spec.strip().lower() if spec is not None else ""
    if key in ("", "default"):
        try:
            return DeviceSource(None, block=block)
        except AudioError as e:
            source = SyntheticSource()
            source.fallback = f"no usable audio input ({e}); playing the built-in synthetic beat instead"
            return source
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
