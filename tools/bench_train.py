"""Benchmark the style trainer: seconds per iteration at each pyramid level.

Runs real training steps (render the states, cut the augmented views, CLIP
forward and backward, Adam) with the trainer's own Trainer, after a few warm-up
steps, and projects the time of a whole style at the default settings. CLIP
weights do not change the cost, so random weights are the default: the tiny
test model on a CPU, or a real architecture where there is a GPU. Prints a
table and writes JSON. Timings belong here, not in tests.

    python tools/bench_train.py                                  # tiny model (tests/fixtures)
    python tools/bench_train.py --clip-model RN50 --device cuda  # the original's settings, random weights
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from livecppn.offline.clip_loader import ClipSpec, load_clip  # noqa: E402
from livecppn.offline.conditioning import synthetic_states  # noqa: E402
from livecppn.offline.train import Trainer, level_plan, pick_device  # noqa: E402
from livecppn.offline.train_options import TrainConfig, parse_sizes  # noqa: E402
from benchio import save  # noqa: E402

TINY = ROOT / "tests" / "fixtures" / "tiny_clip.json"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CPU-GPU sync point: time the work, not its queueing


def main() -> int:
    d = TrainConfig(prompts=("x",))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip-model", help="an open_clip architecture (RN50, ViT-B-32, ViT-L-14, ...); "
                                         "default: the tiny test model")
    ap.add_argument("--clip-config", default=None, help=f"a model config JSON (default {TINY.relative_to(ROOT)})")
    ap.add_argument("--clip-pretrained", default="none", help="weights (default none: random, same cost)")
    ap.add_argument("--pyramid", type=parse_sizes, default=d.pyramid, help="render sizes (default 256,512)")
    ap.add_argument("--iterations", type=int, default=d.iterations,
                    help=f"iterations of the style the projection is for (default {d.iterations})")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per level (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per level first (default 3)")
    ap.add_argument("--states", type=int, default=d.states)
    ap.add_argument("--augs", type=int, default=d.augs)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="CPU threads for torch (default: all)")
    ap.add_argument("--json", type=Path, default=ROOT / "out" / "bench_train.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = None if args.clip_model else str(args.clip_config or TINY)
    cfg = TrainConfig(prompts=("organic flowing shapes diffusing into each other with strong contrast",),
                      clip_model=args.clip_model or "RN50", clip_config=config, clip_pretrained=args.clip_pretrained,
                      pyramid=args.pyramid, iterations=args.iterations, states=args.states, augs=args.augs,
                      device=args.device)
    device = pick_device(cfg.device)
    t0 = time.perf_counter()
    clip = load_clip(ClipSpec(model=cfg.clip_model, pretrained=cfg.clip_pretrained, config=cfg.clip_config), device)
    load_s = time.perf_counter() - t0
    trainer = Trainer(cfg, clip, synthetic_states(cfg.seed))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    plan = level_plan(cfg)
    levels = []
    for i, (first, size) in enumerate(plan):
        n_level = (plan[i + 1][0] if i + 1 < len(plan) else cfg.iterations) - first
        for _ in range(args.warmup):
            trainer.step(size)
        times = []
        for _ in range(args.steps):
            sync(device)
            t = time.perf_counter()
            trainer.step(size)
            sync(device)
            times.append(time.perf_counter() - t)
        levels.append({"size": size, "iterations_in_style": n_level, "s_per_it_mean": statistics.fmean(times),
                       "s_per_it_median": statistics.median(times), "s_per_it_min": min(times)})
    t = time.perf_counter()
    trainer.evaluate()
    sync(device)
    eval_s = time.perf_counter() - t
    n_evals = cfg.iterations // cfg.eval_every + 1
    projected = sum(lv["s_per_it_median"] * lv["iterations_in_style"] for lv in levels) + n_evals * eval_s

    name = cfg.clip_name
    print(f"trainer benchmark: CLIP {name} ({clip.image_size} px, {cfg.clip_pretrained} weights), "
          f"{cfg.states} states x {cfg.augs} views per step, {cfg.layers}x{cfg.width} CPPN, device {device}")
    print(f"{'level':>7} {'s/it median':>12} {'mean':>8} {'min':>8} {'its in style':>13}")
    for lv in levels:
        print(f"{lv['size']:>5}px {lv['s_per_it_median']:>11.4f}s {lv['s_per_it_mean']:>7.4f}s "
              f"{lv['s_per_it_min']:>7.4f}s {lv['iterations_in_style']:>13}")
    print(f"scoring the fixed states: {eval_s:.3f} s each, {n_evals} per style")
    print(f"projected time for one {cfg.iterations}-iteration style ({','.join(map(str, cfg.pyramid))}): "
          f"{projected:.1f} s (+ {load_s:.1f} s loading CLIP)")
    peak_gib = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 2) if device.type == "cuda" else None
    save(args.json, {
        "device": str(device), "peak_gpu_memory_gib": peak_gib, "clip": name, "clip_pretrained": cfg.clip_pretrained,
        "pyramid": list(cfg.pyramid), "clip_image_size": clip.image_size,
        "states": cfg.states, "augs": cfg.augs, "cppn": [cfg.layers, cfg.width], "steps": args.steps,
        "warmup": args.warmup, "levels": levels, "eval_s": eval_s, "clip_load_s": load_s,
        "projected_style_s": projected, "iterations": cfg.iterations})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
