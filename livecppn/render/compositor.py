"""Compositor: the frame's texture → the output picture (DESIGN §1).

It draws into an offscreen framebuffer at the output size (so a recorder or a
test can read back exactly what the projector shows, without the HUD), then
copies that to the window. Later stages (transitions between decks, post
effects) slot in here as more shader passes.
"""

from __future__ import annotations

import moderngl
import numpy as np

from ..control.params import Params
from .gl import load_program


class Compositor:
    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        self.ctx = ctx
        self.display = load_program(ctx, "display")
        self.vao = ctx.vertex_array(self.display, [])
        self.fbo: moderngl.Framebuffer | None = None
        self.resize(width, height)

    @property
    def size(self) -> tuple[int, int]:
        return self.fbo.size

    def resize(self, width: int, height: int) -> None:
        width, height = max(1, width), max(1, height)
        if self.fbo is not None and self.fbo.size == (width, height):
            return
        if self.fbo is not None:
            self.fbo.color_attachments[0].release()
            self.fbo.release()
        picture = self.ctx.texture((width, height), 4)
        picture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        picture.repeat_x = picture.repeat_y = False  # clamp: edges must not blend with the opposite edge
        self.fbo = self.ctx.framebuffer(color_attachments=[picture])

    def draw(self, frame: moderngl.Texture, params: Params) -> None:
        """Render the output picture into the offscreen framebuffer. Once per frame."""
        self.fbo.use()
        self.ctx.disable(moderngl.BLEND)
        self._pass(frame, flip_y=True, brightness=params.brightness, blackout=params.blackout)

    def _pass(self, texture: moderngl.Texture, flip_y: bool, brightness: float = 1.0, blackout: float = 0.0) -> None:
        texture.use(location=0)
        self.display["frame"].value = 0
        self.display["flip_y"].value = flip_y
        self.display["brightness"].value = brightness
        self.display["blackout"].value = blackout
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def present(self, screen: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        """Draw the output picture over the window's framebuffer of `size` pixels.

        The size comes from the window: moderngl's screen object keeps the size
        it had when the context was created, so it cannot be trusted after a
        resize or a fullscreen switch.
        """
        screen.use()
        screen.viewport = (0, 0, *size)
        self.ctx.disable(moderngl.BLEND)
        self._pass(self.fbo.color_attachments[0], flip_y=False)

    def read(self) -> np.ndarray:
        """The output picture as RGB uint8 (H, W, 3), row 0 at the top. Stalls the GPU: tests and tools only."""
        w, h = self.fbo.size
        data = self.fbo.read(components=3, alignment=1)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()
