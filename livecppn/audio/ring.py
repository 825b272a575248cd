"""Ring buffer between the audio thread and the render thread (DESIGN §1).

One writer (the audio callback or a feeder thread) appends interleaved frames;
one reader (the render thread) asks, once per frame, for a copy of the newest
window mixed down to mono (`latest`), or for every frame since its previous
read by absolute position (`read`, for the onset and tempo analysis, which
must see each sample exactly once). A short lock guards the write index and the copy,
as projectM guards its PCM buffer: both sides only copy under it, so neither
can hold the other up for more than a memcpy of one block or one window.
"""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """Fixed-capacity float32 ring of interleaved frames, shape (capacity, channels).

    Written by one audio thread, read by the render thread; a short lock guards
    index + copy (projectM style). write() never allocates.
    """

    def __init__(self, capacity: int, channels: int = 1):
        if capacity < 1:
            raise ValueError(f"RingBuffer capacity must be >= 1 frame, got {capacity}")
        if channels < 1:
            raise ValueError(f"RingBuffer channels must be >= 1, got {channels}")
        self.capacity = int(capacity)
        self.channels = int(channels)
        self._buf = np.zeros((self.capacity, self.channels), dtype=np.float32)
        self._head = 0  # index of the next frame to write
        self._written = 0  # total frames ever written; a Python int, so reads are atomic
        self._lock = threading.Lock()

    def write(self, block: np.ndarray) -> None:
        """Append frames: `block` is (n, channels) or interleaved (n * channels,).

        Runs on the audio thread. Only copies: a float32 block is viewed, never
        converted, so the PortAudio callback stays allocation-free. A block
        longer than the ring keeps only its newest `capacity` frames, but
        frames_written still counts all of them.
        """
        block = np.asarray(block, dtype=np.float32)  # a no-op view for float32 input
        if block.ndim == 1:
            if block.size % self.channels:
                raise ValueError(f"interleaved block of {block.size} samples is not a whole number "
                                 f"of {self.channels}-channel frames")
            block = block.reshape(-1, self.channels)
        elif block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"block shape {block.shape} does not match ring channels {self.channels}")
        n_total = block.shape[0]
        if n_total == 0:
            return
        if n_total > self.capacity:
            block = block[-self.capacity:]
        n = block.shape[0]
        with self._lock:
            # Frame f always lives at index f % capacity (read() relies on it), even when the
            # block's oldest frames were dropped above.
            head = (self._head + n_total - n) % self.capacity
            first = min(n, self.capacity - head)  # frames that fit before the wrap
            self._buf[head:head + first] = block[:first]
            if first < n:
                self._buf[:n - first] = block[first:]
            self._head = (head + n) % self.capacity
            self._written += n_total

    def latest(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """The newest `n` frames mixed down to mono float32, shape (n,), oldest first.

        Runs on the render thread (one reader). Frames never written (the ring is
        younger than `n` frames, or `n` exceeds the capacity) read as zeros at
        the front, so the newest sample is always last. Pass `out` (float32,
        shape (n,)) to avoid allocating each frame.
        """
        if out is None:
            out = np.empty(n, dtype=np.float32)
        elif out.shape != (n,) or out.dtype != np.float32:
            raise ValueError(f"out must be float32 of shape ({n},), got {out.dtype} {out.shape}")
        with self._lock:
            avail = min(n, self._written, self.capacity)
            pad = n - avail
            # The newest `avail` frames end at head; they may wrap past index 0.
            start = (self._head - avail) % self.capacity
            first = min(avail, self.capacity - start)
            self._mix(self._buf[start:start + first], out[pad:pad + first])
            if first < avail:
                self._mix(self._buf[:avail - first], out[pad + first:])
        out[:pad] = 0.0
        return out

    def read(self, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frames [start, start + n) by absolute index (see frames_written), mixed to mono float32.

        Runs on the render thread (one reader). Frames already overwritten (before
        `oldest` at the moment of the copy) are left out: the result is the
        available tail, [max(start, oldest), start + n), so its length is n minus
        the frames the caller missed. Asking for frames not yet written is an
        error. With `out` (float32, at least n long) the result is a view of its
        first entries and nothing is allocated.
        """
        if n < 0 or start < 0:
            raise ValueError(f"read needs start >= 0 and n >= 0, got start={start}, n={n}")
        if out is None:
            out = np.empty(n, dtype=np.float32)
        elif out.ndim != 1 or out.shape[0] < n or out.dtype != np.float32:
            raise ValueError(f"out must be float32 of shape (>= {n},), got {out.dtype} {out.shape}")
        with self._lock:
            end = start + n
            if end > self._written:
                raise ValueError(f"read of frames [{start}, {end}) but only {self._written} have been written")
            first_frame = min(max(start, self._written - self.capacity), end)
            k = end - first_frame
            # Frame f lives at index f % capacity; the k frames may wrap past the end of the buffer.
            at = first_frame % self.capacity
            first = min(k, self.capacity - at)
            self._mix(self._buf[at:at + first], out[:first])
            if first < k:
                self._mix(self._buf[:k - first], out[first:k])
        return out[:k]

    @property
    def oldest(self) -> int:
        """Index of the oldest frame still held (frames_written - capacity, or 0): reads before it are lost."""
        return max(0, self._written - self.capacity)

    def _mix(self, frames: np.ndarray, dst: np.ndarray) -> None:
        """Mean over channels of `frames` (k, channels) into `dst` (k,), without temporaries."""
        if self.channels == 1:
            dst[:] = frames[:, 0]
        elif self.channels == 2:
            np.add(frames[:, 0], frames[:, 1], out=dst)
            dst *= 0.5
        else:
            np.mean(frames, axis=1, out=dst)

    @property
    def frames_written(self) -> int:
        """Total frames ever written (monotonic; safe to read from any thread)."""
        return self._written
