"""Benchmark the glsl backend next to cpu and (where CUDA is) cuda: one run, one style, one GL context.

For each size and backend, through the live path's own classes (create_backend, the sink, the
compositor), with internal = output size:
- cppn: the generator's frame, waited for (torch.cuda.synchronize on cuda, glFinish on glsl);
- frame: one deck's whole frame: generator, sink (PBO upload, CUDA-GL copy, or nothing for glsl),
  the compositor's transition pass, glFinish: what one visible deck costs the live loop;
- first: the first frame, which on glsl includes the driver compiling the program (some drivers,
  Mesa among them, compile at the first draw).
Each cell runs at least --min-frames frames and stops after --frames or --seconds, whichever
comes first (a software GL driver takes seconds per 1080p frame). On a CUDA machine the GL context
is EGL on the NVIDIA driver (no display needed), so glsl runs on the same GPU as cuda.
Prints a table and writes JSON. Usage:
  python tools/bench_glsl.py [--sizes 640x360,1280x720,1920x1080] [--backends cpu,glsl,cuda]
                             [--style presets/styles/default.safetensors] [--out out/bench_glsl.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.cli import parse_size  # noqa: E402
from livecppn.control.params import ParamBus  # noqa: E402
from livecppn.model.style import load_style  # noqa: E402
from livecppn.paths import default_style_path  # noqa: E402
from benchio import machine, save  # noqa: E402


def context(egl: bool):
    import moderngl

    return moderngl.create_standalone_context(require=330, **({"backend": "egl"} if egl else {}))


def stats(ms: list[float]) -> dict:
    a = sorted(ms)
    return {"mean": round(statistics.fmean(a), 3), "p50": round(statistics.median(a), 3),
            "p99": round(a[min(len(a) - 1, round(0.99 * (len(a) - 1)))], 3), "n": len(a)}


def cell(ctx, backend: str, style, size: tuple[int, int], frames: int, min_frames: int, seconds: float) -> dict:
    from livecppn.render.backends import Choice, create_backend, resolve_backend
    from livecppn.render.compositor import Compositor

    choice = Choice("glsl", "shader") if backend == "glsl" else resolve_backend(backend, ctx)
    b = create_backend(choice, ctx, style, size)
    comp, params = Compositor(ctx, *size), ParamBus().snapshot()
    gen, sink = b.generator, b.sink
    audio = np.linspace(0.1, 0.9, gen.model.config.n_audio, dtype=np.float32)

    def frame(i: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        image = gen.render(i / 60, audio)
        gen.finish()
        t1 = time.perf_counter()
        sink.upload(image)
        comp.draw(sink.texture, None, params)
        gen.finish()
        ctx.finish()
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t0) * 1000

    first = frame(0)[1]
    cppn, total = [], []
    start = time.perf_counter()
    while len(total) < frames and (len(total) < min_frames or time.perf_counter() - start < seconds):
        a, b_ = frame(len(total) + 1)
        cppn.append(a)
        total.append(b_)
    sink.release()
    return {"backend": backend, "sink": sink.name, "device": str(gen.device), "size": list(size),
            "first_ms": round(first, 1), "cppn_ms": stats(cppn), "frame_ms": stats(total),
            "fps": round(1000 / statistics.fmean(total), 2)}


def main() -> int:
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    ap.add_argument("--backends", default="cpu,glsl,cuda" if cuda else "cpu,glsl")
    ap.add_argument("--style", type=Path, default=default_style_path())
    ap.add_argument("--frames", type=int, default=200, help="at most this many frames per cell")
    ap.add_argument("--min-frames", type=int, default=3, help="at least this many frames per cell")
    ap.add_argument("--seconds", type=float, default=10.0, help="stop a cell after this long (past --min-frames)")
    ap.add_argument("--egl", action=argparse.BooleanOptionalAction, default=cuda,
                    help="GL through EGL, no display (default on a CUDA machine: the NVIDIA driver)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_glsl.json")
    args = ap.parse_args()

    ctx = context(args.egl)
    gl = {"vendor": ctx.info["GL_VENDOR"], "renderer": ctx.info["GL_RENDERER"], "version": ctx.info["GL_VERSION"]}
    style = load_style(args.style)
    backends = args.backends.split(",")
    if "cuda" in backends and not cuda:
        print("cuda: no CUDA device here (torch.cuda.is_available() is False): no cuda rows")
        backends.remove("cuda")
    print(f"style {style.name} ({style.config.layers} x {style.config.width}), GL: {gl['renderer']} "
          f"({gl['version']}), torch threads {torch.get_num_threads()}")
    print(f"{'size':>9} {'backend':>7} {'sink':>7} {'first ms':>9} {'cppn ms p50':>12} {'frame ms p50':>13} "
          f"{'p99':>9} {'fps':>7} {'frames':>6}")
    rows = []
    with torch.inference_mode():
        for size in (parse_size(s) for s in args.sizes.split(",")):
            for backend in backends:
                r = cell(ctx, backend, style, size, args.frames, args.min_frames, args.seconds)
                rows.append(r)
                print(f"{'x'.join(map(str, size)):>9} {backend:>7} {r['sink']:>7} {r['first_ms']:>9.1f} "
                      f"{r['cppn_ms']['p50']:>12.2f} {r['frame_ms']['p50']:>13.2f} {r['frame_ms']['p99']:>9.2f} "
                      f"{r['fps']:>7.2f} {r['frame_ms']['n']:>6}", flush=True)
    print(f"machine: {machine()}")
    save(args.out, {"style": style.name, "gl": gl, "args": {k: str(v) for k, v in vars(args).items()},
                    "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
