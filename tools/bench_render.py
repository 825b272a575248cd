"""Benchmark rendering per backend and size: CPPN, upload/interop, full frame, fps, GPU memory,
one style and two crossfading, beside a plain eager fp32 forward (the original offline renderer).

For each backend that runs here (cpu always, cuda where CUDA is) and each size:
- cppn: the generator alone (CUDA events on cuda, wall clock on cpu), mean and p99 ms;
- upload: the sink alone (the CUDA-GL interop copy, or the PBO upload with its host copy);
- frame: the real live loop, headless, internal = output size (no upscale), one style, then two
  styles crossfading (crossfader 0.5: both decks render); fps and frame ms;
- eager: `CPPN.forward` in fp32 over every pixel (coordinates and features concatenated per pixel,
  as the offline renderer this project grew from did), to uint8, mean ms; the ratio of the live
  frame rate to it.
Prints a table and writes JSON. Usage:
  python tools/bench_render.py [--frames 200] [--sizes ...] [--backends cpu,cuda] [--out out/bench_render.json]
Defaults: cuda at 640x360,1280x720,1920x1080,3840x2160; cpu at 320x180,480x270 (the CPU is slow).
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
from livecppn.live import LiveOptions, run_live  # noqa: E402
from livecppn.model.cppn import coordinate_grid  # noqa: E402
from livecppn.model.style import load_style  # noqa: E402
from livecppn.paths import default_style_path  # noqa: E402
from benchio import machine, save  # noqa: E402

SIZES = {"cuda": "640x360,1280x720,1920x1080,3840x2160", "cpu": "320x180,480x270"}


def stats(ms: list[float]) -> dict:
    a = sorted(ms)
    return {"mean": round(statistics.fmean(a), 3), "p99": round(a[min(len(a) - 1, round(0.99 * (len(a) - 1)))], 3)}


class Timer:
    """Milliseconds of a block: CUDA events on a CUDA device (synchronised per sample), else wall clock."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            self.begin, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.begin.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.ms = self.begin.elapsed_time(self.end)
        else:
            self.ms = (time.perf_counter() - self.t0) * 1000


def parts(backend, size: tuple[int, int], frames: int) -> dict:
    """The generator and the sink, timed apart, through the live path's own classes."""
    import moderngl

    from livecppn.render.backends import create_backend

    ctx = moderngl.create_standalone_context(require=330, backend="egl") if backend == "cuda" else \
        moderngl.create_standalone_context(require=330)
    try:
        b = create_backend(backend, ctx, load_style(default_style_path()), size)
        device = b.generator.device
        audio = np.linspace(0.1, 0.9, 9, dtype=np.float32)
        cppn, upload = [], []
        for i in range(frames + 10):
            with Timer(device) as t1:
                image = b.generator.render(i / 60, audio)
            with Timer(device) as t2:
                b.sink.upload(image)
            if i >= 10:  # warm-up (CUDA graph capture, allocator)
                cppn.append(t1.ms)
                upload.append(t2.ms)
        ctx.finish()
        b.sink.release()
        return {"sink": b.sink.name, "cppn_ms": stats(cppn), "upload_ms": stats(upload)}
    finally:
        ctx.release()


def eager(device: torch.device, size: tuple[int, int], frames: int) -> dict:
    """The offline renderer's way: fp32, every pixel through the whole network, every frame."""
    model = load_style(default_style_path()).build_model().to(device, torch.float32)
    coords = coordinate_grid(*size, model.config.use_radius).to(device)
    audio = torch.linspace(0.1, 0.9, 9, device=device)
    times = []
    with torch.inference_mode():
        for i in range(frames + 3):
            with Timer(device) as t:
                rgb = model(coords, i / 60, audio)
                (rgb * 255).to(torch.uint8)
            if i >= 3:
                times.append(t.ms)
    return {"ms": stats(times), "fps": round(1000 / statistics.fmean(times), 2)}


def live(backend: str, size: tuple[int, int], frames: int, crossfade: bool) -> dict:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    report = run_live(LiveOptions(audio="synthetic", size=size, internal=size, headless=True, frames=frames,
                                  backend=backend, hud=False, osc_port=None,
                                  initial={"crossfader": 0.5} if crossfade else {}))
    return {"fps": report["fps"], "frame_ms": report["frame_ms"], "gpu_ms": report["gpu_ms"],
            "gpu_memory_mb": report["gpu_memory_mb"], "sink": report["sink"], "dtype": report["dtype"],
            "gl": report["gl"]["renderer"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--backends", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", help="sizes for every backend, comma-separated (default: per backend)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_render.json")
    args = ap.parse_args()

    rows = []
    for backend in args.backends.split(","):
        device = torch.device("cuda" if backend == "cuda" else "cpu")
        for size in (parse_size(s) for s in (args.sizes or SIZES[backend]).split(",")):
            frames = args.frames if backend == "cuda" else max(30, args.frames // 4)
            row = {"backend": backend, "size": list(size), **parts(backend, size, frames),
                   "one": live(backend, size, frames, False), "two": live(backend, size, frames, True),
                   "eager_fp32": eager(device, size, max(10, frames // 10))}
            row["two_over_one"] = round(row["two"]["frame_ms"]["mean"] / row["one"]["frame_ms"]["mean"], 3)
            row["vs_eager"] = round(row["one"]["fps"] / row["eager_fp32"]["fps"], 2)
            rows.append(row)
            print_row(row)
    print(f"machine: {machine()}")
    save(args.out, {"frames": args.frames, "results": rows})
    return 0


HEADER = (f"{'backend':>7} {'size':>9} {'sink':>7} {'cppn ms':>13} {'upload ms':>13} {'frame ms':>13} {'fps':>7} "
          f"{'2 styles':>8} {'x2/x1':>5} {'gpu MB':>7} {'eager fps':>9} {'vs eager':>8}")
_printed = False


def print_row(r: dict) -> None:
    global _printed
    if not _printed:
        print(HEADER)
        _printed = True
    one, two = r["one"], r["two"]
    mem = one["gpu_memory_mb"]
    print(f"{r['backend']:>7} {'x'.join(map(str, r['size'])):>9} {r['sink']:>7} "
          f"{r['cppn_ms']['mean']:>6.2f}/{r['cppn_ms']['p99']:<6.2f} {r['upload_ms']['mean']:>6.2f}/{r['upload_ms']['p99']:<6.2f} "
          f"{one['frame_ms']['mean']:>6.2f}/{one['frame_ms']['p99']:<6.2f} {one['fps']:>7.1f} {two['fps']:>8.1f} "
          f"{r['two_over_one']:>5.2f} {(f'{mem:.0f}' if mem is not None else '-'):>7} "
          f"{r['eager_fp32']['fps']:>9.1f} {r['vs_eager']:>7.1f}x", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
