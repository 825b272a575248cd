"""One training job: check its inputs, load CLIP (once per process), train, write the style.

Shared by `livecppn train` (train_cli.py) and `train --batch` (train_batch.py),
which both import it; it imports neither. Offline tools fail fast (DESIGN §8):
every input is checked before the long work starts, and an error names the
thing and what was expected. The first Ctrl-C during training stops after the
current step and still saves the best style so far; a second aborts at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..audio.base import AudioError
from .clip_loader import Clip, ClipSpec, load_clip
from .conditioning import FeatureStates, synthetic_states, track_states
from .train_options import TrainConfig

log = logging.getLogger("livecppn.train")

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class TrainError(RuntimeError):
    """The training cannot start or finish; the message names the thing and what was expected."""


class Interrupted(Exception):
    """Ctrl-C ended the job with nothing written; the message says how many steps had run and why."""

    def __init__(self, message: str, steps_done: int = 0):
        super().__init__(message)
        self.steps_done = steps_done


@dataclass
class Outcome:
    name: str
    out: Path
    prompt: str
    status: str  # trained | interrupted | skipped (done) | failed: ...
    score: float | None = None
    start_score: float | None = None
    seconds: float | None = None
    steps_done: int | None = None
    iterations: int | None = None


def check_output(out: Path, create: bool = True) -> None:
    """The style can be written at `out` (its folder is created if need be; with create=False the nearest
    existing folder above it must be writable, and nothing is created). Raises TrainError."""
    if out.suffix != ".safetensors":
        raise TrainError(f"output {out}: expected a path ending in .safetensors")
    if out.is_dir():
        raise TrainError(f"output {out} is a folder; expected a .safetensors file path")
    if not create:
        folder = out.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise TrainError(f"cannot write the style to {out}: {folder} is not a writable folder")
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".check"):
            pass
    except OSError as e:
        raise TrainError(f"cannot write the style to {out}: {e.strerror or e}") from None


def conditioning(cfg: TrainConfig) -> FeatureStates:
    if cfg.audio is None:
        return synthetic_states(cfg.seed)
    try:
        return track_states(cfg.audio)
    except AudioError as e:
        raise TrainError(f"--audio: {e} (expected an audio file: wav, mp3, flac, ...)") from None


class ClipCache:
    """Loads each CLIP once per process (a batch usually trains every style with the same one)."""

    def __init__(self):
        self._loaded: dict[tuple, Clip] = {}
        self.loads = 0  # how many models this cache loaded (a cluster worker reports it)

    def get(self, cfg: TrainConfig) -> Clip:
        import torch

        from .train import pick_device

        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise TrainError(f"--device {cfg.device}: no CUDA device here (torch {torch.__version__}); "
                             "use --device cpu or auto")

        spec = ClipSpec(model=cfg.clip_model, pretrained=cfg.clip_pretrained, config=cfg.clip_config,
                        cache_dir=cfg.clip_cache)
        device = pick_device(cfg.device)
        key = (spec, str(device))
        if key not in self._loaded:
            log.info("loading CLIP %s (%s) on %s", spec.name, "random weights" if spec.random else spec.pretrained,
                     device)
            self._loaded[key] = load_clip(spec, device)
            self.loads += 1
        return self._loaded[key]


@contextlib.contextmanager
def stop_on_sigint(stop: threading.Event):
    """The first Ctrl-C sets `stop` (training ends after the step); the second raises KeyboardInterrupt."""

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nCtrl-C: stopping after this step and saving the best style so far (Ctrl-C again aborts)",
              file=sys.stderr, flush=True)

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def train_one(cfg: TrainConfig, out: Path, name: str, clips: ClipCache, stop: threading.Event,
              progress: bool = True) -> Outcome:
    """Check, train and write one style. Raises TrainError, ClipError or Interrupted (whose message says how
    many steps ran and that nothing was written; every Ctrl-C that does not end in a saved style is one)."""
    from .train import Aborted, train_style
    from .train_report import write_outputs

    check_output(out)
    try:
        states = conditioning(cfg)
        clip = clips.get(cfg)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted before training started (0 of {cfg.iterations} steps); nothing written "
                          f"to {out}") from None
    # The handler spans the writing too: a first Ctrl-C there must not throw away what was trained.
    with stop_on_sigint(stop):
        try:
            result = train_style(cfg, clip, states, stop=stop, progress=progress)
        except Aborted as e:
            raise Interrupted(f"aborted by a second Ctrl-C after {e.steps_done} of {e.iterations} steps; "
                              f"nothing written to {out} (one Ctrl-C stops and saves the best so far)",
                              e.steps_done) from None
        except KeyboardInterrupt:  # before the first step (building the network, the first scoring)
            raise Interrupted(f"interrupted before the first step (0 of {cfg.iterations} steps); nothing written "
                              f"to {out}") from None
        if result.steps_done == 0:
            raise Interrupted(f"interrupted before the first step (0 of {cfg.iterations} steps); nothing written "
                              f"to {out}")
        try:
            write_outputs(result, states, out, name)
        except KeyboardInterrupt:
            raise Interrupted(f"aborted by a second Ctrl-C while writing, after {result.steps_done} of "
                              f"{cfg.iterations} steps; nothing written to {out}", result.steps_done) from None
    log.info("%s: CLIP score %.4f -> %.4f (best, step %d; final %.4f), reactivity %.3f, %d steps in %.1f s%s",
             out, result.start_score, result.best_score, result.best_step, result.final_score, result.reactivity[1],
             result.steps_done, result.seconds, " (interrupted)" if result.interrupted else "")
    return Outcome(name, out, cfg.prompts[0], "interrupted" if result.interrupted else "trained",
                   result.best_score, result.start_score, result.seconds, result.steps_done, cfg.iterations)


def show_progress(args) -> bool:
    """A progress bar on a terminal; log lines (one per scoring) otherwise or with --no-progress."""
    return not args.no_progress and sys.stderr.isatty()
