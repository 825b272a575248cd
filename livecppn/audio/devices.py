"""Device capture: a PortAudio input through PyAudio, and loopback (DESIGN §1, §8).

- DeviceSource: an input chosen by index or name. The callback only copies the block into
  the ring (and counts overflows); a watchdog thread notices a device that vanished, then
  tries to reopen it by name about once a second, into the same ring.
- loopback capture (loopback.py) is a DeviceSource on the default sink's monitor.

PyAudio is imported when first needed; pactl (PulseAudio's CLI) only for loopback.
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
from .pulse import _pulse_source_env, pulse_sources

log = logging.getLogger("livecppn.audio")

# Pa_Initialize/Pa_Terminate are not thread-safe, and the watchdog re-creates PortAudio (the only
# way to re-enumerate devices) while the main thread may be listing or opening devices.
_PA_LOCK = threading.RLock()


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
    """(the pyaudio module, a new PyAudio instance: pass it to _terminate() when done)."""
    try:
        import pyaudio
    except ImportError as e:
        raise AudioError(f"audio devices need PyAudio and PortAudio (pip install pyaudio): {e}") from e
    if sys.platform == "win32":  # PyAudioWPatch, a drop-in fork, adds a WASAPI "[Loopback]" input per output
        with contextlib.suppress(ImportError):
            import pyaudiowpatch as pyaudio  # noqa: F811
    with _PA_LOCK, _quiet_stderr():
        try:
            return pyaudio, pyaudio.PyAudio()
        except Exception as e:
            raise AudioError(f"PortAudio failed to start: {e}") from e


def wasapi_default_loopback() -> dict | None:
    """Windows with PyAudioWPatch: the WASAPI loopback input of the default output device (what the
    speakers play), as PortAudio's device info; None elsewhere or where it has none. UNTESTED: written from
    PyAudioWPatch's documented `get_default_wasapi_loopback()`; no Windows machine has run it yet."""
    if sys.platform != "win32":
        return None
    _, pa = _portaudio()
    try:
        if not hasattr(pa, "get_default_wasapi_loopback"):  # plain PyAudio: no WASAPI loopback inputs
            return None
        try:
            return dict(pa.get_default_wasapi_loopback())
        except (OSError, LookupError):
            return None
    finally:
        _terminate(pa)


def _terminate(pa) -> None:
    with _PA_LOCK:
        pa.terminate()


def _close(stream, pa) -> None:
    """Close a PyAudio stream (Pa_CloseStream aborts an active one: no drain wait), then its PortAudio."""
    try:
        with _quiet_stderr():
            stream.close()
    except Exception as e:  # a vanished device may refuse to close cleanly; nothing left to do
        log.debug("closing an audio stream: %s", e)
    _terminate(pa)


def _default_index(get) -> int:
    try:
        return int(get()["index"])
    except OSError:  # PyAudio's "No Default ... Device Available"
        return -1


def _devices(pa) -> list[dict]:
    default_in = _default_index(pa.get_default_input_device_info)
    default_out = _default_index(pa.get_default_output_device_info)
    out = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        out.append({"index": i, "name": str(info["name"]),
                    "max_input_channels": int(info["maxInputChannels"]),
                    "max_output_channels": int(info["maxOutputChannels"]),
                    "default_sample_rate": float(info["defaultSampleRate"]),
                    "default_input": i == default_in, "default_output": i == default_out})
    return out


def list_devices() -> list[dict]:
    """All PortAudio devices, inputs and outputs: index, name, max_input_channels,
    max_output_channels, default_sample_rate, default_input, default_output."""
    _, pa = _portaudio()
    try:
        return _devices(pa)
    finally:
        _terminate(pa)


def _resolve_device(pa, device: int | str | None, kind: str = "input") -> dict:
    """The `kind` ("input"/"output") device for `device`: an index, a name (exact, case-insensitive,
    then substring), or None for the default. Raises AudioError listing the candidates."""
    candidates = [d for d in _devices(pa) if d[f"max_{kind}_channels"] > 0]
    available = (f"available {kind} devices: " + ", ".join(f"{d['index']}: {d['name']}" for d in candidates)
                 if candidates else f"there are no {kind} devices (is a sound server running?)")
    if device is None:
        default = [d for d in candidates if d[f"default_{kind}"]]
        if not default:
            raise AudioError(f"no default {kind} device; {available}")
        return default[0]
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if isinstance(device, int):
        matches = [d for d in candidates if d["index"] == device]
    else:
        wanted = device.strip().lower()
        matches = ([d for d in candidates if d["name"].lower() == wanted]
                   or [d for d in candidates if wanted in d["name"].lower()])
    if not matches:
        raise AudioError(f"{kind} device {device!r} not found; {available}")
    return matches[0]


# --- capture -------------------------------------------------------------------------------------

class _Stream:
    """One open PortAudio input stream and its PyAudio instance; a reconnect replaces it whole."""

    def __init__(self, source: "DeviceSource", pyaudio, pa, index: int):
        self.alive = True
        self.pa = pa
        self._source, self._ring = source, source.ring
        self._overflow = pyaudio.paInputOverflow
        self._go, self._abort = (None, pyaudio.paContinue), (None, pyaudio.paAbort)  # built once
        self.stream = pa.open(format=pyaudio.paFloat32, channels=source.ring.channels, rate=source.sample_rate,
                              input=True, input_device_index=index, frames_per_buffer=source.block,
                              stream_callback=self._callback, start=False)

    def _callback(self, in_data, frame_count, time_info, status):
        """Runs on the audio thread: count, copy, return. No FFT, no logging, no buffers allocated."""
        if not self.alive:
            return self._abort  # declared lost: the ring stops growing, as promised
        if status & self._overflow:
            self._source.overflows += 1
        self._ring.write(np.frombuffer(in_data, dtype=np.float32))
        return self._go

    def close(self) -> None:
        self.alive = False
        _close(self.stream, self.pa)


class DeviceSource(AudioSource):
    """A PortAudio input stream (PyAudio callback mode, float32) feeding the ring.

    `device`: index, name (exact match first, case-insensitive, then substring) or None for the
    default input. Channels: min(device inputs, 2) unless given (the ring mixes to mono on read);
    rate: the device's default unless given. `block`: frames per callback. `pulse_source`: the
    PulseAudio source to record (ALSA "pulse" device only); it is also watched by name.
    Raises AudioError, naming the device and listing the inputs, if it cannot be found or opened.

    Once started, a watchdog thread checks health every 0.1 s. A stream that ends, stalls or whose
    PulseAudio source vanished is closed, `failed`/`status` say so, and reopening the device by
    its name (at the same rate and channels, into the same ring) is tried about once a second.
    """

    STALL_SECONDS = 5.0  # no new audio for this long after it had been flowing: the device is gone
    STARTUP_SECONDS = 10.0  # sound servers can take a few seconds to deliver the first block
    CHECK_SECONDS = 0.1  # watchdog tick
    RETRY_SECONDS = 1.0  # reconnect attempts while lost
    PULSE_CHECK_SECONDS = 0.5  # pactl is a process: ask it at most this often

    def __init__(self, device: int | str | None = None, sample_rate: int | None = None, block: int = 256,
                 *, channels: int | None = None, pulse_source: str | None = None, name: str | None = None):
        if int(block) < 1:
            raise AudioError(f"audio block must be >= 1 frame, got {block}")
        pyaudio, pa = _portaudio()
        self._stream: _Stream | None = None
        self._watchdog: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closed = False
        self.name = name or f"device {device!r}"  # for errors before the device is known
        try:
            info = _resolve_device(pa, device)
            channels = int(channels or max(1, min(info["max_input_channels"], 2)))
            rate = int(sample_rate or round(info["default_sample_rate"]))
            super().__init__(name or f"device {info['index']}: {info['name']}", rate, channels)
            self.device_name, self.block, self.pulse_source = info["name"], int(block), pulse_source
            self._stream = self._open(pyaudio, pa, info)
        except BaseException:
            _terminate(pa)
            raise

    def _open(self, pyaudio, pa, info: dict) -> _Stream:
        """A new stream (not started) on `info` at the ring's rate and channels; raises AudioError."""
        try:
            with _quiet_stderr(), _pulse_source_env(self.pulse_source):
                return _Stream(self, pyaudio, pa, info["index"])
        except Exception as e:  # PortAudio reports through OSError / ValueError
            where = f" recording {self.pulse_source}" if self.pulse_source else ""
            raise AudioError(f"cannot open input {self.name}{where} ({self.ring.channels} ch, "
                             f"{self.sample_rate} Hz): {e}") from e

    def start(self) -> None:
        if self._closed or self._watchdog is not None:
            return
        try:
            self._stream.stream.start_stream()
        except Exception as e:  # the show goes on in silence; the watchdog retries
            self._lose(f"cannot start the input stream: {e}")
        self._watchdog = threading.Thread(target=self._watch, name=f"livecppn-audio watchdog {self.name}",
                                          daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        """Runs on the watchdog thread: health checks while capturing, reconnects while lost."""
        now = time.monotonic()
        last_written, last_change, next_pulse, next_retry = self.ring.frames_written, now, now, now
        flowing = False  # has this stream delivered anything yet?
        while not self._stopping.wait(self.CHECK_SECONDS):
            now = time.monotonic()
            if self._stream is None:
                if now >= next_retry:
                    next_retry = now + self.RETRY_SECONDS
                    if self._reconnect():
                        last_written, last_change, next_pulse, flowing = self.ring.frames_written, now, now, False
                continue
            written = self.ring.frames_written
            if written != last_written:
                last_written, last_change, flowing = written, now, True
            reason = None
            if not self._active():
                reason = "the input stream stopped (device disconnected?)"
            elif now - last_change > (self.STALL_SECONDS if flowing else self.STARTUP_SECONDS):
                reason = f"no audio from the device for {now - last_change:.0f} s (device disconnected?)"
            elif self.pulse_source and now >= next_pulse:
                # PulseAudio moves a stream whose source vanished to another source, so the stream
                # keeps running on the wrong audio: only the source list tells.
                next_pulse = now + self.PULSE_CHECK_SECONDS
                sources = pulse_sources()
                if sources is not None and self.pulse_source not in sources:
                    reason = f"PulseAudio source {self.pulse_source} is gone"
            if reason:
                self._lose(reason)
                next_retry = now + self.RETRY_SECONDS

    def _active(self) -> bool:
        try:
            return bool(self._stream.stream.is_active())
        except Exception:
            return False

    def _lose(self, reason: str) -> None:
        """Runs on the watchdog thread (or in start()): close the stream, say why, retry later."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        self._fail(reason, retrying=True)

    def _reconnect(self) -> bool:
        """Runs on the watchdog thread: reopen the device by the name it had; True once capturing."""
        if self.pulse_source:
            sources = pulse_sources()
            if sources is not None and self.pulse_source not in sources:
                return False  # not back yet: don't churn PortAudio
        pa = stream = None
        try:
            pyaudio, pa = _portaudio()  # a fresh PortAudio: the only way to see devices that came back
            stream = self._open(pyaudio, pa, _resolve_device(pa, self.device_name))
            stream.stream.start_stream()
        except Exception as e:  # AudioError, or PortAudio refusing to start: try again later
            if stream is not None:
                stream.close()
            elif pa is not None:
                _terminate(pa)
            log.debug("reconnecting %s: %s", self.name, e)
            return False
        self._stream = stream
        self.reconnects += 1
        self._recover("reconnected")
        log.debug("audio source %s reconnected", self.name)
        return True

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
