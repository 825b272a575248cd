"""Audio sources: where the ring buffer's samples come from (DESIGN §1, §8).

- DeviceSource: a PortAudio input (PyAudio, callback mode). The callback only
  copies the block into the ring and returns.
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

import contextlib
import functools
import logging
import os
import sys
import threading
import time

import numpy as np

from .ring import RingBuffer

log = logging.getLogger("livecppn.audio")

RING_SECONDS = 4.0  # history each source keeps; the features need ~43 ms, tempo tracking a few seconds
BLOCK_SECONDS = 0.01  # block size of the paced (file, synthetic) players
MAX_LAG_SECONDS = 0.25  # a paced player further behind than this skips ahead instead of bursting


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
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))  # flush
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


# --- devices -------------------------------------------------------------------------------------

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


def open_source(spec: str | None) -> AudioSource:
    """The CLI's --audio: None/"default" → default input, "synthetic" → built-in beat,
    an existing file → FileSource, anything else → a device index or name.

    With no usable default input, logs one warning and returns SyntheticSource():
    the show must always run. A named device or file that cannot be opened raises AudioError.
    """
    key = spec.strip().lower() if spec is not None else "default"
    if key == "default":
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
