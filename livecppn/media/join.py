"""Join video segments into one file without re-encoding the video, and mux the audio once.

A render cut up on a cluster (offline/cluster_render.py) comes back as silent
segments, each a whole number of frames starting on a key frame, all encoded
with the same settings. `join_segments` copies their packets into one file,
frame n at n / fps as a local render writes it, and encodes the track's
audio beside them as VideoWriter does (AAC, the same bitrate, interleaved
frame by frame). The file is written under a hidden temporary name and
renamed when whole: a failure or Ctrl-C leaves nothing that looks finished.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from .encode import AUDIO_BITRATE, MP4_OPTIONS, PROVENANCE, EncodeError


class _Audio:
    """The track's audio into an AAC stream, fed up to a sample index at a time."""

    def __init__(self, container, planar: np.ndarray, rate: int):
        import av

        self.planar, self.rate, self.at = np.ascontiguousarray(planar, dtype=np.float32), rate, 0
        self.layout = "mono" if len(planar) == 1 else "stereo"
        self.stream = container.add_stream("aac", rate=int(rate), layout=self.layout)
        self.stream.bit_rate = AUDIO_BITRATE
        self.fifo, self.container = av.AudioFifo(), container

    def feed(self, end: int) -> None:
        import av

        end = min(end, self.planar.shape[1])
        if end <= self.at:
            return
        frame = av.AudioFrame.from_ndarray(self.planar[:, self.at:end], format="fltp", layout=self.layout)
        frame.sample_rate, frame.pts, frame.time_base = int(self.rate), self.at, Fraction(1, int(self.rate))
        self.fifo.write(frame)
        for chunk in self.fifo.read_many(self.stream.codec_context.frame_size or 1024):
            self._mux(self.stream.encode(chunk))
        self.at = end

    def close(self) -> None:
        rest = self.fifo.read()
        if rest is not None:
            self._mux(self.stream.encode(rest))
        self._mux(self.stream.encode(None))

    def _mux(self, packets) -> None:
        for packet in packets:
            self.container.mux(packet)


def temp_path(out: Path) -> Path:
    """Where `out` is written until it is whole: hidden, beside it, with its suffix (the container)."""
    return out.with_name(f".{out.stem}.{os.getpid()}.part{out.suffix}")


def join_segments(segments: list[Path], out: Path, fps: float, audio: np.ndarray | None = None,
                  rate: int | None = None, audio_end=None) -> int:
    """Concatenate `segments` (silent videos, the same codec and settings, each starting on a key frame)
    into `out`, frame n at n / fps; with `audio` (planar float32 at `rate`), the sound while frame n is
    shown is `audio[:, audio_end(n):audio_end(n + 1)]`. Returns the frame count. Raises EncodeError."""
    import av

    out = Path(out)
    temp = temp_path(out)
    mp4 = out.suffix.lower() in (".mp4", ".mov", ".m4v")
    frame_rate = Fraction(fps).limit_denominator(1001)
    n = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(temp), "w", options=dict(MP4_OPTIONS) if mp4 else {}) as container:
            container.metadata["comment"] = PROVENANCE
            video, sound, extradata = None, None, None
            for path in segments:
                with av.open(str(path)) as seg:
                    stream = seg.streams.video[0]
                    if video is None:
                        video, extradata = container.add_stream_from_template(stream), stream.codec_context.extradata
                        if audio is not None:
                            sound = _Audio(container, audio, rate)
                    elif stream.codec_context.extradata != extradata:
                        raise EncodeError(f"segment {path.name} was encoded with other settings than the first "
                                          "(another codec or encoder build?); give --codec libx264")
                    for packet in seg.demux(stream):
                        if packet.dts is None:  # the demuxer's end-of-stream marker
                            continue
                        shift = round(Fraction(n - _frame_of(packet, frame_rate)) / frame_rate / packet.time_base)
                        packet.pts += shift
                        packet.dts += shift
                        packet.stream = video
                        container.mux(packet)
                        n += 1
                        if sound is not None:
                            sound.feed(audio_end(n))  # the sound while frame n - 1 is shown
            if sound is not None:
                sound.close()
        os.replace(temp, out)
    except BaseException as e:
        temp.unlink(missing_ok=True)
        if isinstance(e, (EncodeError, KeyboardInterrupt)) or not isinstance(e, Exception):
            raise
        raise EncodeError(f"joining the segments into {out}: {e}") from e
    return n


def _frame_of(packet, frame_rate: Fraction) -> int:
    """The frame index (within its segment) of a packet, from its time."""
    return round(Fraction(packet.pts) * packet.time_base * frame_rate)
