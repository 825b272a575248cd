"""Reading the output picture back for an output tap, without making a frame wait (DESIGN §1, §6).

Two formats:
- "yuv420p" (the recorder on a GPU): the picture is converted in GL
  (shaders/yuv420.glsl) into two targets used in turn, and read back a frame
  later into a ring of pixel buffers, asynchronously: the encoder gets the
  bytes it encodes, a third of the picture's, with no colour conversion on
  the CPU.
- "rgba" (NDI, a virtual camera, the recorder on a software driver): on a GPU
  the picture is read into the same kind of ring and collected frames later
  (`pbo=True`); on a software driver, where a pixel buffer is only one more
  copy on the render thread's CPU, it is read straight over (it is drawn by
  the time the frame is shown). Rows come bottom first, as GL keeps them.

The pictures go into slots a `Slots` owner hands out (the encoder process's
shared memory, media/encoder_process.py; a tap's mailbox, show/outputs/tap.py);
when it has none free the picture is dropped and counted, never waited for.
Render thread only.
"""

from __future__ import annotations

from typing import Protocol

import moderngl

from .gl import load_program

READBACK_DEPTH = 3  # PBOs in the ring: a frame is collected two frames after its readback started


class Slots(Protocol):
    def slot(self) -> int | None: ...  # a free slot, or None when the consumer is behind

    def buffer(self, slot: int) -> memoryview: ...

    def video(self, slot: int, t: float) -> None: ...  # the slot holds the picture shown at t


class Readback:
    """Pictures of `size` (even for yuv420p) into `slots`. `sent` and `dropped` count pictures.
    `gpu_yuv`: the "yuv420p" format, converted in GL; else RGBA, through pixel buffers when `pbo`."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], gpu_yuv: bool, slots: Slots,
                 pbo: bool = False):
        self.ctx, self.size, self.gpu_yuv, self.slots = ctx, size, gpu_yuv, slots
        self.pbo = pbo and not gpu_yuv
        self.sent = self.dropped = 0
        w, h = size
        self._yuv_fbos, self._programs, self._vaos, self._pbos = [], [], [], []
        if self.pbo:
            self._pbos = [ctx.buffer(reserve=w * h * 4) for _ in range(READBACK_DEPTH)]
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

    def push(self, compositor, t: float) -> None:
        """The compositor's picture, shown at `t`; call after the frame is shown (swap)."""
        picture = compositor.fbo.color_attachments[0]
        if compositor.fbo.size != self.size:  # an odd or a resized output: scale into the recording's size
            if self._fbo is None:
                self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.texture(self.size, 4)])
            compositor.present(self._fbo, self.size)
            picture = self._fbo.color_attachments[0]
        if self.pbo:  # RGBA on a GPU: into the ring now, collected frames later
            self._read((picture,), t)
            return
        if not self.gpu_yuv:  # a software driver: drawn by now (the frame is shown); read it straight over
            slot = self._slot()
            if slot is not None:
                view = self.slots.buffer(slot)
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

    def finish(self) -> None:
        """Collect what is in flight, then free the GL objects."""
        if self._yuv_t is not None:  # the newest conversion has not been read back yet
            self._read(self._yuv_fbos[self._yuv_next ^ 1], self._yuv_t)
            self._yuv_t = None
        while self._inflight:
            self._collect()
        self.release()

    def release(self) -> None:
        for pbo in self._pbos:
            pbo.release()
        for fbo in [f for pair in self._yuv_fbos for f in pair] + ([self._fbo] if self._fbo is not None else []):
            fbo.color_attachments[0].release()
            fbo.release()
        for obj in self._vaos + self._programs:
            obj.release()
        self._pbos, self._yuv_fbos, self._vaos, self._programs, self._fbo = [], [], [], [], None

    def _read(self, targets, t: float) -> None:
        pbo = self._pbos[self._next]
        self._next = (self._next + 1) % len(self._pbos)
        w, h = self.size
        if self.pbo:  # one RGBA texture
            targets[0].read_into(pbo, alignment=1)
        else:  # Y, then U and V interleaved, into one buffer: asynchronous on a hardware driver
            targets[0].read_into(pbo, components=1, alignment=1)
            targets[1].read_into(pbo, components=2, alignment=1, write_offset=w * h)
        self._inflight.append((pbo, t))
        if len(self._inflight) >= len(self._pbos):
            self._collect()

    def _collect(self) -> None:
        pbo, t = self._inflight.pop(0)
        slot = self._slot()
        if slot is None:
            return
        view = self.slots.buffer(slot)
        try:
            pbo.read_into(view)  # the readback started frames ago: done by now
        finally:
            view.release()
        self._send(slot, t)

    def _slot(self) -> int | None:
        slot = self.slots.slot()
        if slot is None:  # the consumer is behind (or failed): this picture is not recorded
            self.dropped += 1
        return slot

    def _send(self, slot: int, t: float) -> None:
        self.slots.video(slot, t)
        self.sent += 1
