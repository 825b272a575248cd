"""Benchmark the live loop headless: fps and frame times per output size and backend.

Runs `livecppn live --headless` in-process (the same loop a show runs) with the
synthetic beat, prints a table and writes JSON. Timings belong here, not in tests.
Usage: python tools/bench_live.py [--frames 300] [--sizes 640x360,1280x720] [--out out/bench_live.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.cli import param_value, parse_size  # noqa: E402
from livecppn.live import LiveOptions, run_live  # noqa: E402
from benchio import save  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080", help="output sizes, comma-separated")
    ap.add_argument("--internal", type=parse_size, help="fixed internal size (default: auto, as live)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--style", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_live.json")
    ap.add_argument("--set", action="append", default=[], type=param_value, metavar="NAME=VALUE",
                    help="start with a parameter at a value, as `livecppn live --set` (e.g. the post effects)")
    args = ap.parse_args()

    results = []
    for size in (parse_size(s) for s in args.sizes.split(",")):
        report = run_live(LiveOptions(style=args.style, audio="synthetic", size=size, headless=True,
                                      initial=dict(args.set),
                                      frames=args.frames, backend=args.backend, internal=args.internal))
        results.append({"output": list(size), **{k: report[k] for k in (
            "backend", "device", "dtype", "internal_resolution", "fps", "frame_ms", "cppn_ms", "calibration",
            "gl", "torch_threads")}})

    print(f"{'output':>10} {'backend':>7} {'internal':>9} {'fps':>6} {'frame p50':>9} {'p99':>7} "
          f"{'cppn p50':>8} {'p99':>7}")
    for r in results:
        f, c = r["frame_ms"], r["cppn_ms"]
        print(f"{'x'.join(map(str, r['output'])):>10} {r['backend']:>7} "
              f"{'x'.join(map(str, r['internal_resolution'])):>9} {r['fps']:>6.1f} {f['p50']:>7.1f}ms "
              f"{f['p99']:>5.1f}ms {c['p50']:>6.1f}ms {c['p99']:>5.1f}ms")
    save(args.out, {"frames": args.frames, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
