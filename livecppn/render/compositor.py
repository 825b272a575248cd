"""Compositor: the frame's texture → the output picture (DESIGN §1).

It mixes the two decks through the transition shader (DESIGN §7) into an
offscreen framebuffer at the output size (so a recorder or a
test can read back exactly what the projector shows, without the HUD), then
copies that to the window.

With a post effect on (render/effects.py), the transition writes a float
picture instead, and the effects shader turns it into the output picture and
the trail state, which ping-pongs between two float textures (each frame reads
the one the last frame wrote). With every effect off that pass is skipped:
effects cost nothing until used, and the picture is exactly what it was.
"""

from __future__ import annotations

import moderngl
import numpy as np

from ..control.params import Params
from .effects import EffectFrame
from .gl import load_program


class Compositor:
    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        self.ctx = ctx
        self.transition = load_program(ctx, "transition")
        self.transition_vao = ctx.vertex_array(self.transition, [])
        self.display = load_program(ctx, "display")
        self.vao = ctx.vertex_array(self.display, [])
        self.effects = load_program(ctx, "effects")
        self.effects_vao = ctx.vertex_array(self.effects, [])
        self.fbo: moderngl.Framebuffer | None = None
        self._post: list = []  # GL objects of the effects pass, made when first needed
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
        self._release_post()
        picture = self.ctx.texture((width, height), 4)
        picture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        picture.repeat_x = picture.repeat_y = False  # clamp: edges must not blend with the opposite edge
        self.fbo = self.ctx.framebuffer(color_attachments=[picture])

    def _release_post(self) -> None:
        for obj in self._post:
            obj.release()
        self._post = []

    def _post_targets(self):
        """(mixed fbo, [fbo writing trail 0, fbo writing trail 1], trails), made on first use at this size.
        The mixed picture is 32-bit float so the effects pass reads exactly what the transition computed."""
        if not self._post:
            size = self.fbo.size
            mixed = self.ctx.texture(size, 4, dtype="f4")
            mixed.filter = (moderngl.LINEAR, moderngl.LINEAR)
            trails = [self.ctx.texture(size, 4, dtype="f2") for _ in range(2)]
            for t in trails:
                t.filter = (moderngl.NEAREST, moderngl.NEAREST)
            mixed_fbo = self.ctx.framebuffer(color_attachments=[mixed])
            outs = [self.ctx.framebuffer(color_attachments=[self.fbo.color_attachments[0], t]) for t in trails]
            self._post = [mixed_fbo, *outs, mixed, *trails]
            self._trail = 0
        return self._post[0], self._post[1:3], self._post[4:6]
    def draw(self, deck_a: moderngl.Texture, deck_b: moderngl.Texture | None, params: Params,
             fade: float | None = None, fx: EffectFrame | None = None) -> None:
        """Render the output picture into the offscreen framebuffer. Once per frame.

        fade: 0 shows deck A, 1 deck B (default: the crossfader parameter);
        with no deck B, A is shown alone. fx: this frame's post effects (None or inactive: none).
        """
        post = fx is not None and fx.active
        if post:
            mixed_fbo, outs, trails = self._post_targets()
            mixed_fbo.use()
        else:
            self.fbo.use()
        self.ctx.disable(moderngl.BLEND)
        deck_a.use(location=0)
        (deck_b or deck_a).use(location=1)
        p = self.transition
        p["deck_a"].value = 0
        p["deck_b"].value = 1
        p["fade"].value = 0.0 if deck_b is None else float(params.crossfader if fade is None else fade)
        p["mode"].value = int(round(params.transition))
        # With effects, brightness and blackout come last, in the effects pass (blackout beats a flash).
        p["brightness"].value = 1.0 if post else params.brightness
        p["blackout"].value = 0.0 if post else params.blackout
        self.transition_vao.render(moderngl.TRIANGLES, vertices=3)
        if post:
            self._effects(fx, params, mixed_fbo, outs, trails)

    def _effects(self, fx: EffectFrame, params: Params, mixed_fbo, outs, trails) -> None:
        read, write = trails[self._trail], outs[1 - self._trail]
        self._trail = 1 - self._trail
        write.use()
        mixed_fbo.color_attachments[0].use(location=0)
        read.use(location=1)
        p = self.effects
        w, h = self.fbo.size
        p["picture"].value = 0
        p["trail"].value = 1
        p["aspect"].value = (w / h, 1.0)
        for name in ("kaleido", "swirl", "angle", "trail_keep", "hue", "contrast", "flash", "strobe", "vignette"):
            p[name].value = float(getattr(fx, name))
        p["brightness"].value = params.brightness
        p["blackout"].value = params.blackout
        self.effects_vao.render(moderngl.TRIANGLES, vertices=3)

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
