"""Compositor: the frame's texture → the output picture (DESIGN §1).

It mixes the two decks through the transition shader (DESIGN §7) into an
offscreen framebuffer at the output size (so a recorder or a
test can read back exactly what the projector shows, without the HUD), then
copies that to the window.

Post effects (render/effects.py) are applied in the same pass, by a variant of
the transition program compiled with EFFECTS and the stages that are on (each
variant compiled once, when first needed, and kept). Trails keep a small half-float
trail texture (a quarter of the output's width and height) in two copies used
in turn: a small pass writes the next trail from the previous one, and the
picture mixes in the previous one. With every effect off the plain program
runs: effects cost nothing until used, and the picture is exactly what it was.
"""

from __future__ import annotations

import dataclasses

import moderngl
import numpy as np

from ..control.params import Params
from .effects import EffectFrame
from .gl import load_program

FX_UNIFORMS = ("kaleido", "swirl", "angle", "hue", "contrast", "white", "vignette")


class Compositor:
    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        self.ctx = ctx
        # The transition program: plain, and a variant per set of effect stages (see _program).
        self.programs: dict[frozenset, moderngl.Program] = {}
        self.vaos: dict[frozenset, moderngl.VertexArray] = {}
        self._program(frozenset())
        self.display = load_program(ctx, "display")
        self.vao = ctx.vertex_array(self.display, [])
        self.fbo: moderngl.Framebuffer | None = None
        self._trails: list = []  # GL objects of the trail, made when first needed
        self._trail = 0
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
        self._release_trails()
        picture = self.ctx.texture((width, height), 4)
        picture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        picture.repeat_x = picture.repeat_y = False  # clamp: edges must not blend with the opposite edge
        self.fbo = self.ctx.framebuffer(color_attachments=[picture])

    def _release_trails(self) -> None:
        for obj in self._trails:
            obj.release()
        self._trails = []

    def _trail_targets(self):
        """([fbo of trail 0, fbo of trail 1], [trail 0, trail 1]), made on first use at this size.
        The trail is half-float: an 8-bit trail would never fade out completely."""
        if not self._trails:
            w, h = self.fbo.size
            trails = [self.ctx.texture((max(1, w // 4), max(1, h // 4)), 4, dtype="f2") for _ in range(2)]
            for t in trails:
                t.filter = (moderngl.LINEAR, moderngl.LINEAR)
                t.repeat_x = t.repeat_y = False
            fbos = [self.ctx.framebuffer(color_attachments=[t]) for t in trails]
            self._trails = [*fbos, *trails]
            self._trail = 0
            self._trail_fresh = True  # nothing in them yet: the first frame starts the trail
        return self._trails[:2], self._trails[2:]

    def _program(self, stages: frozenset) -> moderngl.Program:
        """The transition compiled with these effect stages (EffectFrame.stages); compiled once."""
        if stages not in self.programs:
            defines = {name: "1" for name in stages} | ({"EFFECTS": "1"} if stages else {})
            self.programs[stages] = load_program(self.ctx, "transition", defines)
            self.vaos[stages] = self.ctx.vertex_array(self.programs[stages], [])
        return self.programs[stages]

    def draw(self, deck_a: moderngl.Texture, deck_b: moderngl.Texture | None, params: Params,
             fade: float | None = None, fx: EffectFrame | None = None) -> None:
        """Render the output picture into the offscreen framebuffer. Once per frame.

        fade: 0 shows deck A, 1 deck B (default: the crossfader parameter);
        with no deck B, A is shown alone. fx: this frame's post effects (None or inactive: none).
        """
        stages = fx.stages() if fx is not None and fx.active else frozenset()
        self.ctx.disable(moderngl.BLEND)
        if "TRAILS" in stages:
            fbos, trails = self._trail_targets()
            if self._trail_fresh:  # new trail textures (first use, or a resize): start the trail afresh
                fx = dataclasses.replace(fx, trail_keep=0.0)
                self._trail_fresh = False
            trails[self._trail].use(location=2)  # the previous trail, read by both passes
            fbos[1 - self._trail].use()
            warp = stages & {"SPIN", "SWIRL", "KALEIDO"}
            self._pass(warp | {"TRAIL_PASS"}, deck_a, deck_b, params, fade, fx)  # the next trail
            self._trail = 1 - self._trail
        self.fbo.use()
        self._pass(stages, deck_a, deck_b, params, fade, fx)

    def _pass(self, stages: frozenset, deck_a, deck_b, params: Params, fade: float | None,
              fx: EffectFrame | None) -> None:
        p = self._program(frozenset(stages))
        if "trail" in p:
            p["trail"].value = 2
            p["trail_keep"].value = float(fx.trail_keep)
        deck_a.use(location=0)
        (deck_b or deck_a).use(location=1)
        p["deck_a"].value = 0
        p["deck_b"].value = 1
        p["fade"].value = 0.0 if deck_b is None else float(params.crossfader if fade is None else fade)
        p["mode"].value = params.mode("transition")
        if "brightness" in p:  # not in the trail pass: the trail is kept before brightness and colour
            p["brightness"].value = params.brightness
            p["blackout"].value = params.blackout
        if stages:
            w, h = self.fbo.size
            if "aspect" in p:
                p["aspect"].value = (w / h, 1.0)
            for name in FX_UNIFORMS:
                if name in p:  # only the stages compiled in have their uniforms
                    p[name].value = float(getattr(fx, name))
        self.vaos[frozenset(stages)].render(moderngl.TRIANGLES, vertices=3)

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
