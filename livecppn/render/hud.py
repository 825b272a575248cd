"""HUD: fps, frame time p50/p99, backend, style and audio source, and level meters.

The text panel is drawn with Pillow into a small texture a few times a
second (text changes slowly; drawing it every frame would waste CPU); the level
meters are a shader reading nine uniforms, so they move every frame.
"""

from __future__ import annotations

import time

import moderngl
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .gl import load_program

PANEL_SIZE = (360, 134)
METER_SIZE = (360, 56)
MARGIN = 12
REFRESH_S = 0.25
FEATURE_LABELS = ("bas", "mid", "tre", "cen", "rol", "flx", "tim", "bea", "rms")


class Hud:
    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.program = load_program(ctx, "hud")
        self.vao = ctx.vertex_array(self.program, [])
        self.texture = ctx.texture(PANEL_SIZE, 4)
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.font = ImageFont.load_default(size=13)
        self.visible = True
        self._last_refresh = -1.0
        self.lines: list[str] = []

    def update_text(self, lines: list[str], force: bool = False) -> None:
        """Redraw the text panel if REFRESH_S has passed (or forced)."""
        now = time.perf_counter()
        if not force and now - self._last_refresh < REFRESH_S:
            return
        self._last_refresh = now
        self.lines = lines
        img = Image.new("RGBA", PANEL_SIZE, (0, 0, 0, 150))
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(lines[:7]):  # 7 lines fit above the meter labels
            draw.text((8, 5 + 15 * i), line, font=self.font, fill=(235, 235, 235, 255))
        labels_y = PANEL_SIZE[1] - 15
        for i, label in enumerate(FEATURE_LABELS):
            draw.text((8 + i * PANEL_SIZE[0] / 9, labels_y), label, font=self.font, fill=(160, 200, 160, 255))
        self.texture.write(img.tobytes())

    def draw(self, target: moderngl.Framebuffer, size: tuple[int, int], levels: np.ndarray) -> None:
        """Overlay the HUD on a framebuffer of `size` pixels (after the picture is presented)."""
        if not self.visible:
            return
        target.use()
        w, h = size
        target.viewport = (0, 0, w, h)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self.program["viewport"].value = (w, h)
        self.texture.use(location=0)
        self.program["panel"].value = 0
        self.program["mode"].value = 0
        self.program["rect"].value = (MARGIN, MARGIN, *PANEL_SIZE)
        self.vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        self.program["mode"].value = 1
        self.program["levels"].value = tuple(float(x) for x in np.clip(levels[:9], 0.0, 1.0))
        self.program["rect"].value = (MARGIN, MARGIN + PANEL_SIZE[1], *METER_SIZE)
        self.vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        self.ctx.disable(moderngl.BLEND)
