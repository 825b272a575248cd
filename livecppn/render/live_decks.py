"""The live show's decks: their backend, their internal resolution, and the fallback (DESIGN §6, §8).

Internal resolution: `--internal WxH` fixes it; `--render-scale F` makes it the
output size × F (the cuda default is 1); otherwise it is measured at start-up
on this machine: the largest size whose CPPN time fits a share of the frame
(cpu aims at 30 fps, glsl at 60), calibrated on one deck (while a transition
shows both, the CPPN costs twice as much). That is also how the glsl backend
gives a weak GPU a reduced internal resolution. When the window changes shape
the pixel count is kept (or the scale).

The show must go on: when CUDA-GL interop fails (registering the texture at start
or on a resize, mapping or copying mid-show), that deck moves to the PBO upload,
said once, and the frame still shows. When the glsl backend's shader does not compile for a
style, at start or when a deck loads a style of a new width, the driver's
message is logged once (with the style's name) and both decks move to the cpu
backend, calibrated afresh; the frame loop never sees the error. Render thread,
except `prepare`, which the style loader's thread calls for each load: it makes
there what the backend's set_style would otherwise make on the render thread at
the change (issue 14: a deck change without a hitch).
"""

from __future__ import annotations

import math

import moderngl

from ..model.cppn import CPPN
from ..model.generator import prepare_style
from ..model.style import Style
from ..showlog import ShowLog
from .backends import CPU, Backend, Choice, calibrate_internal_size, create_backends, fit_aspect
from .cuda_interop import InteropError
from .decks import Decks
from .gl import ShaderError
from .sinks import PBOSink

TARGET_FPS = {"cpu": 30.0, "glsl": 60.0, "cuda": 60.0}  # what a calibrated internal size aims for
CPPN_BUDGET = 0.5  # share of the frame the CPPN may take; the rest is features, upload, display, HUD


class LiveDecks:
    """Decks A and B for `livecppn live`; `decks` is what the frame loop renders."""

    def __init__(self, ctx: moderngl.Context, choice: Choice, styles: tuple[Style, Style],
                 output: tuple[int, int], showlog: ShowLog, internal: tuple[int, int] | None = None,
                 render_scale: float | None = None):
        self.ctx, self.showlog, self.output = ctx, showlog, output
        self.fixed, self.render_scale = internal, render_scale
        decks = {"a": styles[0], "b": styles[1]}
        try:
            backends = self._open(choice, decks)
        except ShaderError as e:
            backends = self._fall_back(e, decks)
        except InteropError as e:  # the texture's registration with CUDA failed at start
            showlog.error(f"CUDA-GL interop failed at start ({e}); frames go through host memory (PBO upload)")
            backends = self._open(Choice(choice.backend, "pbo"), decks)
        self.decks = Decks(backends["a"], backends["b"], fallback=self._fall_back, sink_fallback=self._to_pbo)

    def _open(self, choice: Choice, styles: dict[str, Style]) -> dict[str, Backend]:
        """Both decks' backends at the internal size for this choice (calibrated when it is measured)."""
        out_w, out_h = self.output
        self.scale = self.render_scale or (1.0 if choice.backend == "cuda" and self.fixed is None else None)
        first = self.fixed or (scaled(self.output, self.scale) if self.scale else fit_aspect(90, out_w / out_h))
        backends = create_backends(choice, self.ctx, styles, first)
        self.calibration = None
        self.internal = first
        if self.fixed is None and self.scale is None:
            budget = 1000.0 / TARGET_FPS[choice.backend] * CPPN_BUDGET
            self.internal, self.calibration = calibrate_internal_size(backends["a"].generator, out_w / out_h,
                                                                      budget, max_height=out_h)
        for backend in backends.values():
            backend.generator.resize(*self.internal)
            backend.sink.resize(*self.internal)
        self.pixel_budget = self.internal[0] * self.internal[1]  # kept when the window changes shape
        self._target = (choice.backend, self.internal)  # what prepare() makes things for (one frozen value)
        return backends

    def prepare(self, style: Style, model: CPPN) -> None:
        """The style loader's thread, after each load: the palette table and coordinate grid (cpu,
        cuda) or the packed weights and palette table (glsl) the deck's set_style will use. Reads
        only `_target`, a frozen value the render thread replaces; no GL."""
        backend, size = self._target
        if backend == "glsl":
            from .glsl_backend import prepare_style as prepare_glsl

            prepare_glsl(style, model)
        else:  # cuda moves the network to fp16 first, so its palette table is made then; the grid is not
            prepare_style(model, size, lut=backend == "cpu")

    def _to_pbo(self, deck: str, error: InteropError) -> PBOSink:
        """A deck whose CUDA-GL interop failed mid-show goes on through the PBO upload (said once)."""
        self.showlog.error(f"deck {deck.upper()}: CUDA-GL interop failed ({error}); its frames now go "
                           "through host memory (PBO upload), the show continues", kind="interop")
        return PBOSink(self.ctx, *self.internal)

    def _fall_back(self, error: ShaderError, styles: dict[str, Style]) -> dict[str, Backend]:
        self.showlog.error(f"{error}; the show continues on the cpu backend")
        return self._open(CPU, styles)

    def follow(self, out_w: int, out_h: int) -> None:
        """The window changed size: the internal size follows (same scale, or same pixel count)."""
        self.output = (out_w, out_h)
        if self.scale:
            self.internal = scaled((out_w, out_h), self.scale)
        else:
            h = max(1, round(math.sqrt(self.pixel_budget * out_h / out_w)))
            self.internal = fit_aspect(min(h, out_h), out_w / out_h)
        self.decks.resize(*self.internal)
        self._target = (self._target[0], self.internal)


def scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
