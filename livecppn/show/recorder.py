"""Live recording (`livecppn live --record OUT.mp4`, the `record` trigger, key R).

What the projector shows (the compositor's output picture, without the HUD)
and what the show hears (the audio span the analyser consumed this frame: the
analyser is the one reader of the ring that keeps a position) go to an MP4
(H.264 + AAC, media/encode.py); the audio also goes losslessly to `OUT.wav`,
and every control event to `OUT.automation.jsonl` (media/automation.py), so
the set can be rendered again at any size. Each frame the recorder is handed
(audio span, events) and, after the swap, the picture; nothing else.

The picture is read back without waiting (render/readback.py) into shared
memory; encoding and all disk writes run in the encoder's own process, at a
lower priority than the show (media/encoder_process.py says why a process).
Never queue frames without bound (DESIGN §1): when the encoder falls behind,
new frames are dropped from the recording and counted; the show never waits.
A recording that fails (unwritable path, full disk) stops, is said once
(DESIGN §8), and the show goes on. A take never overwrites a file: a name in
use gets the next free `-N`.

A flood of `record` triggers cannot fill the disk: a take is never started
within MIN_TAKE_S of the previous take's start (a start asked for sooner waits
for that moment, and is dropped if a stop comes first): at most one new file a
second, however fast `record 1` / `record 0` arrive.

Each video frame is stamped with the audio clock at the end of its audio
window (seconds since the recording's first sample), so picture and sound
stay in sync however the live frame rate varies (a variable-frame-rate file).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import moderngl

from ..audio.analyzer import AudioSpan
from ..media.automation import audio_path_for, event_line, start_line
from ..media.encode import EncodeOptions
from ..media.encoder_process import EncoderProcess
from ..paths import recordings_dir
from ..render.gl import is_software_name
from ..render.readback import Readback
from .outputs.tap import RateGate, TapState

log = logging.getLogger("livecppn")

PENDING_FRAMES = 8  # pictures waiting for the encoder (shared-memory slots) before new ones are dropped
# Live: cheap on the CPU the show shares (one encoder thread, x264's fastest preset; a little bigger files).
LIVE_ENCODE = EncodeOptions(preset="ultrafast", crf=20, threads=1)
# Pictures a second in the recording (at most the show's rate; 0: every frame shown). Fewer than a fast
# show draws halves the encoder's work and gives a steady, ordinary video rate.
RECORD_FPS = 30.0
MIN_TAKE_S = 1.0  # see the module docstring: what a flood of record triggers can do


def default_recording_path() -> Path:
    """A dated take in the user's recordings folder (paths.recordings_dir; made when the take starts)."""
    return recordings_dir() / time.strftime("livecppn-%Y%m%d-%H%M%S.mp4")


def free_take(base: Path, n: int = 1) -> tuple[Path, int]:
    """(take n's file, n), or a later take's where that one's video or audio exists: OUT.mp4, OUT-2.mp4, ..."""
    while True:
        path = base if n == 1 else base.with_name(f"{base.stem}-{n}{base.suffix}")
        if not any(p.exists() for p in (path, audio_path_for(path))):
            return path, n
        n += 1


def wanted(value, now_wanted: bool) -> bool:
    """A `record` trigger's value: 1 start, 0 stop, none toggles (anything else starts)."""
    if value is None:
        return not now_wanted
    try:
        return float(value) >= 0.5
    except (TypeError, ValueError):
        return True


class Recorder:
    """Render thread: `frame()` once per frame after the compositor pass, `capture()` after the swap.
    Idle (and free) when not recording. `path`: where --record asked (recording from the first
    frame); None: only the `record` trigger or key starts one (at a dated name in the recordings folder).
    `fps`: pictures a second in the recording (RECORD_FPS; 0: every frame). `gpu_yuv`: convert to
    yuv420p in GL (default: unless GL is a software renderer). `state()`: the show's state for the
    log's start line (parameter values and targets, the decks' styles, the picture size)."""

    def __init__(self, ctx: moderngl.Context, path: Path | None, showlog, sample_rate: int,
                 state: Callable[[], dict], options: EncodeOptions = LIVE_ENCODE, fps: float = RECORD_FPS,
                 gpu_yuv: bool | None = None):
        if fps < 0:
            raise ValueError(f"recording fps must be 0 (every frame) or more, got {fps}")
        self.ctx, self.showlog, self.options, self.fps = ctx, showlog, options, fps
        self.rate, self.show_state = sample_rate, state
        self.gpu_yuv = not is_software_name(ctx.info.get("GL_RENDERER", "")) if gpu_yuv is None else gpu_yuv
        self.base = path
        self.want = path is not None  # start on the first frame
        self.takes = 0
        self.files: list[str] = []
        self.errors: list[str] = []
        self._done_frames = self._done_dropped = 0  # of takes that ended
        self._take: _Take | None = None
        self._ending: list[_Take] = []  # takes whose encoder is still finishing its file
        self._spare: EncoderProcess | None = None  # the next take's encoder, started ahead
        self._last_start = -1e9  # monotonic time the previous take started
        self._start_spare()
        if self.want and self._spare is not None:  # recording from the first frame: the show starts once it can
            self._spare.wait_ready()

    @property
    def recording(self) -> bool:
        return self._take is not None

    @property
    def frames(self) -> int:
        """Pictures handed to the encoder, all takes."""
        return self._done_frames + (self._take.readback.sent if self._take else 0)

    @property
    def dropped(self) -> int:
        """Pictures the encoder had no room for (not those left out by `fps`), all takes."""
        return self._done_dropped + (self._take.readback.dropped if self._take else 0)

    def record(self, value) -> None:
        """The `record` trigger (key R, OSC, MIDI)."""
        self.want = wanted(value, self.want)

    def frame(self, span: AudioSpan, events: list[dict]) -> None:
        """This frame's audio span and control events; starts or ends a take as wanted. Never blocks."""
        self._reap()
        take = self._take
        if take is not None:
            take.encoder.poll()
            if take.error is not None:  # the encoder failed: say so once, go on
                self.errors.append(take.error)
                self.showlog.error(f"recording stopped: {take.error}; the show goes on", "recording failed")
                self._end(take, failed=True)
                self.want, take = False, None
        now = time.monotonic()
        if take is not None and not self.want:
            self._end(take)
            take = None
        if take is None and self.want and now - self._last_start >= MIN_TAKE_S:
            self._last_start = now
            take = self._start(span.start)
        if take is None:
            return
        take.audio(span)
        take.log(span.start + span.length, events)

    # --- the output-tap interface (show/outputs/tap.py): the recorder is one tap among them -----------

    name = "record"

    def offer(self, picture) -> None:
        self.capture(picture.compositor)

    def failure(self) -> str | None:
        return None  # a failed take is said and ended by frame(); the recorder itself stays ready

    def state(self) -> TapState:
        detail = self.files[-1] if self.files else ""
        return TapState(self.name, "on" if self.recording else "off", self.frames, self.dropped, detail)

    def close(self, wait: float = 0.0) -> None:
        self.stop()

    def capture(self, compositor) -> None:
        """Read this frame's picture back; call after the frame is shown (swap), when even a software
        driver, which draws only when the pixels are needed, has drawn it: the readback never makes
        the frame wait. Asynchronous (into a pixel buffer) on a hardware driver."""
        if self._take is not None:
            self._take.picture(compositor)

    def _start_spare(self) -> None:
        try:
            self._spare = EncoderProcess()
        except OSError as e:  # said when a take needs it
            self._spare = None
            log.debug("recorder: no spare encoder (%s)", e)

    def _path(self) -> Path:
        """The take's file: never one that exists (a previous show's take is not overwritten)."""
        path, self.takes = free_take(self.base or default_recording_path(), self.takes)
        return path

    def _start(self, audio_start: int) -> _Take | None:
        self.takes += 1
        path = self._path()
        state = self.show_state()
        w, h = state["size"]
        w, h = max(2, w & ~1), max(2, h & ~1)  # yuv420p needs even sizes
        start = start_line(path, self.rate, (w, h), state)
        try:
            encoder, self._spare = self._spare or EncoderProcess(), None
            self._take = _Take(self, encoder, path, (w, h), audio_start, start)
            self._start_spare()  # for the next take
        except OSError as e:  # no process or shared memory for the encoder (out of memory, process limit)
            error = f"{path}: cannot start the encoder ({e})"
            self.errors.append(error)
            self.showlog.error(f"recording not started: {error}; the show goes on", "recording failed")
            self.want = False
            return None
        self.files.append(str(path))
        kept = self.base if self.base is not None and path != self.base and self.base.exists() else None
        log.info("recording to %s (%dx%d; audio and automation log beside it)%s", path, w, h,
                 f"; {kept} is an earlier take, kept" if kept else "")
        return self._take

    def _end(self, take: _Take, failed: bool = False) -> None:
        take.finish()
        self._done_frames += take.readback.sent
        self._done_dropped += take.readback.dropped
        self._take = None
        if failed:
            take.encoder.close()
        else:
            self._ending.append(take)
            log.info("recording ended: %s", take.path)

    def _reap(self) -> None:
        """Free the takes whose encoder has finished; an error it met while finishing is said once."""
        for take in [t for t in self._ending if t.encoder.exited()]:
            self._ending.remove(take)
            take.encoder.close()
            self._said(take)

    def _said(self, take: _Take) -> None:
        if take.error is not None and take.error not in self.errors:
            self.errors.append(take.error)
            self.showlog.error(f"recording: {take.error}", "recording failed")

    def stop(self) -> None:
        """End of show: finish the files (waits for the encoders to write what they hold)."""
        if self._take is not None:
            self._end(self._take)
        for take in self._ending:
            take.encoder.wait()
            self._said(take)
        self._ending = []
        if self._spare is not None:
            self._spare.close()
            self._spare = None

    def report(self) -> dict:
        return {"files": self.files, "recording": self.recording, "frames": self.frames,
                "dropped": self.dropped, "errors": self.errors}


class _Take:
    """One recording: the readback on the render thread, the encoder in its own process."""

    def __init__(self, owner: Recorder, encoder: EncoderProcess, path: Path, size, audio_start: int, start: dict):
        self.path, self.size, self.rate = path, size, owner.rate
        self.audio_start = self._audio_at = audio_start
        self.n = 0  # frames since the take started
        self._last_t = -1.0
        self._rate = RateGate(owner.fps)  # a picture every 1/fps s, the grid from the take's first picture
        self.encoder = encoder
        try:
            encoder.open(path, size, self.rate, owner.options, "yuv420p" if owner.gpu_yuv else "rgba",
                         PENDING_FRAMES)
        except OSError:
            encoder.close()
            raise
        self.readback = Readback(owner.ctx, size, owner.gpu_yuv, encoder)
        self.encoder.log(start)

    @property
    def error(self) -> str | None:
        return self.encoder.error

    def audio(self, span: AudioSpan) -> None:
        """The samples the analyser consumed this frame (silence for any it skipped)."""
        end = span.start + span.length
        if end <= self._audio_at:
            return
        samples = span.padded()
        self.encoder.audio(samples[max(0, self._audio_at - span.start):])
        self._audio_at = end

    def log(self, position: int, events: list[dict]) -> None:
        """This frame's control events, stamped with the take's frame index and audio time."""
        t = round((position - self.audio_start) / self.rate, 6)
        for e in events:
            self.encoder.log(event_line(e, self.n, t))
        self.n += 1
        self._position = position

    def picture(self, compositor) -> None:
        t = (self._position - self.audio_start) / self.rate
        if t <= self._last_t:  # no new audio (a stalled source): go on at the frame's own pace
            t = self._last_t + 1e-3
        self._last_t = t
        if not self._rate.due(t):
            return
        self.readback.push(compositor, t)

    def finish(self) -> None:
        """Stop recording: collect what is in flight, then the encoder finishes the file in its process."""
        self.readback.finish()
        self.encoder.log({"kind": "stop", "frame": self.n, "t": round((self._audio_at - self.audio_start)
                                                                      / self.rate, 6)})
        self.encoder.finish()
