"""Video files: frames (and the audio beside them) → H.264 MP4 with AAC, or a PNG sequence.

`VideoWriter` is what both the offline renderer and the live recorder write
through. One caller thread; it never touches GL.

- H.264 in yuv420p (what every player takes), quality by CRF (lower is better
  and bigger; 18 is visually lossless for most looks) or by a bitrate, on
  NVENC (`h264_nvenc`, the GPU's encoder) where it opens, else libx264.
- Audio as AAC, in the same file, so the video plays anywhere with its sound.
- MP4 is written fragmented (a fragment every half second or 256 KB, a keyframe every
  `GOP_SECONDS`): a file cut short (Ctrl-C, a crash, a full disk) still plays
  up to its last whole fragment, and a clean close finishes it as usual.
- PNG sequence: `DIR/000000.png …` (lossless, for editors) with `DIR/audio.wav`.

Frames go in as RGB uint8 (H, W, 3) with row 0 at the top; odd sizes are
cropped by one pixel to the even size yuv420p needs.
"""

from __future__ import annotations

import logging
import os
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import __version__

log = logging.getLogger("livecppn")

CODECS = ("auto", "libx264", "h264_nvenc", "png")
GOP_SECONDS = 1.0
AUDIO_BITRATE = 192_000
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")
# Fragmented MP4: a fragment every half second or 256 KB, whatever the keyframes (each plays once written).
MP4_OPTIONS = {"movflags": "empty_moov+default_base_moof", "frag_duration": "500000", "frag_size": "262144"}


class EncodeError(RuntimeError):
    """Opening or writing the output failed; the message names the file and the problem."""


@dataclass(frozen=True)
class EncodeOptions:
    codec: str = "auto"  # auto: h264_nvenc where it opens, else libx264; png: a PNG sequence
    crf: int = 18  # constant quality (libx264 crf, NVENC cq); ignored when bitrate is set
    bitrate: int | None = None  # bits per second (constant-ish bitrate instead of constant quality)
    preset: str = "veryfast"  # libx264 speed/size trade-off (NVENC: its default preset)
    threads: int = 0  # encoder threads (0: the encoder's choice, about one per core)

    def check(self) -> None:
        if self.codec not in CODECS:
            raise EncodeError(f"unknown codec {self.codec!r}; choose one of {', '.join(CODECS)}")
        if not 0 <= self.crf <= 51:
            raise EncodeError(f"crf must be 0..51, got {self.crf}")


def is_png_sequence(path: Path, options: EncodeOptions) -> bool:
    """Whether `path` is written as a folder of PNGs: a name with no suffix, or `--codec png` on one.
    Raises EncodeError for what would otherwise quietly turn into a folder (`x.mp4` with the png codec,
    a container we do not write such as `.avi`)."""
    suffix = Path(path).suffix.lower()
    if options.codec == "png" and suffix in VIDEO_SUFFIXES:
        raise EncodeError(f"{path}: the png codec writes a folder of PNG files, and {suffix} names a video file; "
                          "give a folder name (no suffix), or another codec")
    if suffix and suffix not in VIDEO_SUFFIXES:
        raise EncodeError(f"{path}: livecppn writes {', '.join(VIDEO_SUFFIXES)} videos, or a folder of PNG "
                          f"files (a name with no suffix); not {suffix}")
    return options.codec == "png" or not suffix


PROVENANCE = f"livecppn {__version__}"


def nvenc_works() -> bool:
    """Whether h264_nvenc opens here (an NVIDIA GPU and driver); probed once."""
    global _NVENC
    if _NVENC is None:
        import av

        try:
            ctx = av.CodecContext.create("h264_nvenc", "w")
            ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 256, 144, "yuv420p", Fraction(1, 30)
            ctx.open()
            _NVENC = True
        except Exception:  # noqa: BLE001 - no GPU, no driver, a build without it: all mean "no"
            _NVENC = False
    return _NVENC


_NVENC: bool | None = None


class VideoWriter:
    """fps: the frame rate of a constant-rate file (frame n at n/fps), or None for frames stamped by
    `write(frame, t)` in seconds (the live recorder: the audio clock). audio_rate/channels: the
    audio written with `write_audio` (None: a silent video)."""

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float | None,
                 audio_rate: int | None = None, audio_channels: int = 1, options: EncodeOptions = EncodeOptions()):
        options.check()
        self.path = Path(path)
        self.options = options
        self.size = (max(2, size[0] & ~1), max(2, size[1] & ~1))
        if self.size != tuple(size):  # said, not silent: the picture loses its last column or row
            log.warning("%s: %dx%d written as %dx%d (H.264's 4:2:0 colour needs even sizes)", self.path,
                        *size, *self.size)
        self.fps = fps
        self.frames = 0
        self.audio_samples = 0
        self.closed = False
        self._last_pts = -1
        self._png = is_png_sequence(self.path, options)
        self._audio_rate, self._channels = audio_rate, audio_channels
        try:
            self._open_png() if self._png else self._open_video()
        except EncodeError:
            raise
        except Exception as e:  # noqa: BLE001 - PyAV and the OS name the problem; we name the file
            raise EncodeError(f"cannot write {self.path}: {_why(e)}") from e

    @property
    def codec(self) -> str:
        return "png" if self._png else self._video.codec_context.name

    def _open_png(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._wav = None
        if self._audio_rate:
            self._wav = wave.open(str(self.path / "audio.wav"), "wb")
            self._wav.setnchannels(self._channels)
            self._wav.setsampwidth(2)
            self._wav.setframerate(self._audio_rate)

    def _open_video(self) -> None:
        import av

        codec = self.options.codec
        if codec == "auto":
            codec = "h264_nvenc" if nvenc_works() else "libx264"
        elif codec == "h264_nvenc" and not nvenc_works():
            raise EncodeError(f"cannot write {self.path}: h264_nvenc needs an NVIDIA GPU and its driver, and NVENC "
                              "does not open here; use --codec auto or libx264")
        # A missing folder is made, as the live recorder does (a render into a new folder just works).
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mp4 = self.path.suffix.lower() in (".mp4", ".mov", ".m4v")
        self._container = av.open(str(self.path), "w", options=dict(MP4_OPTIONS) if mp4 else {})
        self._container.metadata["comment"] = PROVENANCE  # which livecppn made the file
        rate = Fraction(self.fps).limit_denominator(1001) if self.fps else Fraction(30)
        v = self._container.add_stream(codec, rate=rate)
        v.width, v.height = self.size
        v.pix_fmt = "yuv420p"
        self._time_base = Fraction(1, rate) if self.fps else Fraction(1, 1000)  # VFR: milliseconds
        v.codec_context.time_base = self._time_base
        v.time_base = self._time_base
        v.codec_context.gop_size = max(1, round(GOP_SECONDS * float(rate)))
        # No B-frames: a fragmented MP4 has no edit list to hide their reordering delay, which would
        # shift every frame's time by two frames.
        v.codec_context.max_b_frames = 0
        if self.options.threads:
            v.codec_context.thread_count = self.options.threads
        if self.options.bitrate:
            v.codec_context.bit_rate = int(self.options.bitrate)
        elif codec == "libx264":
            v.options = {"crf": str(self.options.crf), "preset": self.options.preset}
        else:
            v.options = {"rc": "vbr", "cq": str(self.options.crf)}
        if codec == "libx264" and self.options.bitrate:
            v.options = {"preset": self.options.preset}
        self._video = v
        self._audio = None
        if self._audio_rate:
            layout = "mono" if self._channels == 1 else "stereo"
            self._audio = self._container.add_stream("aac", rate=int(self._audio_rate), layout=layout)
            self._audio.bit_rate = AUDIO_BITRATE
            self._fifo = av.AudioFifo()
            self._layout = layout

    # --- writing -----------------------------------------------------------------------------------

    def write(self, image: np.ndarray, t: float | None = None) -> bool:
        """One frame: RGB or RGBA uint8 (H, W, 3|4), row 0 at the top, the writer's size (or one pixel
        more); or a yuv420p image (H × 3/2, W) of exactly the writer's size (the recorder converts on
        the GPU). t: its time in seconds (variable-rate writers); a frame not later than the previous
        one is skipped (returns False). Raises EncodeError when the file cannot be written."""
        import av

        w, h = self.size
        yuv = image.ndim == 2
        if yuv and image.shape != (h * 3 // 2, w):
            raise ValueError(f"yuv420p frame is {image.shape}, the writer needs {(h * 3 // 2, w)}")
        if not yuv:
            image = image[:h, :w]
            if image.shape[:2] != (h, w):
                raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the writer is {w}x{h}")
        try:
            # alpha is dropped by the conversion to yuv. The frame uses the array's memory (no copy); the
            # encoder converts or copies it before encode() returns.
            fmt = "yuv420p" if yuv else "rgba" if image.shape[2] == 4 else "rgb24"
            frame = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(image), format=fmt)
            if self._png:
                frame.to_image().convert("RGB").save(self.path / f"{self.frames:06d}.png", compress_level=1)
            else:
                pts = self.frames if self.fps else round(float(t or 0.0) * 1000)
                if pts <= self._last_pts:
                    return False
                self._last_pts = pts
                frame.pts, frame.time_base = pts, self._time_base
                self._mux(self._video.encode(frame))
        except EncodeError:
            raise
        except Exception as e:  # noqa: BLE001
            raise EncodeError(f"writing {self.path} (frame {self.frames}): {_why(e)}") from e
        self.frames += 1
        return True

    def write_audio(self, samples: np.ndarray) -> None:
        """Audio that follows what was written before: float32 (n,) mono or (channels, n) planar."""
        if not self._audio_rate:
            return
        planar = np.ascontiguousarray(np.atleast_2d(samples), dtype=np.float32)
        if planar.shape[0] != self._channels or not planar.shape[1]:
            return
        try:
            if self._png:
                pcm = (np.clip(planar.T, -1, 1) * 32767).astype("<i2")
                self._wav.writeframes(pcm.tobytes())
            else:
                import av

                frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=self._layout)
                frame.sample_rate = int(self._audio_rate)
                frame.pts, frame.time_base = self.audio_samples, Fraction(1, int(self._audio_rate))
                self._fifo.write(frame)
                for chunk in self._fifo.read_many(self._audio.codec_context.frame_size or 1024):
                    self._mux(self._audio.encode(chunk))
        except Exception as e:  # noqa: BLE001
            raise EncodeError(f"writing {self.path} (audio): {_why(e)}") from e
        self.audio_samples += planar.shape[1]

    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoders and finish the file. Raises EncodeError if that fails (the file then
        plays up to its last fragment); closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._png:
                if self._wav is not None:
                    self._wav.close()
                return
            error = None
            try:
                if self._audio is not None:
                    rest = self._fifo.read()  # the last partial block
                    if rest is not None:
                        self._mux(self._audio.encode(rest))
                    self._mux(self._audio.encode(None))
                self._mux(self._video.encode(None))
            except Exception as e:  # noqa: BLE001 - still close the container
                error = e
            self._container.close()
            if error is not None:
                raise error
        except Exception as e:  # noqa: BLE001
            raise EncodeError(f"finishing {self.path}: {_why(e)}") from e

    def abort(self) -> None:
        """Close after a failure, ignoring further errors; an MP4 is cut back to its last whole
        fragment, so what was written plays to its end without a damaged tail."""
        try:
            self.close()
        except EncodeError:
            pass
        if not self._png and self.path.suffix.lower() in (".mp4", ".mov", ".m4v"):
            trim_to_whole_fragments(self.path)


def trim_to_whole_fragments(path: Path) -> None:
    """Truncate a fragmented MP4 after its last complete top-level box that ends a fragment (an
    `mdat`, or the header boxes): a half-written fragment at the end is dropped. Best effort."""
    try:
        size = path.stat().st_size
        good, at = 0, 0
        with open(path, "rb") as f:
            while at + 8 <= size:
                f.seek(at)
                head = f.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1:
                    length = int.from_bytes(head[8:16], "big")
                if length < 8 or at + length > size:
                    break
                at += length
                if kind != b"moof":  # a moof is only whole with its mdat
                    good = at
        if good < size:
            os.truncate(path, good)
    except OSError:
        pass


def _why(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
