"""Benchmark `render --ray` and `train --batch --ray` against the same commands run locally, on this machine.

A private Ray cluster (tools/ray_local.py: `ray start` on 127.0.0.1, one CPU per node, inside a private
network namespace, which this script enters itself through tools/netns.sh) with 1 node, then 2 nodes. For
each: the wall time of the real CLI (a subprocess, imports and Ray connection included) for
- a 20 s render (the synthetic beat, default style, small frames; libx264) in segments, and
- a 4-style library with the tiny CLIP config (tests/fixtures/tiny_clip.json: random weights, 64 px),
beside the local run of the same command, and the per-task overhead: a no-op task's round trip, and per
segment/style what the task's wall time holds beyond its own work. On a 2-core machine the point is the
overhead, not the speed-up. Usage:
  python tools/bench_cluster.py [--seconds 20] [--size 160x90] [--fps 20] [--styles 4] [--out out/bench_cluster.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools"), str(ROOT / "tests"), str(ROOT / "tests" / "rig")]

TINY = ROOT / "tests" / "fixtures" / "tiny_clip.json"
PROMPTS = ["organic flowing shapes", "frozen crystal lattice", "neon city at night", "molten gold waves",
           "deep ocean bioluminescence", "paper cut forest"]


def cli(*args, threads: int | None = None) -> tuple[float, subprocess.CompletedProcess]:
    from ray_local import env

    t0 = time.perf_counter()
    extra = {"OMP_NUM_THREADS": str(threads)} if threads else {}
    proc = subprocess.run([sys.executable, "-m", "livecppn", *args], capture_output=True, text=True,
                          env={**env(), **extra}, timeout=1800)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"livecppn {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc


def library(folder: Path, name: str, styles: int) -> Path:
    batch = folder / f"{name}.toml"
    entries = "".join(f'[[style]]\nname = "s{i}"\nprompt = "{PROMPTS[i % len(PROMPTS)]}"\nseed = {i}\n'
                      for i in range(styles))
    batch.write_text(f'out_dir = "{name}"\n[defaults]\nclip_config = "{TINY}"\nclip_pretrained = "none"\n'
                     f'iterations = 8\npyramid = [32, 48]\neval_every = 4\ndevice = "cpu"\n{entries}')
    return batch


def noop_round_trip(address: str, n: int = 50) -> float:
    """Seconds per no-op task, submitted one after another (the scheduling and result round trip)."""
    code = (f"import os, time, ray\nos.environ['RAY_USAGE_STATS_ENABLED'] = '0'\n"
            f"ray.init(address={address!r}, include_dashboard=False, log_to_driver=False)\n"
            "f = ray.remote(lambda: None)\nray.get(f.remote())\n"
            f"t = time.perf_counter()\nfor _ in range({n}):\n    ray.get(f.remote())\n"
            f"print((time.perf_counter() - t) / {n})\n")
    from ray_local import env

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def run(args) -> dict:
    from private_net import in_private_namespace
    from ray_local import LocalCluster
    from realparts import write_wav

    from livecppn.audio.synth import synthetic_beat

    if not in_private_namespace():
        raise SystemExit("bench_cluster: not in a private network namespace")
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    track = write_wav(work / "beat.wav", synthetic_beat(args.seconds, 48000), 48000, channels=2)
    render = ["--size", args.size, "--fps", str(args.fps), "--codec", "libx264", "--quiet"]
    frames = round(args.seconds * args.fps)
    doc = {"render": {"seconds_of_video": args.seconds, "frames": frames, "size": args.size, "fps": args.fps},
           "batch": {"styles": args.styles, "clip": "tiny_clip.json (random weights, 64 px)", "iterations": 8,
                     "pyramid": [32, 48]}, "runs": []}
    # Locally with torch's default threads (one per core), and with one thread as each Ray task has
    # (Ray sets OMP_NUM_THREADS to the task's CPUs).
    for key, threads in (("local_s", None), ("local_1thread_s", 1)):
        t, _ = cli("render", str(track), str(work / f"{key}.mp4"), *render, threads=threads)
        doc["render"][key] = round(t, 2)
        t, proc = cli("train", "--batch", str(library(work, key, args.styles)), "--no-progress", "--gallery-seconds", "0", threads=threads)
        doc["batch"][key] = round(t, 2)
        doc["batch"][key.replace("_s", "_train_s")] = [float(s) for s in re.findall(r"(\d+\.\d)s\s+trained",
                                                                                      proc.stdout)]
        print(f"{key}: render {doc['render'][key]} s, batch {doc['batch'][key]} s", flush=True)
    for nodes in (1, 2):
        t0 = time.perf_counter()
        cluster = LocalCluster(workers=nodes - 1, cpus=1)
        try:
            cluster.start()
            entry = {"nodes": nodes, "cpus_per_node": 1, "cluster_start_s": round(time.perf_counter() - t0, 2)}
            address = ["--ray", cluster.address]
            entry["noop_task_s"] = round(noop_round_trip(cluster.address), 5)
            t, proc = cli("render", str(track), str(work / f"ray{nodes}.mp4"), *render, *address)
            summary = json.loads(proc.stdout.strip().splitlines()[-1])
            work_s = sum(summary["segment_seconds"])
            entry["render"] = {"wall_s": round(t, 2), "segments": summary["segments"],
                               "segment_seconds": summary["segment_seconds"],
                               "per_segment_overhead_s": round((t * nodes - work_s) / summary["segments"], 2)}
            t, proc = cli("train", "--batch", str(library(work, f"ray{nodes}", args.styles)), "--no-progress", "--gallery-seconds", "0",
                          *address)
            trained = [float(s) for s in re.findall(r"(\d+\.\d)s\s+trained", proc.stdout)]
            entry["batch"] = {"wall_s": round(t, 2), "train_s": trained,
                              "per_style_overhead_s": round((t * nodes - sum(trained)) / len(trained), 2),
                              "clip_loads": proc.stderr.count("CLIP loaded there")}
        finally:
            entry["processes_left"] = cluster.stop()
        doc["runs"].append(entry)
        print(json.dumps(entry), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return doc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--size", default="160x90")
    p.add_argument("--fps", type=float, default=20.0)
    p.add_argument("--styles", type=int, default=4)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "bench_cluster.json")
    args = p.parse_args()
    from private_net import in_private_namespace

    if not in_private_namespace():  # Ray opens ports: only inside a namespace with nothing but `lo`
        os.execv(str(ROOT / "tools" / "netns.sh"), [str(ROOT / "tools" / "netns.sh"), sys.executable, *sys.argv])
    from benchio import save

    doc = run(args)
    print(json.dumps({k: doc[k] for k in ("render", "batch")}))
    save(args.out, doc)


if __name__ == "__main__":
    main()
