"""Benchmark rendering: the CPPN per kernel beside the eager fp32 baseline, and the frame around it.

For each size, one style and two crossfading (two generators per frame, deck B the default bank's
slot 2), on cuda where CUDA is, else on the CPU at small sizes:
- cppn, per kernel: `Generator(style, w, h, device, kernel=...)` with kernel "fused" (the Triton kernel),
  "graph" (the layers captured as a CUDA graph) and "eager" (the same layers launched one by one);
  mean and p99 ms (CUDA events on cuda, each frame waited for) and the peak GPU memory of the cell
  (torch.cuda.max_memory_allocated). A kernel this machine or this build lacks is reported with why.
- baseline: the seed's renderer, `CPPN.forward` over the full coordinate grid in fp32 every frame (no
  first-layer split), to uint8; and each kernel's speed-up over it, one style.
- frame: the live frame headless, without audio: the decks rendered and handed to GL by the live sink
  (the CUDA-GL interop copy, or the PBO upload), the compositor's transition pass, presented into a
  framebuffer that stands in for the window, the HUD over it; one deck, and two crossfading. fps is
  throughput (frames queued back to back, one wait at the end); the copy is the sink's upload alone,
  waited for; GPU memory is the peak of the cell. GL is EGL (no display): the NVIDIA driver on a
  CUDA machine, Mesa elsewhere.
- live (--live, needs aubio): the real live loop, `run_live --headless` with the synthetic beat.
Prints tables and writes JSON. Usage:
  python tools/bench_render.py [--frames 200] [--sizes 640x360,...] [--kernels fused,graph,eager]
                               [--no-frame] [--live] [--out out/bench_render.json]
Defaults: cuda at 640x360,1280x720,1920x1080,3840x2160; cpu at 160x90,320x180 (the CPU is slow).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.cli import parse_size  # noqa: E402
from livecppn.model.cppn import coordinate_grid  # noqa: E402
from livecppn.model.generator import Generator  # noqa: E402
from livecppn.model.style import load_style  # noqa: E402
from livecppn.paths import default_style_path  # noqa: E402
from benchio import machine, save  # noqa: E402

SIZES = {"cuda": "640x360,1280x720,1920x1080,3840x2160", "cpu": "160x90,320x180"}
KERNELS = ("fused", "graph", "eager")
STYLE_B = ROOT / "presets" / "styles" / "ice.safetensors"  # the default bank's slot 2: deck B at start


class Unavailable(Exception):
    """A row that cannot run here; the message says why."""


def stats(ms: list[float]) -> dict:
    a = sorted(ms)
    return {"mean": round(statistics.fmean(a), 4), "p99": round(a[min(len(a) - 1, round(0.99 * (len(a) - 1)))], 4)}


class Timer:
    """Milliseconds of a block: CUDA events on a CUDA device (waited for), else wall clock."""

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


def fresh_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mb(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if device.type == "cuda" else None



def generator(style, size: tuple[int, int], device: torch.device, kernel: str) -> Generator:
    """A generator running `kernel`, or Unavailable saying why not."""
    if kernel == "graph" and device.type != "cuda":
        raise Unavailable("CUDA graphs need a CUDA device")
    try:
        g = Generator(style, *size, device=device, kernel=kernel)
    except Exception as e:  # the generator says why (no Triton, a width over the kernel's limit, ...)
        raise Unavailable(f"{type(e).__name__}: {e}") from e
    if g.kernel != kernel:
        raise Unavailable(f"asked for {kernel}, the generator runs {g.kernel}")
    return g


def cppn_cell(styles: list, size: tuple[int, int], device: torch.device, kernel: str, frames: int) -> dict:
    """The generators alone, rendering one frame each per timed frame."""
    fresh_memory(device)
    try:
        gens = [generator(s, size, device, kernel) for s in styles]
    except Unavailable as e:
        return {"error": str(e)}
    audio = np.linspace(0.1, 0.9, 9, dtype=np.float32)
    times = []
    for i in range(frames + 10):
        with Timer(device) as t:
            for g in gens:
                g.render(i / 60, audio)
        if i >= 10:  # warm-up: graph capture, Triton compiles and autotuning, the allocator
            times.append(t.ms)
    out = {"kernel": getattr(gens[0], "kernel", kernel), "ms": stats(times),
           "fps": round(1000 / statistics.fmean(times), 1), "gpu_memory_mb": peak_mb(device)}
    del gens
    return out


def baseline_cell(styles: list, size: tuple[int, int], device: torch.device, frames: int) -> dict:
    """The seed's renderer: fp32, every pixel through the whole network, every frame."""
    fresh_memory(device)
    models = [s.build_model().to(device, torch.float32) for s in styles]
    coords = [coordinate_grid(*size, m.config.use_radius).to(device) for m in models]
    audio = torch.linspace(0.1, 0.9, 9, device=device)
    times = []
    try:
        with torch.inference_mode():
            for i in range(frames + 2):
                with Timer(device) as t:
                    for m, c in zip(models, coords):
                        (m(c, i / 60, audio) * 255).to(torch.uint8)
                if i >= 2:
                    times.append(t.ms)
    except torch.cuda.OutOfMemoryError as e:
        return {"error": f"out of GPU memory: {str(e).splitlines()[0]}"}
    return {"kernel": "fp32 baseline", "ms": stats(times), "fps": round(1000 / statistics.fmean(times), 1),
            "gpu_memory_mb": peak_mb(device)}


def gl_context():
    import moderngl

    return moderngl.create_standalone_context(require=330, backend="egl")


def frame_cell(styles: list, size: tuple[int, int], device: torch.device, kernel: str | None, frames: int) -> dict:
    """The live frame without audio: decks → sink → compositor → present → HUD, headless, in a GL
    context of its own (released after: nothing of one cell stays for the next)."""
    fresh_memory(device)
    ctx = gl_context()
    try:
        return _frame(ctx, styles, size, device, kernel, frames)
    finally:
        ctx.release()


def _frame(ctx, styles: list, size: tuple[int, int], device: torch.device, kernel: str | None, frames: int) -> dict:
    from livecppn.control.params import ParamBus
    from livecppn.render.backends import Backend, create_backends, resolve_backend
    from livecppn.render.compositor import Compositor
    from livecppn.render.decks import Decks
    from livecppn.render.hud import Hud

    choice = resolve_backend("cuda" if device.type == "cuda" else "cpu", ctx)
    backends = create_backends(choice, ctx, {"a": styles[0], "b": styles[-1]}, size)
    try:
        if kernel is not None and getattr(backends["a"].generator, "kernel", None) != kernel:
            backends = {k: Backend(b.name, generator(b.generator.style, size, device, kernel), b.sink)
                        for k, b in backends.items()}
    except Unavailable as e:
        for b in backends.values():
            b.sink.release()
        return {"error": str(e)}
    decks, comp, hud = Decks(backends["a"], backends["b"]), Compositor(ctx, *size), Hud(ctx)
    hud.update_text([f"bench {size[0]}x{size[1]}", "style a", "style b"], force=True)
    screen = ctx.framebuffer(color_attachments=[ctx.texture(size, 4)])  # stands in for the window
    bus = ParamBus()
    bus.jump("crossfader", 0.5 if len(styles) == 2 else 0.0)
    params = bus.snapshot()
    audio = np.linspace(0.1, 0.9, 9, dtype=np.float32)
    levels = np.linspace(0, 1, 9, dtype=np.float32)

    def frame(i: int) -> None:
        a, b = decks.render(i / 60, audio, params)
        comp.draw(a, b, params) if a is not None and b is not None else comp.draw(a or b, None, params)
        comp.present(screen, size)
        hud.draw(screen, size, levels)

    def wait() -> None:
        ctx.finish()
        if device.type == "cuda":
            torch.cuda.synchronize()

    try:
        for i in range(10):
            frame(i)
        wait()
        t0 = time.perf_counter()
        for i in range(frames):
            frame(i)
        wait()
        fps = frames / (time.perf_counter() - t0)
        copy = []
        g, sink = decks.decks["a"].generator, decks.decks["a"].sink
        for i in range(max(10, frames // 4)):
            image = g.render(i / 60, audio)
            wait()
            t = time.perf_counter()
            sink.upload(image)
            wait()
            copy.append((time.perf_counter() - t) * 1000)
        return {"kernel": g.kernel, "sink": sink.name, "fps": round(fps, 1),
                "frame_ms": round(1000 / fps, 3), "copy_ms": stats(copy), "gpu_memory_mb": peak_mb(device),
                "gl": ctx.info["GL_RENDERER"]}
    finally:
        for b in decks.decks.values():
            b.sink.release()  # the interop registration goes before its texture and the context


def live_cell(backend: str, size: tuple[int, int], frames: int, crossfade: bool) -> dict:
    from livecppn.live import LiveOptions, run_live

    if importlib.util.find_spec("aubio") is None:
        return {"error": "not run: the live loop's onset detection needs aubio (pip install aubio-ledfx)"}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    report = run_live(LiveOptions(audio="synthetic", size=size, internal=size, headless=True, frames=frames,
                                  backend=backend, hud=True, osc_port=None,
                                  initial={"crossfader": 0.5} if crossfade else {}))
    return {"fps": report["fps"], "frame_ms": report["frame_ms"], "gpu_ms": report["gpu_ms"],
            "gpu_memory_mb": report["gpu_memory_mb"], "sink": report["sink"], "gl": report["gl"]["renderer"]}


def size_row(size: tuple[int, int], device: torch.device, styles: list, args) -> dict:
    frames = args.frames
    row: dict = {"size": list(size), "device": device.type, "cppn": {}, "frame": {}, "live": {}}
    for n, name in ((1, "one"), (2, "two")):
        row["cppn"][name] = {k: cppn_cell(styles[:n], size, device, k, frames) for k in args.kernels}
        row["cppn"][name]["baseline"] = baseline_cell(styles[:n], size, device, max(3, frames // 10))
        if args.frame:
            row["frame"][name] = frame_cell(styles[:n], size, device, None, frames)
        if args.live:
            row["live"][name] = live_cell(device.type, size, frames, n == 2)
    base = row["cppn"]["one"]["baseline"]
    for k in args.kernels:
        cell = row["cppn"]["one"][k]
        if "ms" in cell and "ms" in base:
            cell["vs_baseline"] = round(base["ms"]["mean"] / cell["ms"]["mean"], 1)
        two = row["cppn"]["two"][k]
        if "ms" in cell and "ms" in two:
            two["two_over_one"] = round(two["ms"]["mean"] / cell["ms"]["mean"], 2)
    if "ms" in row["cppn"]["one"].get("fused", {}) and "ms" in row["cppn"]["one"].get("graph", {}):
        row["fused_over_graph"] = round(row["cppn"]["one"]["graph"]["ms"]["mean"] / row["cppn"]["one"]["fused"]["ms"]["mean"], 2)
    one, two = row["frame"].get("one", {}), row["frame"].get("two", {})
    if "fps" in one and "fps" in two:
        two["two_over_one"] = round(two["frame_ms"] / one["frame_ms"], 2)
    return row


def cell_text(c: dict) -> str:
    if "error" in c:
        return "-"
    return f"{c['ms']['mean']:.3f}/{c['ms']['p99']:.3f}"


def print_row(r: dict) -> None:
    size = "x".join(map(str, r["size"]))
    for n in ("one", "two"):
        cells = r["cppn"][n]
        mem = max((c.get("gpu_memory_mb") or 0 for c in cells.values()), default=0)
        line = f"{size:>9} {n:>3} " + " ".join(f"{k} {cell_text(c):>15}" for k, c in cells.items())
        vs = cells.get("fused", {}).get("vs_baseline") or cells.get("graph", {}).get("vs_baseline") or \
            cells.get("eager", {}).get("vs_baseline")
        print(line + (f"  x{vs} vs fp32" if vs and n == "one" else "") + (f"  peak {mem:.0f} MB" if mem else ""), flush=True)
        f = r["frame"].get(n)
        if f and "fps" in f:
            print(f"{'':>13} frame ({f['sink']}, {f['kernel']}): {f['fps']:.1f} fps, {f['frame_ms']:.3f} ms, "
                  f"copy {f['copy_ms']['mean']:.3f}/{f['copy_ms']['p99']:.3f} ms"
                  + (f", peak {f['gpu_memory_mb']:.0f} MB" if f["gpu_memory_mb"] else ""), flush=True)
        live = r["live"].get(n)
        if live and "fps" in live:
            print(f"{'':>13} live loop ({live['sink']}): {live['fps']:.1f} fps", flush=True)
    errors = {}  # the same reason for one style and two is said once
    for part in ("cppn", "frame", "live"):
        for n, cells in r[part].items():
            for k, c in (cells.items() if part == "cppn" else [(part, cells)]):
                if "error" in c:
                    errors.setdefault((k, c["error"]), []).append(n)
    for (k, error), ns in errors.items():
        print(f"{size:>9} {'+'.join(ns):>3} {k}: {error}", flush=True)


def main() -> int:
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="timed frames per cell (the baseline runs a tenth)")
    ap.add_argument("--device", default="cuda" if cuda else "cpu", choices=("cuda", "cpu"))
    ap.add_argument("--sizes", help="comma-separated (default: 4 sizes to 3840x2160 on cuda, 2 small on cpu)")
    ap.add_argument("--kernels", default=",".join(KERNELS), type=lambda s: s.split(","))
    ap.add_argument("--frame", action=argparse.BooleanOptionalAction, default=True,
                    help="also the live frame headless through EGL (decks, sink, compositor, HUD)")
    ap.add_argument("--live", action="store_true", help="also the real live loop (run_live; needs aubio)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_render.json")
    args = ap.parse_args()
    if args.device == "cuda" and not cuda:
        print("bench_render: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    unknown = set(args.kernels) - set(KERNELS)
    if unknown:
        print(f"bench_render: unknown kernel(s) {sorted(unknown)}; choose from {', '.join(KERNELS)}", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    styles = [load_style(default_style_path()), load_style(STYLE_B)]
    c = styles[0].config
    print(f"style {styles[0].name} ({c.layers} x {c.width}) and {styles[1].name}; device {device}"
          f"{' ' + torch.cuda.get_device_name() if cuda and device.type == 'cuda' else ''}")
    if not cuda:
        print("no CUDA device here: the graph row is skipped, and the fused one unless TRITON_INTERPRET=1")
    print("cppn ms mean/p99 per kernel (two = two generators per frame, crossfading)")
    rows = []
    doc = {"frames": args.frames, "styles": [s.name for s in styles], "complete": False, "results": rows}
    with torch.inference_mode():
        for size in (parse_size(s) for s in (args.sizes or SIZES[device.type]).split(",")):
            row = size_row(size, device, styles, args)
            rows.append(row)
            print_row(row)
            # after each size, marked incomplete: a run stopped at its time limit keeps the sizes it measured
            doc["results"] = rows
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"machine: {machine()}")
    doc["complete"] = True
    save(args.out, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
