"""Decoding audio files (anything ffmpeg reads, through PyAV) to float32 samples.

PyAV is imported when first needed, so importing this module does no work and
does not need it. Every error is an AudioError naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .base import AudioError


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
