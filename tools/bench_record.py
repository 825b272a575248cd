"""Benchmark what live recording costs: headless `livecppn live` frame rate without and with --record.

Runs alternate (without, with, without, with, ...) so a busy machine affects both alike; each is a
headless show on the synthetic beat, vsync off, at a fixed internal size (so the CPPN's cost is the
same in both), for --frames frames. Reports fps per run, the medians, their ratio (the issue asks
for at most a 10 % drop) and the frames the recorder dropped. Writes JSON. Usage:
  python tools/bench_record.py [--size 1280x720] [--internal 160x90] [--frames 300] [--runs 3] [--out out/bench_record.json]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.cli import parse_size  # noqa: E402
from livecppn.live import LiveOptions, run_live  # noqa: E402
from benchio import save  # noqa: E402


def show(size, internal, frames: int, record: Path | None) -> dict:
    report = run_live(LiveOptions(audio="synthetic", size=size, internal=internal, headless=True, frames=frames,
                                  vsync=False, hud=False, osc_port=None, record=record))
    return {"fps": report["fps"], "frame_ms": report["frame_ms"], "recording": report["recording"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=(1280, 720))
    ap.add_argument("--internal", type=parse_size, default=(160, 90))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="skip the runs beside a nice-19 busy loop")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_record.json")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's SIGTERM still stops the busy loop
    runs = {"without": [], "with": []} | ({"beside a nice-19 busy loop": []} if args.reference else {})
    with tempfile.TemporaryDirectory() as tmp:
        show(args.size, args.internal, 30, None)  # warm-up: shader compiles, first allocations
        for i in range(args.runs):
            runs["without"].append(show(args.size, args.internal, args.frames, None))
            runs["with"].append(show(args.size, args.internal, args.frames, Path(tmp) / f"rec{i}.mp4"))
            line = (f"run {i}: without {runs['without'][-1]['fps']:.1f} fps, with --record "
                    f"{runs['with'][-1]['fps']:.1f} fps (dropped {runs['with'][-1]['recording']['dropped']})")
            if args.reference:
                busy = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
                try:
                    runs["beside a nice-19 busy loop"].append(show(args.size, args.internal, args.frames, None))
                finally:
                    busy.kill()
                    busy.wait()
                line += f", beside a nice-19 busy loop {runs['beside a nice-19 busy loop'][-1]['fps']:.1f} fps"
            print(line, flush=True)
    med = {k: statistics.median(r["fps"] for r in v) for k, v in runs.items()}
    doc = {"size": list(args.size), "internal": list(args.internal), "frames": args.frames,
           "torch_threads": torch.get_num_threads(), "median_fps": med,
           "ratio": round(med["with"] / med["without"], 3), "runs": runs}
    print(f"median: without {med['without']:.1f} fps, with --record {med['with']:.1f} fps "
          f"({100 * (1 - doc['ratio']):.1f} % slower)")
    if args.reference:
        ref = med["beside a nice-19 busy loop"]
        doc["reference_ratio"] = round(ref / med["without"], 3)
        print(f"reference: beside a nice-19 busy loop {ref:.1f} fps ({100 * (1 - doc['reference_ratio']):.1f} % slower)")
    save(args.out, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
