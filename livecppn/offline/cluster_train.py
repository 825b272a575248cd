"""`livecppn train --batch prompts.toml --ray [ADDRESS]`: a style library trained on a Ray cluster.

The batch file is read and checked here, exactly as the local batch does
(train_batch.py), and styles already done are skipped the same way. Each
style left is one Ray task asking for one GPU (or `--ray-cpus-per-task` CPUs
on a cluster with none). The task trains with the local trainer's own job
(train_job.train_one) into a private folder on its worker and sends back the
files (style, preview, curve); the driver writes them where the batch file
says, atomically, the style last (it is what says "done"). Each worker
process loads CLIP once and keeps it for the styles it trains after.

A worker that dies mid-style is Ray's to retry (the same seed gives the same
style); a style that fails for a reason of its own fails alone; Ctrl-C
cancels what is still out, and what was not received is not written.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

from .cluster import EXIT_INTERRUPTED, Board, ClusterError, connect, run_tasks, slots, task_error, task_options
from .cluster_options import LOCAL, resources
from .train_batch import already_done, batch_jobs, finish, run_batch
from .train_job import EXIT_ERROR, EXIT_USAGE, ClipCache, Outcome

log = logging.getLogger("livecppn.train")

_CLIPS: ClipCache | None = None  # per worker process: CLIP loaded once, kept for the next style


def train_task(cfg, name: str, file_name: str) -> dict:
    """On a worker: train one style with the local trainer's job; returns its files' bytes and its outcome,
    or {"error": ...} for a failure of its own (bad audio, CLIP that will not load, ...)."""
    global _CLIPS
    from .clip_loader import ClipError
    from .train_job import Interrupted, TrainError, train_one
    from .train_report import output_paths

    if _CLIPS is None:
        _CLIPS = ClipCache()
    loads = _CLIPS.loads
    with tempfile.TemporaryDirectory(prefix="livecppn-train-") as folder:
        out = Path(folder) / file_name
        try:
            o = train_one(cfg, out, name, _CLIPS, threading.Event(), progress=False)
        except (TrainError, ClipError, Interrupted) as e:
            return {"error": str(e)}
        files = {key: path.read_bytes() for key, path in output_paths(out).items()}
    return {"files": files, "status": o.status, "score": o.score, "start_score": o.start_score,
            "seconds": o.seconds, "steps_done": o.steps_done, "pid": os.getpid(), "clip_loaded": _CLIPS.loads > loads}


def write_files(files: dict[str, bytes], out: Path) -> None:
    """The style's files at `out`, each written whole under a temporary name and renamed, the style last."""
    from .train_report import output_paths

    paths = output_paths(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    placed = []
    try:
        for key in sorted(files, key=lambda k: k == "style"):
            temp = paths[key].with_name(f".{paths[key].name}.{os.getpid()}.tmp")
            temp.write_bytes(files[key])
            os.replace(temp, paths[key])
            placed.append(paths[key])
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        for key in files:
            paths[key].with_name(f".{paths[key].name}.{os.getpid()}.tmp").unlink(missing_ok=True)
        raise


def run_batch_on_ray(args) -> int:
    """The `train --batch --ray` command. Returns the exit status."""
    jobs = batch_jobs(args)
    if isinstance(jobs, int):
        return jobs
    outcomes: dict[str, Outcome] = {}
    todo = []
    for name, out, cfg in jobs:
        done = None if args.force else already_done(out)
        if done is not None:
            outcomes[name] = Outcome(name, out, cfg.prompts[0], "skipped (done)", done)
        else:
            todo.append((name, out, cfg))
    if not todo:  # nothing to train: no cluster needed
        finish([outcomes[name] for name, _, _ in jobs], args, interrupted=False)
        return 0
    try:
        ray = connect(args.ray)
    except ClusterError as e:
        if args.ray == LOCAL and "pip install" in str(e):
            log.warning("%s; training here instead", e)
            return run_batch(args)
        log.error("train: %s", e)
        return EXIT_USAGE
    gpus, cpus = resources(ray, args.ray_cpus_per_task)
    remote = ray.remote(train_task)
    refs = {remote.options(**task_options(gpus, cpus), name=f"train {name}").remote(cfg, name, out.name): name
            for name, out, cfg in todo}
    by_name = {name: (out, cfg) for name, out, cfg in jobs}
    log.info("%d style(s) to train on Ray (%s per task), %d skipped", len(refs),
             f"{gpus:g} GPU" if gpus else f"{cpus:g} CPU", len(jobs) - len(refs))

    def done(name: str, result) -> bool:
        out, cfg = by_name[name]
        if isinstance(result, dict) and "files" in result:
            write_files(result["files"], out)
            log.info("%s: %s on worker pid %d in %.1f s (%s)", name, result["status"], result["pid"],
                     result["seconds"], "CLIP loaded there" if result["clip_loaded"] else "its CLIP already loaded")
            outcomes[name] = Outcome(name, out, cfg.prompts[0], result["status"], result["score"],
                                     result["start_score"], result["seconds"], result["steps_done"], cfg.iterations)
            return True
        why = result["error"] if isinstance(result, dict) else task_error(result)
        log.error("train: %s: %s", name, why)
        outcomes[name] = Outcome(name, out, cfg.prompts[0], f"failed: {why}".splitlines()[0][:80])
        return False

    board = Board(len(refs), "styles", slots(ray, gpus, cpus), not args.no_progress)
    finished = run_tasks(ray, refs, done, board)
    for name, out, cfg in jobs:
        outcomes.setdefault(name, Outcome(name, out, cfg.prompts[0], "interrupted (nothing written)"))
    finish([outcomes[name] for name, _, _ in jobs], args, interrupted=not finished)
    if not finished:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if any(o.status.startswith("failed") for o in outcomes.values()) else 0
