"""Live recording (`livecppn live --record OUT.mp4`, the `record` trigger, key R).

What the projector shows (the compositor's output picture, without the HUD)
and what the show hears (the audio the analyser consumed, from the source's
ring) go to an MP4 (H.264 + AAC, offline/encode.py); the audio also goes
losslessly to `OUT.wav`, and every control change to `OUT.automation.jsonl`
(offline/automation.py), so the set can be rendered again at any size.

The render thread only starts an asynchronous readback of each frame into a
pixel buffer (a ring of PBOs) and collects it two frames later, when the GPU
is done with it, into shared memory; encoding and all disk writes run in the
encoder's own process, at a lower priority than the show
(offline/encoder_process.py says why a process). Never queue frames without
bound (DESIGN §1): when the encoder falls behind, new frames are dropped from
the recording and counted; the show never waits. A recording that fails (unwritable path, full disk) stops, is said once
(DESIGN §8), and the show goes on.

Each video frame is stamped with the audio clock at the end of its audio
window (seconds since the recording's first sample), so picture and sound
stay in sync however the live frame rate varies (a variable-frame-rate file).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import moderngl
import numpy as np

from ..offline.automation import VERSION, audio_path_for, jsonable
from ..offline.encode import EncodeOptions
from ..offline.encoder_process import EncoderProcess
from .gl import is_software_name, load_program

log = logging.getLogger("livecppn")

PENDING_FRAMES = 8  # pictures waiting for the encoder (shared-memory slots) before new ones are dropped
READBACK_DEPTH = 3  # PBOs in the ring: a frame is collected two frames after its readback started
# Live: cheap on the CPU the show shares (one encoder thread, x264's fastest preset; a little bigger files).
LIVE_ENCODE = EncodeOptions(preset="ultrafast", crf=20, threads=1)
# Pictures a second in the recording (at most the show's rate; 0: every frame shown). Fewer than a fast
# show draws halves the encoder's work and gives a steady, ordinary video rate.
RECORD_FPS = 30.0


def default_recording_path() -> Path:
    return Path("recordings") / time.strftime("livecppn-%Y%m%d-%H%M%S.mp4")


class Recorder:
    """Render thread: `frame()` once per frame after the compositor pass, `capture()` after the swap.
    Idle (and free) when not recording. `path`: where --record asked (recording from the first
    frame); None: only the `record` trigger or key starts one (at a dated name under recordings/).
    `fps`: pictures a second in the recording (RECORD_FPS; 0: every frame). `gpu_yuv`: convert to
    yuv420p in GL (default: unless GL is a software renderer)."""

    def __init__(self, ctx: moderngl.Context, path: Path | None, showlog, options: EncodeOptions = LIVE_ENCODE,
                 fps: float = RECORD_FPS, gpu_yuv: bool | None = None):
        if fps < 0:
            raise ValueError(f"recording fps must be 0 (every frame) or more, got {fps}")
        self.ctx, self.showlog, self.options, self.fps = ctx, showlog, options, fps
        self.gpu_yuv = not is_software_name(ctx.info.get("GL_RENDERER", "")) if gpu_yuv is None else gpu_yuv
        self.base = path
        self.want = path is not None  # start on the first frame
        self.takes = 0
        self.files: list[str] = []
        self.frames = 0  # frames handed to the encoder
        self.dropped = 0  # frames the encoder had no room for (not those left out by `fps`)
        self.errors: list[str] = []
        self._take: _Take | None = None
        self._ending: list[_Take] = []  # takes whose encoder is still finishing its file
        self._spare: EncoderProcess | None = None  # the next take's encoder, started ahead
        self._start_spare()
        if self.want and self._spare is not None:  # recording from the first frame: the show starts once it can
            self._spare.wait_ready()
        self._audio_pos = None  # the ring position the analyser had reached after the previous frame
        self._position = 0  # the audio position of this frame (for capture)

    @property
    def recording(self) -> bool:
        return self._take is not None

    def frame(self, analyzer, ring, compositor, bus, decks, events: list[dict]) -> None:
        """Act on this frame's `record` triggers; when recording, log its control events, pass on
        the audio the analyser consumed, and read the picture back. Never blocks."""
        for e in events:
            if e["kind"] == "trigger" and e["name"] == "record":
                v = e.get("value")
                self.want = (not self.want) if v is None else bool(float(v) >= 0.5) if _number(v) else True
        position = round(analyzer.audio_time * analyzer.sample_rate)
        previous, self._audio_pos = self._audio_pos, position
        self._reap()
        take = self._take
        if take is not None:
            take.encoder.poll()
        if take is not None and take.error is not None:  # the encoder failed: say so once, go on
            self.errors.append(take.error)
            self.showlog.error(f"recording stopped: {take.error}; the show goes on", "recording failed")
            self._end(take, failed=True)
            self.want = False
            take = None
        if take is not None and not self.want:
            self._end(take)
            take = None
        if take is None and self.want:
            take = self._start(previous if previous is not None else position, analyzer, compositor, bus, decks)
        if take is None:
            return
        take.audio(ring, position)
        take.log(position, events)
        self._position = position

    def capture(self, compositor) -> None:
        """Read this frame's picture back; call after the frame is shown (swap), when even a software
        driver, which draws only when the pixels are needed, has drawn it: the readback never makes
        the frame wait. Asynchronous (into a pixel buffer) on a hardware driver."""
        if self._take is not None:
            self._take.picture(compositor, self._position)

    def _start_spare(self) -> None:
        try:
            self._spare = EncoderProcess()
        except OSError as e:  # said when a take needs it
            self._spare = None
            log.debug("recorder: no spare encoder (%s)", e)

    def _start(self, audio_start: int, analyzer, compositor, bus, decks) -> _Take | None:
        self.takes += 1
        base = self.base or default_recording_path()
        path = base if self.takes == 1 else base.with_name(f"{base.stem}-{self.takes}{base.suffix}")
        w, h = compositor.size
        w, h = max(2, w & ~1), max(2, h & ~1)  # yuv420p needs even sizes
        start = {"kind": "start", "version": VERSION, "frame": 0, "t": 0.0, "sample_rate": analyzer.sample_rate,
                 "size": [w, h], "audio": audio_path_for(path).name, "recording": path.name,
                 "values": bus.snapshot().as_dict(), "targets": {k: bus.target(k) for k in bus.specs},
                 "decks": {k: str(d.generator.style.path) if d.generator.style.path else None
                           for k, d in decks.decks.items()}}
        try:
            encoder, self._spare = self._spare or EncoderProcess(), None
            self._take = _Take(self, self.ctx, encoder, path, (w, h), analyzer.sample_rate, audio_start, start,
                               self.gpu_yuv)
            self._start_spare()  # for the next take
        except OSError as e:  # no process or shared memory for the encoder (out of memory, process limit)
            error = f"{path}: cannot start the encoder ({e})"
            self.errors.append(error)
            self.showlog.error(f"recording not started: {error}; the show goes on", "recording failed")
            self.want = False
            return None
        self.files.append(str(path))
        log.info("recording to %s (%dx%d; audio and automation log beside it)", path, w, h)
        return self._take

    def _end(self, take: _Take, failed: bool = False) -> None:
        take.finish()
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


def _number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


class _Take:
    """One recording: the readback on the render thread, the encoder in its own process."""

    def __init__(self, owner: Recorder, ctx, encoder: EncoderProcess, path: Path, size, rate: int,
                 audio_start: int, start: dict, gpu_yuv: bool):
        self.owner, self.ctx, self.path, self.size, self.rate = owner, ctx, path, size, rate
        self.audio_start = self._audio_at = audio_start
        self.n = 0  # frames since the take started
        self._last_t = -1.0
        self._period = 1.0 / owner.fps if owner.fps else 0.0
        self._due = 0.0  # the time of the next picture to record
        w, h = size  # even (yuv420p)
        # On a GPU the picture is converted to yuv420p there (shaders/yuv420.glsl), into two targets used
        # in turn, and read back a frame later: the encoder gets the bytes it encodes, a third of the
        # picture's, with no colour conversion on the CPU. On a software driver that pass would run on the
        # render thread's CPU; there the RGBA picture is read as it is and the encoder process converts it.
        self.gpu_yuv = gpu_yuv
        self._yuv_fbos, self._programs, self._vaos, self._pbos = [], [], [], []
        if gpu_yuv:
            self._programs = [load_program(ctx, "yuv420", {"PLANE_Y": "1"}),
                              load_program(ctx, "yuv420", {"PLANE_UV": "1"})]
            self._vaos = [ctx.vertex_array(p, []) for p in self._programs]
            self._yuv_fbos = [(ctx.framebuffer(color_attachments=[ctx.texture((w, h), 1)]),
                               ctx.framebuffer(color_attachments=[ctx.texture((w // 2, h // 2), 2)]))
                              for _ in range(2)]
            self._pbos = [ctx.buffer(reserve=w * h * 3 // 2) for _ in range(READBACK_DEPTH)]
        self._yuv_next = 0
        self._yuv_t: float | None = None  # the time of the picture in the newest target, not read back yet
        self._inflight: list[tuple[moderngl.Buffer, float]] = []
        self._next = 0
        self._fbo = None  # a framebuffer at the recording's size, when the output is another size
        self.encoder = encoder
        try:
            encoder.open(path, size, rate, owner.options, "yuv420p" if gpu_yuv else "rgba", PENDING_FRAMES)
        except OSError:
            encoder.close()
            self._release_gl()
            raise
        self.encoder.log(start)

    @property
    def error(self) -> str | None:
        return self.encoder.error

    # --- render thread ---------------------------------------------------------------------------

    def audio(self, ring, position: int) -> None:
        """The samples the analyser consumed since the last frame (silence for any it skipped)."""
        start, n = self._audio_at, position - self._audio_at
        self._audio_at = position
        if n <= 0:
            return
        out = np.zeros(n, dtype=np.float32)
        have = max(0, min(position, ring.frames_written) - max(start, ring.oldest))
        if have:
            got = ring.read(position - have, have)
            out[n - len(got):] = got
        self.encoder.audio(out)

    def log(self, position: int, events: list[dict]) -> None:
        """This frame's control events, stamped with the take's frame index and audio time."""
        t = round((position - self.audio_start) / self.rate, 6)
        for e in events:
            e = {**e, "frame": self.n, "t": t}
            if "value" in e:
                e["value"] = jsonable(e["value"])
            self.encoder.log(e)
        self.n += 1

    def picture(self, compositor, position: int) -> None:
        t = (position - self.audio_start) / self.rate
        if t <= self._last_t:  # no new audio (a stalled source): go on at the frame's own pace
            t = self._last_t + 1e-3
        self._last_t = t
        if self._period:  # record a picture every period: the first frame shown at or after its time
            if t < self._due - self._period / 4:  # (a quarter period early counts: a show at 59.9 fps gives 30)
                return
            self._due = max(self._due, t - self._period / 4) + self._period
        picture = compositor.fbo.color_attachments[0]
        if compositor.fbo.size != self.size:  # an odd or a resized output: scale into the recording's size
            if self._fbo is None:
                self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.texture(self.size, 4)])
            compositor.present(self._fbo, self.size)
            picture = self._fbo.color_attachments[0]
        if not self.gpu_yuv:  # a software driver: drawn by now (the frame is shown); read it straight over
            slot = self.encoder.slot()
            if slot is None:
                self.owner.dropped += 1
                return
            view = self.encoder.buffer(slot)
            try:
                picture.read_into(view, alignment=1)
            finally:
                view.release()
            self._send(slot, t)
            return
        targets = self._yuv_fbos[self._yuv_next]
        self._yuv_next ^= 1
        picture.use(location=0)
        self.ctx.disable(moderngl.BLEND)
        for fbo, program, vao in zip(targets, self._programs, self._vaos):
            fbo.use()
            program["picture"].value = 0
            program["size"].value = self.size
            vao.render(moderngl.TRIANGLES, vertices=3)
        previous, self._yuv_t = self._yuv_t, t
        if previous is not None:  # last frame's conversion: drawn by now (its frame has been shown)
            self._read(self._yuv_fbos[self._yuv_next], previous)

    def _read(self, targets, t: float) -> None:
        pbo = self._pbos[self._next]
        self._next = (self._next + 1) % len(self._pbos)
        w, h = self.size
        # Y, then U and V interleaved, into one buffer: asynchronous on a hardware driver.
        targets[0].read_into(pbo, components=1, alignment=1)
        targets[1].read_into(pbo, components=2, alignment=1, write_offset=w * h)
        self._inflight.append((pbo, t))
        if len(self._inflight) >= len(self._pbos):
            self._collect()

    def _collect(self) -> None:
        pbo, t = self._inflight.pop(0)
        slot = self.encoder.slot()
        if slot is None:  # the encoder is behind (or failed): this frame is not recorded
            self.owner.dropped += 1
            return
        view = self.encoder.buffer(slot)
        try:
            pbo.read_into(view)  # the readback started frames ago: done by now
        finally:
            view.release()
        self._send(slot, t)

    def _send(self, slot: int, t: float) -> None:
        self.encoder.video(slot, t)
        self.owner.frames += 1

    def finish(self) -> None:
        """Stop recording: collect what is in flight, then the encoder finishes the file in its process."""
        if self._yuv_t is not None:  # the newest conversion has not been read back yet
            self._read(self._yuv_fbos[self._yuv_next ^ 1], self._yuv_t)
            self._yuv_t = None
        while self._inflight:
            self._collect()
        self._release_gl()
        self.encoder.log({"kind": "stop", "frame": self.n, "t": round((self._audio_at - self.audio_start)
                                                                      / self.rate, 6)})
        self.encoder.finish()

    def _release_gl(self) -> None:
        for pbo in self._pbos:
            pbo.release()
        for fbo in [f for pair in self._yuv_fbos for f in pair] + ([self._fbo] if self._fbo is not None else []):
            fbo.color_attachments[0].release()
            fbo.release()
        for obj in self._vaos + self._programs:
            obj.release()
