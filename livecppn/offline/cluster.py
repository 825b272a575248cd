"""Offline jobs on a Ray cluster (DESIGN §10): the connection, the job loop, and one progress bar.

`train --batch --ray` (cluster_train.py) and `render --ray` (cluster_render.py)
both hand a list of independent tasks to Ray and wait for them here: each
result goes to the caller's `done` as it arrives (the caller writes it
atomically), a task that fails for a reason of its own fails only itself, a
worker that dies is Ray's to retry (`max_retries`), and Ctrl-C cancels every
task still out. Ray is the optional extra `livecppn[cluster]`, imported only
here and only on `--ray`; the live path never imports it.

ADDRESS: `auto` (the cluster this machine belongs to, as `ray start` made
it), `ray://HOST:10001` (a remote cluster's Ray Client server), or none (a
Ray started here for this job and stopped after it).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

EXIT_INTERRUPTED = 130
RETRIES = 3  # a task whose worker dies runs again this many times (Ray's max_retries)


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message says what to do."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray: pip install 'livecppn[cluster]' (or drop --ray to run here)") from None
    return ray


def connect(address: str):
    """ray, connected: to `address` (`auto`, `ray://host:port`, a GCS `host:port`), or to a Ray started
    here for this job (`local`). Usage statistics stay off. Raises ClusterError."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = import_ray()
    if ray.is_initialized():
        return ray
    kwargs = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False}
    try:
        ray.init(address=address, **kwargs)
    except Exception as e:  # noqa: BLE001 - Ray's own errors name the address and the problem
        where = "a Ray started here" if address == "local" else f"the Ray cluster at {address}"
        raise ClusterError(f"cannot connect to {where}: {e}".splitlines()[0]) from None
    return ray


def slots(ray, gpus: float, cpus: float) -> int:
    """How many tasks asking for `gpus` GPUs and `cpus` CPUs the cluster can run at once (at least 1)."""
    have = ray.cluster_resources()
    fits = [have.get("GPU", 0) / gpus if gpus else math.inf, have.get("CPU", 0) / cpus if cpus else math.inf]
    return max(1, int(min(fits))) if min(fits) != math.inf else 1


def task_options(gpus: float, cpus: float) -> dict:
    """A task's resources: one GPU (or `cpus` CPUs where the cluster has none), retried when its worker dies."""
    return {"num_gpus": gpus, "num_cpus": cpus, "max_retries": RETRIES, "retry_exceptions": False}


@dataclass
class Board:
    """One progress line for a whole job: done / running / failed, and the ETA."""

    total: int
    noun: str
    slots: int = 1
    show: bool = True
    done: int = 0
    failed: int = 0
    t0: float = field(default_factory=time.perf_counter)
    _last: float = 0.0

    def line(self) -> str:
        finished = self.done + self.failed
        running = min(self.slots, self.total - finished)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / finished * (self.total - finished) if finished else math.inf
        bar = "#" * int(24 * finished / max(self.total, 1))
        clock = "--:--" if not math.isfinite(eta) else f"{int(eta) // 60}:{int(eta) % 60:02d}"
        return (f"[{bar:<24}] {self.done}/{self.total} {self.noun} done, {running} running, {self.failed} failed"
                f"  {elapsed:.0f}s  ETA {clock}")

    def update(self, force: bool = False) -> None:
        now, tty = time.perf_counter(), sys.stderr.isatty()
        if not self.show or (not force and now - self._last < (0.25 if tty else 5.0)):
            return
        self._last = now
        print(("\r" + self.line()) if tty else self.line(), end="" if tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.update(force=True)
        if self.show and sys.stderr.isatty():
            print(file=sys.stderr)


def run_tasks(ray, refs: dict, done: Callable[[object, object], bool], board: Board) -> bool:
    """Wait for every task in `refs` (ObjectRef -> the caller's key); `done(key, result)` takes each result
    as it arrives and returns False for a task that failed for a reason of its own. A task that raised
    gives `done(key, exception)`. Returns True, or False when Ctrl-C ended it: every task still out is
    cancelled (their results are never written)."""
    pending = list(refs)
    board.update(force=True)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # its own error, or out of retries
                    result = e
                ok = done(refs[ref], result)
                board.done += ok
                board.failed += not ok
            board.update(force=bool(ready))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        board.close()
        return False
    board.close()
    return True


def task_error(e: BaseException) -> str:
    """A failed task's error in one line: its own exception's message, not Ray's wrapping."""
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
