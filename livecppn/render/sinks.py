"""Texture sinks: the seam between a generator's image and the GL texture (DESIGN §6).

A sink owns the texture the compositor samples. The render loop only calls
`resize()` when the internal resolution changes and `upload()` once per frame,
so a CUDA-GL interop sink plugs in beside the PBO sink without changing the loop.
"""

from __future__ import annotations

from typing import Protocol

import moderngl
import torch


class TextureSink(Protocol):
    name: str
    texture: moderngl.Texture

    def resize(self, width: int, height: int) -> None: ...

    def upload(self, frame: torch.Tensor) -> None:
        """frame: RGBA uint8 (H, W, 4), contiguous, row 0 at the top. Render thread only."""

    def release(self) -> None: ...


class PBOSink:
    """Host image → GL texture through two pixel buffer objects, used in turn.

    Each frame writes the PBO that the driver is not still reading from the
    previous upload, then starts the texture transfer from it; the CPU never
    waits for the previous frame's transfer, and no frame is delayed.
    """

    name = "pbo"

    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        self.ctx = ctx
        self.texture: moderngl.Texture | None = None
        self._pbos: list[moderngl.Buffer] = []
        self._next = 0
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if self.texture is not None and self.texture.size == (width, height):
            return
        self.release()
        self.texture = self.ctx.texture((width, height), 4, dtype="f1")
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.repeat_x = self.texture.repeat_y = False
        self._pbos = [self.ctx.buffer(reserve=width * height * 4, dynamic=True) for _ in range(2)]

    def upload(self, frame: torch.Tensor) -> None:
        h, w, c = frame.shape
        if (w, h) != self.texture.size or c != 4:
            raise ValueError(f"frame is {w}x{h}x{c}, texture is {self.texture.size[0]}x{self.texture.size[1]}x4")
        pbo = self._pbos[self._next]
        self._next ^= 1
        pbo.orphan()  # a fresh store if the driver still holds the old one: no stall
        pbo.write(frame.cpu().numpy())
        self.texture.write(pbo)  # glTexSubImage2D from the bound PBO: asynchronous

    def release(self) -> None:
        for pbo in self._pbos:
            pbo.release()
        self._pbos = []
        if self.texture is not None:
            self.texture.release()
            self.texture = None
