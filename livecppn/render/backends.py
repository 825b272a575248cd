"""Backend choice (DESIGN §6): which device runs the CPPN and which sink feeds GL.

- cuda: torch fp16 on the GPU, written into the GL texture through CUDA-GL
  interop (cuda_interop.py). Where interop cannot work (GL on another GPU or
  on a software driver, WSL) the GPU can still render and the frame goes
  through the PBO upload instead, said once in the log.
- glsl: the network in a fragment shader on whatever GPU runs GL (OpenGL 3.3
  core, no CUDA needed); the shader writes the deck's texture itself
  (glsl_backend.py).
- cpu: torch fp32 at a reduced internal resolution, PBO upload, upscaled by
  the display shader.

`auto` takes cuda where interop works, else glsl on a hardware GL driver, else
cuda through the PBO upload where CUDA works at all, else cpu. On a software GL
driver (llvmpipe and the like) the glsl backend would run every pixel's network
on the CPU without torch's matrix kernels, slower than the cpu backend, so auto
never picks it there; `--backend glsl` still forces it.
"""

from __future__ import annotations

import logging
import statistics
import uuid
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import moderngl

from ..model.generator import Generator
from ..model.style import Style
from .gl import is_software_name
from .sinks import PBOSink, TextureSink

if TYPE_CHECKING:
    from .glsl_backend import GlslGenerator

log = logging.getLogger("livecppn.render")

BACKENDS = ("auto", "cpu", "cuda", "glsl")
IMPLEMENTED = ("cpu", "cuda", "glsl")


class BackendError(RuntimeError):
    pass


@dataclass
class Backend:
    name: str
    generator: Generator | GlslGenerator  # the same calls (resize, set_style, render, finish, style, model)
    sink: TextureSink


@dataclass(frozen=True)
class Choice:
    backend: str  # "cpu" | "cuda" | "glsl"
    sink: str  # "pbo" | "cuda-gl" | "shader"
    note: str | None = None  # said once in the log when the choice is not the best one asked for


CPU = Choice("cpu", "pbo")


def choose_backend(requested: str, cuda_available: bool, interop_problem: str | None, gl_renderer: str) -> Choice:
    """The backend and sink for a request, given what this machine can do (pure: tested without a GPU).
    gl_renderer is the GL context's GL_RENDERER. A forced backend that cannot run raises BackendError
    saying why."""
    if requested not in BACKENDS:
        raise BackendError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    software = is_software_name(gl_renderer)
    if requested == "cpu":
        return CPU
    if requested == "glsl":
        return Choice("glsl", "shader", f"the glsl backend on a software GL driver ({gl_renderer}) runs every "
                                        "pixel's network on the CPU: expect it slower than --backend cpu"
                      if software else None)
    if requested == "cuda" and not cuda_available:
        raise BackendError("backend 'cuda' cannot run here: torch sees no CUDA device (no NVIDIA GPU or "
                           "driver, or a CPU-only torch build); use --backend cpu, glsl or auto")
    if cuda_available and interop_problem is None:
        return Choice("cuda", "cuda-gl")
    if requested == "auto" and not software:
        return Choice("glsl", "shader", f"CUDA-GL interop unavailable ({interop_problem}); the network runs in a "
                                        f"shader on {gl_renderer}" if cuda_available else None)
    if cuda_available:
        return Choice("cuda", "pbo", f"CUDA-GL interop unavailable ({interop_problem}); the GPU renders and "
                                     "frames go to GL through host memory (PBO upload)")
    return CPU


def same_gpu_problem(gl_uuids: list[bytes] | None, cuda_uuid: bytes | None) -> str | None:
    """Whether GL and CUDA share a GPU, from the facts (pure: tested without a GPU): None if they
    do, else why interop cannot be used. gl_uuids: the GL context's device UUIDs
    (GL_EXT_memory_object), None without the extension; cuda_uuid: CUDA's device UUID."""
    if gl_uuids is None:
        return "the GL driver does not say which GPU it runs on (no GL_EXT_memory_object)"
    if cuda_uuid is None:
        return "CUDA does not report its device UUID"
    if cuda_uuid not in gl_uuids:
        gl = ", ".join(str(uuid.UUID(bytes=u)) for u in gl_uuids) or "none"
        return f"GL runs on another GPU than CUDA (GL device {gl}, CUDA device {uuid.UUID(bytes=cuda_uuid)})"
    return None


def cuda_device_uuid() -> bytes | None:
    """The current CUDA device's UUID as 16 bytes (torch reports a _CUuuid or its string)."""
    import torch

    value = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
    try:
        return bytes(value.bytes) if hasattr(value, "bytes") else uuid.UUID(str(value)).bytes
    except (TypeError, ValueError):
        return None


def interop_problem(ctx: moderngl.Context) -> str | None:
    """None if CUDA-GL interop works on this context: same GPU by UUID, then one frame round trip."""
    from .cuda_interop import probe
    from .gl import device_uuids, proc_loader

    problem = same_gpu_problem(device_uuids(ctx, proc_loader()), cuda_device_uuid())
    return problem if problem is not None else probe(ctx)


_interop_problems: dict[int, str | None] = {}  # per GL context: decided once


def resolve_backend(requested: str, ctx: moderngl.Context) -> Choice:
    """choose_backend() for this machine and GL context; the interop decision is made once per context."""
    import torch

    cuda = requested in ("auto", "cuda") and torch.cuda.is_available()
    problem = None
    if cuda:
        if id(ctx) not in _interop_problems:
            _interop_problems[id(ctx)] = interop_problem(ctx)
        problem = _interop_problems[id(ctx)]
    choice = choose_backend(requested, cuda, problem, ctx.info.get("GL_RENDERER", ""))
    if choice.note:
        log.warning("%s", choice.note)
    return choice


def open_sink(kind: str, ctx: moderngl.Context, width: int, height: int) -> TextureSink:
    """A texture sink of a kind ("pbo" or "cuda-gl"; the shader sink belongs to its generator). The
    cuda-gl sink registers its texture with CUDA here, and raises InteropError if that fails."""
    if kind == "cuda-gl":
        from .cuda_interop import CudaGLSink

        return CudaGLSink(ctx, width, height)
    return PBOSink(ctx, width, height)


def create_backend(choice: Choice | str, ctx: moderngl.Context, style: Style, internal: tuple[int, int]) -> Backend:
    """Build a backend (a generator and its sink) for a choice from resolve_backend() (or a name).
    The glsl backend raises ShaderError (gl.py) when its program does not compile for the style; a
    cuda-gl sink whose registration fails raises InteropError (the caller moves to the PBO sink)."""
    if isinstance(choice, str):
        choice = resolve_backend(choice, ctx)
    w, h = internal
    if choice.backend == "glsl":
        from .glsl_backend import GlslGenerator, ShaderSink

        generator = GlslGenerator(ctx, style, w, h)
        return Backend("glsl", generator, ShaderSink(generator))
    # cuda renders fp16 on the GPU, cpu fp32 on the host
    generator = Generator(style, w, h, device="cuda" if choice.backend == "cuda" else "cpu")
    return Backend(choice.backend, generator, open_sink(choice.sink, ctx, w, h))


def create_backends(choice: Choice, ctx: moderngl.Context, styles: dict[str, Style],
                    internal: tuple[int, int]) -> dict[str, Backend]:
    """A backend per deck ({"a": style, "b": style} → {"a": Backend, ...}); if one raises (a glsl
    ShaderError), the ones already made are released first."""
    backends: dict[str, Backend] = {}
    try:
        for deck, style in styles.items():
            backends[deck] = create_backend(choice, ctx, style, internal)
    except Exception:
        for backend in backends.values():
            backend.sink.release()
        raise
    return backends


class GpuTimer:
    """GPU milliseconds per frame from CUDA events, read without waiting: each frame's pair of
    events is read once the GPU has passed it (a frame or two later). A no-op without CUDA."""

    def __init__(self, enabled: bool, depth: int = 4):
        self.enabled = enabled
        self._pairs: list = []
        self._pending: list = []
        if enabled:
            import torch

            self._pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                           for _ in range(depth)]
        self._next = 0

    def start(self) -> None:
        if self.enabled:
            self._current = self._pairs[self._next]
            self._next = (self._next + 1) % len(self._pairs)
            if self._current in self._pending:  # the GPU is `depth` frames behind: drop the oldest reading
                self._pending.remove(self._current)
            self._current[0].record()

    def stop(self) -> None:
        if self.enabled:
            self._current[1].record()
            self._pending.append(self._current)

    def finished(self) -> list[float]:
        """Milliseconds of the frames the GPU has finished since the last call (never blocks)."""
        out = []
        while self._pending and self._pending[0][1].query():
            begin, end = self._pending.pop(0)
            out.append(begin.elapsed_time(end))
        return out


# Internal heights tried by the auto choice, smallest first.
HEIGHT_LADDER = (72, 90, 108, 126, 144, 162, 180, 216, 252, 288, 360, 432, 540, 720, 1080, 1440, 2160)


def fit_aspect(height: int, aspect: float) -> tuple[int, int]:
    return max(1, round(height * aspect)), height


MIN_PROBE_MS = 2.0  # a probe quicker than this measures fixed costs more than the cost per pixel


def calibrate_internal_size(generator: Generator | GlslGenerator, aspect: float, budget_ms: float,
                            max_height: int) -> tuple[tuple[int, int], dict]:
    """Largest internal size whose measured CPPN time fits the budget.

    Renders a few frames at a probe size to learn the cost per pixel on this
    machine (it scales linearly with pixels), predicts each ladder step, then
    confirms the pick with a real measurement and steps down if it is over.
    A probe too quick to time well (a GPU at 90 lines) is redone at twice the
    height until it is not. Each render is waited for (generator.finish()).
    """
    def measure(size: tuple[int, int]) -> float:
        generator.resize(*size)
        generator.render(0.0, [0.0] * generator.model.config.n_audio)  # warm-up
        generator.finish()
        times = []
        for i in range(5):
            t0 = time.perf_counter()
            generator.render(0.1 * i, [0.5] * generator.model.config.n_audio)
            generator.finish()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    probe = fit_aspect(90, aspect)
    probe_ms = measure(probe)
    while probe_ms < MIN_PROBE_MS and probe[1] * 2 <= max_height:
        probe = fit_aspect(probe[1] * 2, aspect)
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
