"""The live recorder's encoder, in a process of its own.

Why a process and not a thread of the show: x264 and the colour conversion
take several milliseconds of CPU per frame, and a thread of the show's process
also takes the show's GIL between its calls. Measured on the 2-core CPU-only
machine at 1280×720 (tools/bench_record.py), encoding in a thread cost the show
about 30 % of its frame rate, and lowering that thread's priority did not help
(preempted while it held the GIL, it made the render thread wait). A process
has its own interpreter and runs at a lower priority (`NICE`) than the show:
when the CPU is short, the encoder falls behind and frames are dropped from the
recording, not from the show.

Frames go through shared memory: a few slots, each one picture, which the
show's render thread reads the GL picture straight into; the encoder copies a
slot into its frame and gives the slot back. Everything else (the slot
numbers, audio, control events) goes over a pipe, which the render thread
writes without blocking (a message with no room waits for the next frame's
write; a stalled encoder is declared failed after 64 MB). The encoder writes
the MP4, the WAV and the automation log; an error it meets is sent back once,
and it stops.

`python -m livecppn.media.encoder_process CONFIG_JSON` is the process's
entry; `EncoderProcess` is the show's side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import traceback
import wave
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np

try:
    import fcntl  # the pipe's size (Linux)
except ImportError:  # not POSIX
    fcntl = None

from .automation import audio_path_for, log_path_for
from .encode import EncodeError, EncodeOptions, VideoWriter

PIPE_BYTES = 1 << 20  # the pipe to the encoder (Linux): about 40 s of a show's sound and events
MAX_BACKLOG = 64 << 20  # messages waiting for room in the pipe before the recording is declared stalled
NICE = 19  # the encoder runs at the lowest priority (Unix nice): the show always comes first
FORMATS = ("yuv420p", "rgba")  # yuv420p: converted on the GPU; rgba: GL's rows (bottom first), converted here


def frame_bytes(size: tuple[int, int], pixel_format: str) -> int:
    w, h = size
    return w * h * 3 // 2 if pixel_format == "yuv420p" else w * h * 4


class EncoderProcess:
    """The show's side of one recording's encoder. Started ahead (a spare: the process needs a few
    tenths of a second to start, which would cost a new take its first pictures), then `open()`ed for
    one recording. Render thread: `open()`, `slot()`, `buffer(slot)`, `video()`, `audio()`, `log()`,
    `poll()`, `finish()`; never blocks. `wait()` at the end of the show; `close()` frees it (a spare
    that was never opened just exits)."""

    def __init__(self):
        if os.name != "posix":
            raise OSError("live recording runs its encoder in a process of its own, which this build does on "
                          "Linux and macOS only")
        self.path: Path | None = None
        self.error: str | None = None
        self._memory: SharedMemory | None = None
        self._free: list[int] = []
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        config = {"commands": to_child_r, "replies": from_child_w, "nice": NICE}
        package_root = str(Path(__file__).resolve().parents[2])  # so the process finds livecppn when run from a checkout
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        try:
            # A process group of its own: Ctrl-C in the terminal goes to the show, which ends the take
            # itself. The same session: Linux shares the CPU between sessions equally, whatever the nice.
            self._process = subprocess.Popen([sys.executable, "-m", "livecppn.media.encoder_process", json.dumps(config)],
                                             pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
                                             process_group=0)
        except OSError:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise
        os.close(to_child_r)
        os.close(from_child_w)
        self._commands = to_child_w  # written without blocking: what the pipe has no room for waits in _backlog
        os.set_blocking(to_child_w, False)
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for seconds of messages, not 64 KB
            try:
                fcntl.fcntl(to_child_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass
        self._backlog = bytearray()
        self._replies = Connection(from_child_r, writable=False)
        self._closed = False
        self.ready = False  # the process has started and waits for its recording

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait (at most `timeout` s) until the process has started: for a recording from the show's
        first frame. Whether it is ready."""
        deadline = time.monotonic() + timeout
        while not self.ready and self._process.poll() is None and time.monotonic() < deadline:
            self._replies.poll(min(0.05, max(0.0, deadline - time.monotonic())))
            self.poll()
        return self.ready

    def open(self, path: Path, size: tuple[int, int], rate: int, options: EncodeOptions, pixel_format: str,
             slots: int) -> None:
        """Start one recording: `slots` pictures of shared memory (fewer where it is small), the file's
        settings to the process. Raises OSError when the shared memory cannot be made."""
        if pixel_format not in FORMATS:
            raise ValueError(f"pixel format {pixel_format!r}: expected one of {FORMATS}")
        self.path, self.size = Path(path), size
        self._bytes = frame_bytes(size, pixel_format)
        slots = _slots_that_fit(self._bytes, slots)
        self._memory = SharedMemory(create=True, size=self._bytes * slots)
        self._free = list(range(slots))
        self._send(("open", {"path": str(self.path), "size": list(size), "rate": rate,
                             "options": dataclasses.asdict(options), "format": pixel_format,
                             "memory": self._memory.name, "frame_bytes": self._bytes}))

    # --- render thread -----------------------------------------------------------------------------

    def slot(self) -> int | None:
        """A free slot for the next picture, or None: the encoder is behind (drop this frame)."""
        self.poll()
        return self._free.pop() if self._free and self.error is None else None

    def buffer(self, slot: int) -> memoryview:
        return self._memory.buf[slot * self._bytes:(slot + 1) * self._bytes]

    def video(self, slot: int, t: float) -> None:
        """The picture in `slot` (written), stamped `t` seconds."""
        self._send(("video", slot, t))

    def audio(self, samples: np.ndarray) -> None:
        self._send(("audio", samples))

    def log(self, event: dict) -> None:
        self._send(("log", event))

    def _send(self, message) -> None:
        """Into the pipe (the framing multiprocessing.connection reads) without waiting: a message the
        pipe has no room for waits here and goes with the next. The render thread does this itself: a
        sender thread would take the show's Python lock several times a frame."""
        if self._backlog is None:  # the encoder has gone
            return
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._backlog += struct.pack("!i", len(payload))
        self._backlog += payload
        self._flush()

    def _flush(self) -> None:
        if not self._backlog:
            return
        try:
            written = os.write(self._commands, self._backlog)
        except BlockingIOError:
            written = 0
        except OSError:  # the encoder has gone: poll() says how
            self._backlog = None
            return
        del self._backlog[:written]
        if len(self._backlog) > MAX_BACKLOG and self.error is None:
            self.error = f"{self.path}: the encoder stopped taking frames and sound (stalled); recording stopped"

    def poll(self) -> None:
        """Send what waits; take the encoder's replies (slots given back, ready, an error); notice a
        process that died."""
        self._flush()
        code = self._process.poll()  # before reading: an error sent just before exiting is in the pipe
        try:
            while self._replies.poll():
                reply = self._replies.recv()
                if reply[0] == "free":
                    self._free.append(reply[1])
                elif reply[0] == "ready":
                    self.ready = True
                elif reply[0] == "error":
                    self.error = reply[1]
        except (EOFError, OSError):  # the process has gone
            pass
        if code is not None and code != 0 and self.error is None:
            self.error = f"{self.path}: the encoder process ended unexpectedly (exit code {code})"

    def finish(self) -> None:
        """No more frames: the encoder finishes the file and exits (poll() sends what still waits)."""
        self._send(None)

    def exited(self) -> bool:
        """Whether the encoder process has ended (then `close()` frees what it used)."""
        self.poll()
        return self._process.poll() is not None

    # --- any thread --------------------------------------------------------------------------------

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the encoder to finish its file (it was told to by finish()), then close."""
        try:
            if self._backlog:  # the end of the show may wait: send the rest
                os.set_blocking(self._commands, True)
                while self._backlog:
                    del self._backlog[:os.write(self._commands, self._backlog)]
        except OSError:  # the encoder has gone: close() says how
            pass
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            self.error = self.error or f"{self.path}: the encoder did not finish within {timeout:.0f} s; stopped it"
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.poll()
        os.close(self._commands)  # a spare sees the end of its input and exits
        try:
            self._process.wait(1.0 if self._memory is None else 0)
        except subprocess.TimeoutExpired:  # an encoder closed before it finished (the take failed): stop it
            self._process.kill()
            self._process.wait()
        self._replies.close()
        if self._memory is not None:
            self._memory.close()
            self._memory.unlink()


def _slots_that_fit(nbytes: int, slots: int) -> int:
    """At most `slots`, fewer where shared memory is small (a container's /dev/shm is often 64 MB, and
    a write past its end would kill the show with SIGBUS): up to half of what is free there, at least 2."""
    try:
        free = os.statvfs("/dev/shm")
    except (OSError, AttributeError):  # not Linux: shared memory is not a small filesystem
        return slots
    return min(slots, max(2, free.f_bavail * free.f_frsize // 2 // nbytes))


# --- the encoder process ---------------------------------------------------------------------------


def attach_shared_memory(name: str) -> SharedMemory:
    """The show's shared memory, without this process's resource tracker unlinking it at exit
    (the show owns it). Python 3.13 says so with track=False; before, unregister after opening."""
    try:
        return SharedMemory(name=name, track=False)
    except TypeError:
        memory = SharedMemory(name=name)
        resource_tracker.unregister(memory._name, "shared_memory")  # noqa: SLF001 - the documented workaround
        return memory


def _unpack(pixels: np.ndarray, picture: np.ndarray, w: int, h: int, yuv: bool) -> None:
    """A slot's bytes into the picture the writer encodes."""
    if yuv:  # Y, then U and V interleaved → the planes, one after the other
        picture[:w * h] = pixels[:w * h]
        uv = pixels[w * h:].reshape(-1, 2)
        picture[w * h:w * h * 5 // 4], picture[w * h * 5 // 4:] = uv[:, 0], uv[:, 1]
    else:  # RGBA in GL's order, bottom row first: top row first (the writer converts)
        np.copyto(picture, pixels.reshape(h, w, 4)[::-1])


def _error_message(e: Exception, path: Path) -> str:
    if isinstance(e, EncodeError):
        return str(e)
    if isinstance(e, (OSError, ValueError)):
        return f"{path}: {getattr(e, 'strerror', None) or e}"
    traceback.print_exc()  # a defect: the traceback goes to the show's stderr
    return f"{path}: the encoder failed ({type(e).__name__}: {e})"


def child_start(config: dict) -> tuple[Connection, Connection]:
    """A helper process of the show (this encoder, an output's sender) starts: interrupts are for the
    show (which ends its helpers itself), its priority goes down to `config["nice"]`; returns the
    (commands, replies) connections over the pipes the show passed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if config.get("nice") and hasattr(os, "nice"):
        try:
            os.nice(config["nice"])
        except OSError:
            pass
    return Connection(config["commands"], writable=False), Connection(config["replies"], readable=False)


def run(config: dict) -> int:
    # The show ends the recording (the encoder finishes the file when told, or when the show's pipe
    # closes), not an interrupt meant for the show (one sent to its process group by hand).
    commands, replies = child_start(config)
    replies.send(("ready",))
    try:  # a spare: wait for the recording it is for
        message = commands.recv()
    except EOFError:  # the show ended without one
        return 0
    return 0 if message is None else _encode(message[1], commands, replies)


def _encode(config: dict, commands: Connection, replies: Connection) -> int:
    """One take: pictures, audio and log lines until the show says it is over (or goes)."""
    memory = attach_shared_memory(config["memory"])
    path, (w, h), rate, size = Path(config["path"]), config["size"], config["rate"], config["frame_bytes"]
    yuv = config["format"] == "yuv420p"
    picture = np.empty(w * h * 3 // 2 if yuv else (h, w, 4), np.uint8)  # the picture being encoded
    writer = wav = logf = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = VideoWriter(path, (w, h), None, audio_rate=rate, options=EncodeOptions(**config["options"]))
        wav = wave.open(str(audio_path_for(path)), "wb")
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        logf = open(log_path_for(path), "w")
        while True:
            try:
                message = commands.recv()
            except EOFError:  # the show has gone: finish what it sent
                break
            if message is None:
                break
            kind = message[0]
            if kind == "video":
                slot, t = message[1], message[2]
                pixels = np.frombuffer(memory.buf, np.uint8, size, slot * size)
                _unpack(pixels, picture, w, h, yuv)
                pixels = None  # no view of the shared memory outlives its use
                replies.send(("free", slot))
                writer.write(picture.reshape(h * 3 // 2, w) if yuv else picture, t)
            elif kind == "audio":
                writer.write_audio(message[1])
                wav.writeframes((np.clip(message[1], -1, 1) * 32767).astype("<i2").tobytes())
            else:
                logf.write(json.dumps(message[1]) + "\n")
        writer.close()
        return 0
    except Exception as e:  # noqa: BLE001 - whatever it is, the show hears of it and goes on
        error = _error_message(e, path)
        if writer is not None:
            writer.abort()  # what was written stays playable (fragmented MP4)
        try:
            replies.send(("error", error))
        except OSError:
            pass
        return 1
    finally:
        for f in (wav, logf):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        memory.close()


if __name__ == "__main__":
    sys.exit(run(json.loads(sys.argv[1])))
