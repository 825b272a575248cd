"""Device capture: a PortAudio input through PyAudio (DESIGN §1).

The callback only copies the block into the ring and returns; a watchdog
thread notices a device that vanished. PyAudio is imported when first needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

import numpy as np

from .base import AudioError, AudioSource

log = logging.getLogger("livecppn.audio")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C-level stderr: PortAudio's ALSA/JACK probes print pages of harmless errors
    while enumerating or opening devices. Only used around those calls, never while streaming."""
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _portaudio():
    """(the pyaudio module, a new PyAudio instance: terminate() it when done)."""
    try:
        import pyaudio
    except ImportError as e:
        raise AudioError(f"device capture needs PyAudio and PortAudio (pip install pyaudio): {e}") from e
    with _quiet_stderr():
        try:
            return pyaudio, pyaudio.PyAudio()
        except Exception as e:
            raise AudioError(f"PortAudio failed to start: {e}") from e


def _devices(pa) -> list[dict]:
    out = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        out.append({"index": i, "name": str(info["name"]),
                    "max_input_channels": int(info["maxInputChannels"]),
                    "max_output_channels": int(info["maxOutputChannels"]),
                    "default_sample_rate": float(info["defaultSampleRate"])})
    return out


def list_devices() -> list[dict]:
    """All PortAudio devices: index, name, max_input_channels, max_output_channels, default_sample_rate."""
    _, pa = _portaudio()
    try:
        return _devices(pa)
    finally:
        pa.terminate()


def _resolve_device(pa, device: int | str | None) -> dict:
    """The input device for `device`: an index, a name (exact, case-insensitive, then substring), or None."""
    inputs = [d for d in _devices(pa) if d["max_input_channels"] > 0]
    available = ("available input devices: " + ", ".join(f"{d['index']}: {d['name']}" for d in inputs)
                 if inputs else "there are no input devices (is a sound server running?)")
    if device is None:
        try:
            device = int(pa.get_default_input_device_info()["index"])
        except OSError as e:  # PyAudio's "No Default Input Device Available"
            raise AudioError(f"no default input device; {available}") from e
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if isinstance(device, int):
        matches = [d for d in inputs if d["index"] == device]
        what = f"input device {device}"
    else:
        wanted = device.strip().lower()
        matches = ([d for d in inputs if d["name"].lower() == wanted]
                   or [d for d in inputs if wanted in d["name"].lower()])
        what = f"input device {device!r}"
    if not matches:
        raise AudioError(f"{what} not found; {available}")
    return matches[0]


class DeviceSource(AudioSource):
    """A PortAudio input stream (PyAudio callback mode, float32) feeding the ring.

    `device`: index, name (exact match first, case-insensitive, then substring)
    or None for the default input. Channels = min(device inputs, 2); the rate
    is the device's default unless given. Raises AudioError, naming the device
    and listing the inputs, if it cannot be found or opened. A watchdog thread
    sets `failed` if the stream ends (device vanished) or stops delivering.
    """

    STALL_SECONDS = 5.0  # no new audio for this long after it had been flowing: the device is gone
    STARTUP_SECONDS = 10.0  # sound servers can take a few seconds to deliver the first block

    def __init__(self, device: int | str | None = None, sample_rate: int | None = None, block: int = 256):
        pyaudio, self._pa = _portaudio()
        self._stream = None
        self._watchdog: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closed = False
        self.name, channels, rate = f"device {device!r}", None, None  # for errors before the device is known
        try:
            info = _resolve_device(self._pa, device)
            channels = max(1, min(info["max_input_channels"], 2))
            rate = int(sample_rate or round(info["default_sample_rate"]))
            super().__init__(f"device {info['index']}: {info['name']}", rate, channels)
            self._continue, self._abort = pyaudio.paContinue, pyaudio.paAbort
            with _quiet_stderr():
                self._stream = self._pa.open(format=pyaudio.paFloat32, channels=channels, rate=rate, input=True,
                                             input_device_index=info["index"], frames_per_buffer=int(block),
                                             stream_callback=self._callback, start=False)
        except AudioError:
            self._pa.terminate()
            raise
        except Exception as e:  # PortAudio reports through OSError / ValueError
            self._pa.terminate()
            raise AudioError(f"cannot open input {self.name} ({channels} ch, {rate} Hz): {e}") from e

    def _callback(self, in_data, frame_count, time_info, status):
        """Runs on the audio thread: copy and return. No FFT, no allocation, no logging."""
        if self._failed is not None:
            return None, self._abort  # declared dead: the ring stops growing, as promised
        self.ring.write(np.frombuffer(in_data, dtype=np.float32))
        return None, self._continue

    def start(self) -> None:
        if self._closed or self._watchdog is not None:
            return
        try:
            self._stream.start_stream()
        except Exception as e:  # the show goes on in silence
            self._fail(f"cannot start input stream: {e}")
            return
        self._watchdog = threading.Thread(target=self._watch, name=f"livecppn-audio watchdog {self.name}",
                                          daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        """Runs on the watchdog thread: notices a stream that ended or stalled."""
        last_written, last_change = self.ring.frames_written, time.monotonic()
        while not self._stopping.wait(0.1):
            try:
                active = self._stream.is_active()
            except Exception:
                active = False
            if not active:
                self._fail("the input stream stopped (device disconnected?)")
                return
            written, now = self.ring.frames_written, time.monotonic()
            if written != last_written:
                last_written, last_change = written, now
            elif now - last_change > (self.STALL_SECONDS if written else self.STARTUP_SECONDS):
                self._fail(f"no audio from the device for {now - last_change:.0f} s (device disconnected?)")
                return

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join()
        try:
            with _quiet_stderr():
                self._stream.stop_stream()
                self._stream.close()
        except Exception as e:  # a vanished device may refuse to close cleanly; nothing left to do
            log.debug("closing %s: %s", self.name, e)
        self._pa.terminate()
