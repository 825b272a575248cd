"""Compositor: the frame's texture → the output picture (DESIGN §1).

It mixes the two decks through the transition shader (DESIGN §7) into an
offscreen framebuffer at the output size (so a recorder or a
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
        self.transition = load_program(ctx, "transition")
        self.transition_vao = ctx.vertex_array(self.transition, [])
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

    def draw(self, deck_a: moderngl.Texture, deck_b: moderngl.Texture | None, params: Params,
             fade: float | None = None) -> None:
        """Render the output picture into the offscreen framebuffer. Once per frame.

        fade: 0 shows deck A, 1 deck B (default: the crossfader parameter);
        with no deck B, A is shown alone.
        """
        self.fbo.use()
        self.ctx.disable(moderngl.BLEND)
        deck_a.use(location=0)
        (deck_b or deck_a).use(location=1)
        p = self.transition
        p["deck_a"].value = 0
        p["deck_b"].value = 1
        p["fade"].value = 0.0 if deck_b is None else float(params.crossfader if fade is None else fade)
        p["mode"].value = int(round(params.transition))
        p["brightness"].value = params.brightness
        p["blackout"].value = params.blackout
        self.transition_vao.render(moderngl.TRIANGLES, vertices=3)

    def present(self, screen: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        """Draw the output picture over the window's framebuffer of `size` pixels.

        The size comes from the window: moderngl's screen object keeps the size
        it had when the context was created, so it cannot be trusted after a
        resize or a fullscreen switch.
        """
        screen.use()
        screen.viewport = (0, 0, *size)
        self.ctx.disable(moderngl.BLEND)
        self.fbo.color_attachments[0].use(location=0)
        self.display["frame"].value = 0
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def read(self) -> np.ndarray:
        """The output picture as RGB uint8 (H, W, 3), row 0 at the top. Stalls the GPU: tests and tools only."""
        w, h = self.fbo.size
        data = self.fbo.read(components=3, alignment=1)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()
