"""Playing a decoded file to an output device, with the ring hearing what the performer hears.

The output callback fills the device's block and writes into the ring the samples that are
reaching the speaker now: the frames it handed to the device `output_latency` seconds ago.
So the analysis is in sync with the sound, not ahead of it by the output buffer.

Threads: PortAudio's output callback thread (fill, write the ring, return) and the caller's.
PyAudio is imported when first needed.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from .base import AudioError
from .devices import _close, _portaudio, _quiet_stderr, _resolve_device, _terminate
from .ring import RingBuffer

log = logging.getLogger("livecppn.audio")

Reader = Callable[[np.ndarray, int], int]  # read(out, start): frames from absolute `start` into `out`


def output_format(rate: int, channels: int, device: int | str | None = None) -> tuple[str, int, int]:
    """(device name, rate, channels) to play audio of `rate` Hz and `channels` channels on the
    output `device` (index, name, or None: the default output).

    Keeps the file's rate and layout when the device takes them (float32); otherwise the
    device's default rate and/or stereo, for the caller to convert to. More than two channels
    are mixed to stereo. Raises AudioError when there is no usable output device.
    """
    pyaudio, pa = _portaudio()
    try:
        info = _resolve_device(pa, device, kind="output")
        most = int(info["max_output_channels"])
        layouts = dict.fromkeys(c for c in (min(channels, 2), 2, 1) if c <= most)  # ordered, unique
        rates = dict.fromkeys((int(rate), int(round(info["default_sample_rate"]))))
        for r in rates:
            for c in layouts:
                try:
                    if pa.is_format_supported(r, output_device=info["index"], output_channels=c,
                                              output_format=pyaudio.paFloat32):
                        return info["name"], r, c
                except ValueError:  # PyAudio's "Invalid sample rate" / "Invalid number of channels"
                    continue
        raise AudioError(f"output device {info['name']!r} takes none of {list(rates)} Hz x "
                         f"{list(layouts)} channels (float32)")
    finally:
        _terminate(pa)


class Playback:
    """An output stream playing frames (read through `read`) at `rate`, `channels`, on `device`,
    and writing each frame into `ring` once it has reached the speaker.

    `loop`: wrap around at `total` frames; otherwise play to the end, then finish (`finished`).
    `start`: the absolute frame to begin with (to resume where a previous output left off).
    Raises AudioError if the stream cannot be opened. start()/close() from the caller's thread.
    """

    def __init__(self, read: Reader, total: int, rate: int, channels: int, ring: RingBuffer, loop: bool,
                 block: int = 512, device: int | str | None = None, start: int = 0):
        self._read, self._total, self._loop, self._ring = read, int(total), loop, ring
        self._out = np.zeros((int(block), channels), dtype=np.float32)  # the device's block
        self._heard = np.zeros((int(block), channels), dtype=np.float32)  # what reaches the ring
        self.played = int(start)  # absolute frames handed to the device
        self.heard = int(start)  # absolute frames written to the ring (what has reached the speaker)
        self.finished = False
        pyaudio, self._pa = _portaudio()
        try:
            index = _resolve_device(self._pa, device, kind="output")["index"]
            self._go, self._done = pyaudio.paContinue, pyaudio.paComplete
            with _quiet_stderr():
                self._stream = self._pa.open(format=pyaudio.paFloat32, channels=channels, rate=rate, output=True,
                                             output_device_index=index, frames_per_buffer=int(block),
                                             stream_callback=self._callback, start=False)
            self.output_latency = float(self._stream.get_output_latency())  # seconds, PortAudio's estimate
        except AudioError:
            _terminate(self._pa)
            raise
        except Exception as e:  # PortAudio reports through OSError / ValueError
            _terminate(self._pa)
            raise AudioError(f"cannot open output ({channels} ch, {rate} Hz): {e}") from e
        self._lag = round(self.output_latency * rate)

    def _callback(self, in_data, frame_count, time_info, status):
        """Runs on the audio thread: fill the device block, write what is heard now into the ring.
        No analysis, no logging; the only allocation is the bytes PyAudio insists on."""
        out = self._out[:frame_count]
        n = self._read(out, self.played)
        out[n:] = 0.0  # past the end of a file that does not loop
        self.played += frame_count
        heard_until = self.played - self._lag
        if not self._loop:
            heard_until = min(heard_until, self._total)
        while self.heard < heard_until:
            k = self._read(self._heard[:min(len(self._heard), heard_until - self.heard)], self.heard)
            if not k:
                break
            self._ring.write(self._heard[:k])
            self.heard += k
        if not self._loop and self.heard >= self._total:
            self.finished = True
            return out.tobytes(), self._done
        return out.tobytes(), self._go

    def start(self) -> None:
        with _quiet_stderr():
            self._stream.start_stream()

    def is_active(self) -> bool:
        try:
            return bool(self._stream.is_active())
        except Exception:
            return False

    def close(self) -> None:
        """Idempotent. Runs on the caller's thread."""
        stream, self._stream = self._stream, None
        if stream is not None:
            _close(stream, self._pa)
