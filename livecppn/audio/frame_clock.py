"""The offline frame clock (DESIGN §2): frame n sees exactly the audio window that ends at n / fps s of the file.

So frame 0 sees no audio (silence before the music, as the live ring holds
before the first block). One definition for every offline user: the renderer
(offline/render.py), `livecppn analyze` (offline/analyze.py) and the trainer's
audio conditioning (offline/conditioning.py); tests/test_frame_clock.py checks
that the three agree. Live, the wall clock and the ring play this part.

Pure functions of their arguments: a render cut into segments sees the same
audio per frame as one run start to end.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def frame_clock(n: int, fps: float) -> float:
    """Seconds into the file at which frame n is shown and its audio window ends: n / fps."""
    return n / fps


def frame_end(n: int, fps: float, rate: int, total: int) -> int:
    """Index one past the last sample frame n sees: frame_clock(n, fps) * rate rounded, at most `total`.

    Computed as round(n * rate / fps), which is exact for whole rates and frame
    rates, so every user rounds a frame boundary that falls halfway between two
    samples the same way.
    """
    return min(total, round(n * rate / fps))


def frame_blocks(samples: np.ndarray, rate: int, fps: float, n_frames: int) -> Iterator[tuple[int, np.ndarray]]:
    """(n, the samples frame n sees that frame n - 1 did not) for n in range(n_frames); frame 0's block is empty.

    What an Analyzer takes, frame by frame (`Analyzer.process`): every sample once, in order.
    """
    pos = 0
    for n in range(n_frames):
        end = frame_end(n, fps, rate, len(samples))
        yield n, samples[pos:end]
        pos = end


def window_ending_at(samples: np.ndarray, end: int, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """The `size` samples before sample index `end` (frame_end), samples[end - size:end], as float32 (size,).

    Positions before the start or past the end of `samples` read as zeros, so
    frame 0 sees silence before the music, exactly as the live ring does.
    """
    if out is None:
        out = np.empty(size, dtype=np.float32)
    lo, hi = end - size, end
    src_lo, src_hi = max(lo, 0), min(hi, len(samples))
    out[:] = 0.0
    if src_hi > src_lo:
        out[src_lo - lo:src_hi - lo] = samples[src_lo:src_hi]
    return out
