"""The output-tap interface (DESIGN §1, §6), and `CpuTap`, which NDI, the virtual camera and tests build on.

After the swap the show offers every open tap the frame's composited picture
(without the HUD). A tap copies what it needs and returns at once; whatever is
slow (encoding, the network, a device) happens on the tap's own thread or
process, at its own rate. A consumer that falls behind drops its own frames
(counted); one that fails, or takes no frame for `STALL_S`, is closed by the
show with one warning (show/outputs/taps.py) while the show plays on.

`CpuTap` is the tap of every consumer that takes pixels on the CPU: the
picture is read back without waiting (render/readback.py: a ring of pixel
buffers on a GPU, read a frame or two later) into a `Mailbox` of a few
buffers, and the tap's thread hands the newest one to `send()`. When the
thread is still busy with an older picture, a newer one replaces the one
waiting (latest wins, counted as dropped); when every buffer is taken the
readback drops the picture. Nothing the consumer does can stall a frame.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ...render.gl import is_software_name
from ...render.readback import Readback

log = logging.getLogger("livecppn")

STALL_S = 2.0  # a consumer busy with one picture this long is closed (a dead receiver, a hung device)
OPEN_S = 10.0  # a consumer that has not opened in this long is closed
MAILBOX_DEPTH = 3  # buffers: one being sent, one waiting, one being filled


@dataclass(frozen=True)
class Picture:
    """What the show offers its taps after the swap."""

    compositor: object  # its framebuffer (`fbo`, `size`, `present()`) holds the frame, drawn by now
    t: float  # seconds since the show started, when the frame was shown
    index: int  # the frame's number


@dataclass(frozen=True)
class TapState:
    """One tap, as the HUD, the report and the controllers see it."""

    name: str
    state: str  # "opening" | "on" | "off" | "failed"
    sent: int = 0  # pictures the consumer took
    dropped: int = 0  # pictures it had no room or time for
    detail: str = ""  # where the pictures go (NDI name, device, size and rate), or why it failed


class RateGate:
    """`fps` pictures a second out of the frames shown (0: every frame): a picture is due at the first frame
    shown at or after its time, on a grid that starts at the first picture. A quarter period early counts,
    so a show at 59.9 fps gives 30 a second, not 20. The recorder and every CpuTap take their pictures so."""

    def __init__(self, fps: float):
        self.period = 1.0 / fps if fps else 0.0
        self._due: float | None = None  # the time of the next picture (the first: at once)

    def due(self, t: float) -> bool:
        if not self.period:
            return True
        self._due = t if self._due is None else self._due
        if t < self._due - self.period / 4:
            return False
        self._due = max(self._due, t - self.period / 4) + self.period
        return True


def taps_line(states: tuple[TapState, ...]) -> str:
    """One HUD line: each output tap with what it sent and dropped (the recorder has its own: REC)."""
    parts = [f"{s.name} {s.state} {s.sent}" + (f"/{s.dropped} dropped" if s.dropped else "")
             for s in states if s.name != "record"]
    return ("out " + "  ".join(parts)) if parts else ""


class Tap(Protocol):
    name: str

    def offer(self, picture: Picture) -> None:
        """Take what is needed from the frame and return at once. Render thread, after the swap."""

    def failure(self) -> str | None:
        """Why the tap should be closed now (its consumer failed or stalled), or None. Render thread."""

    def state(self) -> TapState: ...

    def close(self, wait: float = 0.0) -> None:
        """Stop; free GL objects (render thread); give the consumer up to `wait` s to finish."""


class Mailbox:
    """A few picture buffers between the render thread (fills) and the tap's thread (sends).
    Implements render/readback.py's `Slots`. `memory`: one buffer holding every slot, of pictures of one
    size (a sender process's shared memory); default: a buffer per slot, of whatever size is pushed."""

    def __init__(self, depth: int = MAILBOX_DEPTH, memory: memoryview | None = None):
        self._memory = memory
        self._buffers = [bytearray(0) for _ in range(depth)]
        self._free = list(range(depth))
        self._pending: tuple[int, float, tuple[int, int]] | None = None
        self._cond = threading.Condition()
        self.size = (0, 0)  # of the pictures being filled now (set by the render thread before a push)
        self.replaced = 0  # pictures replaced by a newer one before the thread took them

    # render thread
    def slot(self) -> int | None:
        with self._cond:
            return self._free.pop() if self._free else None

    def buffer(self, slot: int) -> memoryview:
        w, h = self.size
        if self._memory is not None:
            return self._memory[slot * w * h * 4:(slot + 1) * w * h * 4]
        if len(self._buffers[slot]) != w * h * 4:  # a free slot only: the thread holds no view of it
            self._buffers[slot] = bytearray(w * h * 4)
        return memoryview(self._buffers[slot])

    def video(self, slot: int, t: float) -> None:
        with self._cond:
            if self._pending is not None:  # the thread is behind: the newer picture wins
                self._free.append(self._pending[0])
                self.replaced += 1
            self._pending = (slot, t, self.size)
            self._cond.notify()

    # the tap's thread
    def take(self, timeout: float) -> tuple[int, float, tuple[int, int]] | None:
        """The newest picture's slot, time and size; None on timeout. Give the slot back when done."""
        with self._cond:
            if self._pending is None and not self._cond.wait(timeout):
                return None
            item, self._pending = self._pending, None
            return item

    def picture(self, slot: int, size: tuple[int, int]) -> np.ndarray:
        """A slot's picture as RGBA (h, w, 4), rows bottom first (a per-slot buffer: in-process taps)."""
        w, h = size
        return np.frombuffer(self._buffers[slot], np.uint8, w * h * 4).reshape(h, w, 4)

    def give_back(self, slot: int) -> None:
        with self._cond:
            self._free.append(slot)


class CpuTap:
    """A tap whose consumer takes RGBA pixels on the CPU. Subclasses give `name` and, run on the tap's
    own thread, `open()` (returns a description; raises when the consumer cannot start), `send(rgba, t)`
    (rows bottom first, as GL keeps them) and `shut()`. `size`: the pictures' size (default: the show's,
    following a resize); `fps`: pictures a second (0: every frame shown).

    `send` runs in the show's process: anything slow that holds Python's lock there (a C library that
    does not release it) holds up the render thread too. Such consumers run in a process of their
    own (show/outputs/sender.py)."""

    name = "cpu"

    def __init__(self, ctx, size: tuple[int, int] | None = None, fps: float = 0.0, mailbox: Mailbox | None = None):
        self.ctx, self.fixed_size, self.fps = ctx, size, fps
        self.pbo = not is_software_name(ctx.info.get("GL_RENDERER", ""))
        self.mailbox = mailbox or Mailbox()
        self.detail = ""
        self.sent = 0
        self._readback: Readback | None = None
        self._readback_dropped = 0  # of readbacks replaced by a resize
        self._rate = RateGate(fps)
        self._error: str | None = None
        self._opened = False
        self._busy_since: float | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"livecppn-{self.name}", daemon=True)

    def start(self) -> CpuTap:
        """Start the tap's thread (it opens the consumer there: a slow start never holds up a frame)."""
        self._started = time.monotonic()
        self._thread.start()
        return self

    # --- the consumer (subclasses; the tap's thread) -----------------------------------------------

    def open(self) -> str:
        return ""

    def send(self, rgba: np.ndarray, t: float) -> None:
        raise NotImplementedError

    def deliver(self, slot: int, size: tuple[int, int], t: float) -> None:
        """Hand one mailbox slot's picture to the consumer (the tap's thread)."""
        self.send(self.mailbox.picture(slot, size), t)

    def shut(self) -> None:
        pass

    # --- the render thread ------------------------------------------------------------------------

    def offer(self, picture: Picture) -> None:
        if self._stop.is_set() or not self._rate.due(picture.t):
            return
        size = self.fixed_size or picture.compositor.size
        if self._readback is None or self._readback.size != size:
            self._new_readback(size)
        self._readback.push(picture.compositor, picture.t)

    def _new_readback(self, size: tuple[int, int]) -> None:
        if self._readback is not None:
            self._readback_dropped += self._readback.dropped
            self._readback.release()
        self.mailbox.size = size
        self._readback = Readback(self.ctx, size, False, self.mailbox, pbo=self.pbo)

    def failure(self) -> str | None:
        if self._error is not None:
            return self._error
        now = time.monotonic()
        busy = self._busy_since
        if busy is not None and now - busy > STALL_S:
            return f"its consumer took no picture for {STALL_S:g} s"
        if not self._opened and now - self._started > OPEN_S:
            return f"it did not open in {OPEN_S:g} s"
        return None

    def state(self) -> TapState:
        if self._error is not None:
            state = "failed"
        elif self._stop.is_set():
            state = "off"
        else:
            state = "on" if self._opened else "opening"
        dropped = self._readback_dropped + (self._readback.dropped if self._readback else 0) + self.mailbox.replaced
        return TapState(self.name, state, self.sent, dropped, self._error or self.detail)

    def close(self, wait: float = 0.0) -> None:
        self._stop.set()
        if self._readback is not None:
            self._readback_dropped += self._readback.dropped
            self._readback.release()
            self._readback = None
        if wait:
            self._thread.join(timeout=wait)

    # --- the tap's thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.detail = self.open() or self.detail
            self._opened = True
        except Exception as e:  # noqa: BLE001 - any failure to open is said once by the show
            self._error = f"cannot open: {e}"
            return
        try:
            while not self._stop.is_set():
                item = self.mailbox.take(0.1)
                if item is None:
                    continue
                slot, t, size = item
                self._busy_since = time.monotonic()
                try:
                    self.deliver(slot, size, t)
                    self.sent += 1
                finally:
                    self._busy_since = None
                    self.mailbox.give_back(slot)
        except Exception as e:  # noqa: BLE001 - the consumer failed: the show closes the tap and says why
            self._error = f"{type(e).__name__}: {e}"
        finally:
            try:
                self.shut()
            except Exception as e:  # noqa: BLE001
                log.debug("%s: closing: %r", self.name, e)
