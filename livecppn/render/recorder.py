"""Live recording (`livecppn live --record OUT.mp4`, the `record` trigger, key R).

What the projector shows (the compositor's output picture, without the HUD)
and what the show hears (the audio the analyser consumed, from the source's
ring) go to an MP4 (H.264 + AAC, offline/encode.py); the audio also goes
losslessly to `OUT.wav`, and every control change to `OUT.automation.jsonl`
(offline/automation.py), so the set can be rendered again at any size.

The render thread only starts an asynchronous readback of each frame into a
pixel buffer (a ring of PBOs) and collects it two frames later, when the GPU
is done with it; encoding and all disk writes run on the recorder's own
thread. Never queue frames without bound (DESIGN §1): when the encoder falls
behind, new frames are dropped from the recording and counted; the show never
waits. A recording that fails (unwritable path, full disk) stops, is said once
(DESIGN §8), and the show goes on.

Each video frame is stamped with the audio clock at the end of its audio
window (seconds since the recording's first sample), so picture and sound
stay in sync however the live frame rate varies (a variable-frame-rate file).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path

import moderngl
import numpy as np

from ..offline.automation import VERSION, audio_path_for, jsonable, log_path_for
from ..offline.encode import EncodeError, EncodeOptions, VideoWriter
from .gl import load_program

log = logging.getLogger("livecppn")

PENDING_FRAMES = 8  # video frames waiting for the encoder before new ones are dropped
READBACK_DEPTH = 3  # PBOs in the ring: a frame is collected two frames after its readback started
# Live: cheap on the CPU the show shares (one encoder thread, x264's fastest preset; a little bigger files).
LIVE_ENCODE = EncodeOptions(preset="ultrafast", crf=20, threads=1)


def default_recording_path() -> Path:
    return Path("recordings") / time.strftime("livecppn-%Y%m%d-%H%M%S.mp4")


class Recorder:
    """Render thread: `frame()` once per frame after the compositor pass, `capture()` after the swap.
    Idle (and free) when not
    recording. `path`: where --record asked (recording from the first frame); None: only the
    `record` trigger or key starts one (at a dated name under recordings/)."""

    def __init__(self, ctx: moderngl.Context, path: Path | None, showlog, options: EncodeOptions = LIVE_ENCODE):
        self.ctx, self.showlog, self.options = ctx, showlog, options
        self.base = path
        self.want = path is not None  # start on the first frame
        self.takes = 0
        self.files: list[str] = []
        self.frames = 0  # frames handed to the encoder
        self.dropped = 0  # frames the encoder had no room for
        self.errors: list[str] = []
        self._take: _Take | None = None
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
        take = self._take
        if take is not None and take.error is not None:  # the encoder thread failed: say so once, go on
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
        self._take = _Take(self, self.ctx, path, (w, h), analyzer.sample_rate, audio_start, start)
        self.files.append(str(path))
        log.info("recording to %s (%dx%d; audio and automation log beside it)", path, w, h)
        return self._take

    def _end(self, take: _Take, failed: bool = False) -> None:
        take.finish()
        self._take = None
        if not failed:
            log.info("recording ended: %s", take.path)

    def stop(self) -> None:
        """End of show: finish the file (waits for the encoder to write what it holds)."""
        take, self._take = self._take, None
        if take is not None:
            take.finish()
            take.join()
            if take.error is not None and take.error not in self.errors:
                self.errors.append(take.error)
                self.showlog.error(f"recording: {take.error}", "recording failed")

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
    """One recording: the readback ring on the render thread, the writer on its own thread."""

    def __init__(self, owner: Recorder, ctx, path: Path, size, rate: int, audio_start: int, start: dict):
        self.owner, self.ctx, self.path, self.size, self.rate = owner, ctx, path, size, rate
        self.audio_start = self._audio_at = audio_start
        self.error: str | None = None
        self.n = 0  # frames since the take started
        self._last_t = -1.0
        self._pending = 0  # video frames queued (render thread adds, encoder thread subtracts)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        w, h = size  # even (yuv420p)
        # The picture is converted to yuv420p on the GPU (shaders/yuv420.glsl), into two targets used in
        # turn, and read back a frame later; the encoder thread gets the bytes it encodes, with no
        # colour conversion of its own on the CPU the show shares.
        self._programs = [load_program(ctx, "yuv420", {"PLANE_Y": "1"}), load_program(ctx, "yuv420", {"PLANE_UV": "1"})]
        self._vaos = [ctx.vertex_array(p, []) for p in self._programs]
        self._yuv_fbos = [(ctx.framebuffer(color_attachments=[ctx.texture((w, h), 1)]),
                           ctx.framebuffer(color_attachments=[ctx.texture((w // 2, h // 2), 2)])) for _ in range(2)]
        self._yuv_next = 0
        self._yuv_t: float | None = None  # the time of the picture in the newest target, not read back yet
        self._pbos = [ctx.buffer(reserve=w * h * 3 // 2) for _ in range(READBACK_DEPTH)]
        self._inflight: list[tuple[moderngl.Buffer, float]] = []
        self._next = 0
        self._fbo = None  # a framebuffer at the recording's size, when the output is another size
        self._queue.put(("log", start))
        self._thread = threading.Thread(target=self._run, name="livecppn-recorder", daemon=True)
        self._thread.start()

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
        self._queue.put(("audio", out))

    def log(self, position: int, events: list[dict]) -> None:
        """This frame's control events, stamped with the take's frame index and audio time."""
        t = round((position - self.audio_start) / self.rate, 6)
        for e in events:
            e = {**e, "frame": self.n, "t": t}
            if "value" in e:
                e["value"] = jsonable(e["value"])
            self._queue.put(("log", e))
        self.n += 1

    def picture(self, compositor, position: int) -> None:
        t = (position - self.audio_start) / self.rate
        if t <= self._last_t:  # no new audio (a stalled source): go on at the frame's own pace
            t = self._last_t + 1e-3
        self._last_t = t
        picture = compositor.fbo.color_attachments[0]
        if compositor.fbo.size != self.size:  # an odd or a resized output: scale into the recording's size
            if self._fbo is None:
                self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.texture(self.size, 4)])
            compositor.present(self._fbo, self.size)
            picture = self._fbo.color_attachments[0]
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
        with self._lock:
            room = self._pending < PENDING_FRAMES
            if room:
                self._pending += 1
        if room and self.error is None:
            self._queue.put(("video", pbo.read(), t))  # the readback started frames ago: done by now
            self.owner.frames += 1
        else:
            self.owner.dropped += 1

    def finish(self) -> None:
        """Stop recording: collect what is in flight, then the encoder finishes the file on its thread."""
        if self._yuv_t is not None:  # the newest conversion has not been read back yet
            self._read(self._yuv_fbos[self._yuv_next ^ 1], self._yuv_t)
            self._yuv_t = None
        while self._inflight:
            self._collect()
        for pbo in self._pbos:
            pbo.release()
        for fbo in [f for pair in self._yuv_fbos for f in pair] + ([self._fbo] if self._fbo is not None else []):
            fbo.color_attachments[0].release()
            fbo.release()
        for obj in self._vaos + self._programs:
            obj.release()
        self._queue.put(("log", {"kind": "stop", "frame": self.n, "t": round((self._audio_at - self.audio_start)
                                                                          / self.rate, 6)}))
        self._queue.put(None)

    def join(self, timeout: float = 30.0) -> None:
        self._thread.join(timeout)

    # --- encoder thread --------------------------------------------------------------------------

    def _run(self) -> None:
        import wave

        writer = wav = logf = None
        w, h = self.size
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            writer = VideoWriter(self.path, self.size, None, audio_rate=self.rate, options=self.owner.options)
            wav = wave.open(str(audio_path_for(self.path)), "wb")
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            logf = open(log_path_for(self.path), "w")
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if item[0] == "video":
                    with self._lock:
                        self._pending -= 1
                    data = np.frombuffer(item[1], dtype=np.uint8)
                    uv = data[w * h:].reshape(-1, 2)  # U and V interleaved → the planes, one after the other
                    writer.write(np.concatenate([data[:w * h], uv[:, 0], uv[:, 1]]).reshape(h * 3 // 2, w), item[2])
                elif item[0] == "audio":
                    writer.write_audio(item[1])
                    wav.writeframes((np.clip(item[1], -1, 1) * 32767).astype("<i2").tobytes())
                else:
                    logf.write(json.dumps(item[1]) + "\n")
            writer.close()
        except (EncodeError, OSError, ValueError) as e:
            self.error = str(e) if isinstance(e, EncodeError) else f"{self.path}: {getattr(e, 'strerror', None) or e}"
            if writer is not None:
                writer.abort()  # what was written stays playable (fragmented MP4)
            while self._queue.get() is not None:  # drain: the render thread may still be putting
                pass
        finally:
            for f in (wav, logf):
                try:
                    if f is not None:
                        f.close()
                except OSError:
                    pass
