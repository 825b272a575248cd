"""Benchmark the post effects: GL cost of the compositing pass with no effect, each effect alone and
all of them, at several output sizes. Timings belong here, not in tests.

Measures CPU time of this process (process_time: on a software GL driver such as llvmpipe the GL work
runs on this process's threads) and wall time per composited frame, with a glFinish after each, the
variants interleaved so that load from other processes hits them alike. Prints a table, writes JSON.
Usage: python tools/bench_effects.py [--sizes 640x360,1280x720,1920x1080] [--frames 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import moderngl  # noqa: E402
import numpy as np  # noqa: E402

from livecppn.cli import parse_size  # noqa: E402
from livecppn.control.params import ParamBus  # noqa: E402
from livecppn.render.compositor import Compositor  # noqa: E402
from livecppn.render.effects import EffectFrame  # noqa: E402
from livecppn.render.gl import gl_info  # noqa: E402
from livecppn.render.window import Window  # noqa: E402
from benchio import save  # noqa: E402

CASES = {
    "none": None,
    "trails": dict(trails=True, trail_keep=0.95),
    "kaleido 6": dict(kaleido=6),
    "swirl": dict(swirl=0.3),
    "spin": dict(angle=0.5),
    "hue": dict(hue=0.2),
    "pulse": dict(contrast=1.5, pulsing=True),
    "flash+strobe": dict(flash=0.3, strobe=0.5, whitening=True),
    "vignette": dict(vignette=0.5),
    "all": dict(trails=True, trail_keep=0.95, kaleido=6, swirl=0.3, angle=0.5, hue=0.2, contrast=1.5, flash=0.3,
                strobe=0.5, vignette=0.5, pulsing=True, whitening=True),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_effects.json")
    args = ap.parse_args()
    window = Window((320, 180), visible=False, vsync=False)
    ctx = moderngl.create_context(require=330)
    deck = ctx.texture((160, 90), 4)
    deck.write(np.random.default_rng(1).integers(0, 255, (90, 160, 4), dtype=np.uint8).tobytes())
    params = ParamBus().snapshot()
    results = []
    for size in (parse_size(s) for s in args.sizes.split(",")):
        comp = Compositor(ctx, *size)
        frames = {name: None if kw is None else EffectFrame(active=True, **kw) for name, kw in CASES.items()}
        cpu = {name: [] for name in CASES}
        wall = {name: [] for name in CASES}
        for i in range(args.frames + 3):
            for name, fx in frames.items():
                w0, c0 = time.perf_counter(), time.process_time()
                comp.draw(deck, None, params, fx=fx)
                ctx.finish()
                if i >= 3:  # the first draws compile the variants
                    cpu[name].append((time.process_time() - c0) * 1000)
                    wall[name].append((time.perf_counter() - w0) * 1000)
        for name in CASES:
            results.append({"output": list(size), "effects": name, "cpu_ms": round(statistics.median(cpu[name]), 2),
                            "wall_ms": round(statistics.median(wall[name]), 2)})
    print(f"{'output':>10} {'effects':>13} {'cpu ms':>7} {'+cpu':>6} {'wall ms':>8}")
    base = {}
    for r in results:
        key = tuple(r["output"])
        base.setdefault(key, r["cpu_ms"])
        print(f"{'x'.join(map(str, r['output'])):>10} {r['effects']:>13} {r['cpu_ms']:>7.2f} "
              f"{r['cpu_ms'] - base[key]:>+6.2f} {r['wall_ms']:>8.2f}")
    save(args.out, {"gl": gl_info(ctx), "frames": args.frames, "results": results})
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
