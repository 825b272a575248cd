"""Backend choice (DESIGN §6): which device runs the CPPN and which sink feeds GL.

The spine ships the cpu backend (torch fp32 at a reduced internal resolution,
PBO upload, upscaled by the display shader). The cuda backend (fp16 + CUDA-GL
interop) and the glsl backend plug in here with their own sinks.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass

import moderngl

from ..model.generator import Generator
from ..model.style import Style
from .sinks import PBOSink, TextureSink

log = logging.getLogger("livecppn.render")

BACKENDS = ("auto", "cpu", "cuda", "glsl")
IMPLEMENTED = ("cpu",)


class BackendError(RuntimeError):
    pass


@dataclass
class Backend:
    name: str
    generator: Generator
    sink: TextureSink


def create_backend(name: str, ctx: moderngl.Context, style: Style, internal: tuple[int, int]) -> Backend:
    """Build the requested backend; 'auto' picks the best that can run here."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        name = "cpu"
    if name not in IMPLEMENTED:
        raise BackendError(f"backend {name!r} is not available in this build; available: {', '.join(IMPLEMENTED)}")
    w, h = internal
    return Backend("cpu", Generator(style, w, h, device="cpu"), PBOSink(ctx, w, h))


# Internal heights tried by the auto choice, smallest first.
HEIGHT_LADDER = (72, 90, 108, 126, 144, 162, 180, 216, 252, 288, 360, 432, 540, 720, 1080, 1440, 2160)


def fit_aspect(height: int, aspect: float) -> tuple[int, int]:
    return max(1, round(height * aspect)), height


def calibrate_internal_size(generator: Generator, aspect: float, budget_ms: float,
                            max_height: int) -> tuple[tuple[int, int], dict]:
    """Largest internal size whose measured CPPN time fits the budget.

    Renders a few frames at a probe size to learn the cost per pixel on this
    machine (it scales linearly with pixels), predicts each ladder step, then
    confirms the pick with a real measurement and steps down if it is over.
    """
    def measure(size: tuple[int, int]) -> float:
        generator.resize(*size)
        generator.render(0.0, [0.0] * generator.model.config.n_audio)  # warm-up
        times = []
        for i in range(5):
            t0 = time.perf_counter()
            generator.render(0.1 * i, [0.5] * generator.model.config.n_audio)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    probe = fit_aspect(90, aspect)
    probe_ms = measure(probe)
    per_pixel = probe_ms / (probe[0] * probe[1])
    candidates = [h for h in HEIGHT_LADDER if h <= max_height] or [HEIGHT_LADDER[0]]
    pick = candidates[0]
    for h in candidates:
        w, _ = fit_aspect(h, aspect)
        if per_pixel * w * h <= budget_ms:
            pick = h
    # Confirm: step down while the real measurement is over budget.
    idx = candidates.index(pick)
    measured = measure(fit_aspect(pick, aspect))
    while measured > budget_ms and idx > 0:
        idx -= 1
        pick = candidates[idx]
        measured = measure(fit_aspect(pick, aspect))
    size = fit_aspect(pick, aspect)
    return size, {"probe": list(probe), "probe_ms": round(probe_ms, 3), "budget_ms": budget_ms,
                  "chosen": list(size), "chosen_ms": round(measured, 3)}
