"""`livecppn train`: one style, or a batch of them (train_batch.py); each one a job (train_job.py).

Offline tools fail fast (DESIGN §8): every input is checked before the long
work starts (settings, output path, audio file, CLIP), and an error names the
thing and what was expected, exits non-zero and leaves nothing at the output
path. Ctrl-C during training stops after the current step and still saves
the best style so far (exit status 130); a second Ctrl-C aborts at once, and
the message says how many steps had run and that nothing was written.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from ..paths import trained_styles_dir

from .clip_loader import ClipError
from .train_batch import run_batch
from .train_job import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, ClipCache, Interrupted, TrainError, show_progress,
                        train_one)
from .train_options import TrainConfigError, config_from_args

log = logging.getLogger("livecppn.train")


def default_out(prompt: str) -> Path:
    """Without --out: the user's styles folder (so the style loads by name at once), named after the
    prompt, never over a style already there (`neon-city`, `neon-city-2`, …)."""
    stem = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].rstrip("-") or "style"
    folder, n = trained_styles_dir(), 1
    while (path := folder / f"{stem}{'' if n == 1 else f'-{n}'}.safetensors").exists():
        n += 1
    return path


def run(args) -> int:
    """The `livecppn train` command. Returns the exit status."""
    if args.batch is None and getattr(args, "ray", None) is not None:
        log.error("train: --ray trains a library (--batch FILE.toml) on a cluster; one style trains here")
        return EXIT_USAGE
    if args.batch is not None and getattr(args, "ray", None) is not None:
        from .cluster_train import run_batch_on_ray  # Ray loads only here

        return run_batch_on_ray(args)
    if args.batch is not None:
        return run_batch(args)
    try:
        cfg = config_from_args(args)
    except TrainConfigError as e:
        log.error("train: %s", e)
        return EXIT_USAGE
    out = args.out or default_out(cfg.prompts[0])
    import torch

    stop = threading.Event()
    try:
        outcome = train_one(cfg, out, out.stem, ClipCache(), stop, progress=show_progress(args))
    except (TrainError, ClipError) as e:
        log.error("train: %s", e)
        return EXIT_ERROR
    except torch.OutOfMemoryError:
        log.error("train: out of memory on %s; try fewer --states or --augs, or a smaller --pyramid", cfg.device)
        return EXIT_ERROR
    except Interrupted as e:
        log.error("train: %s", e)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # while the inputs were being checked
        log.error("train: interrupted before training started; nothing written to %s", out)
        return EXIT_INTERRUPTED
    stopped = (f" (interrupted after {outcome.steps_done} of {outcome.iterations} steps: the best so far saved)"
               if outcome.status == "interrupted" else "")
    print(f"{outcome.out}: CLIP score {outcome.start_score:.4f} -> {outcome.score:.4f} in {outcome.seconds:.1f} s"
          f"{stopped}")
    return EXIT_INTERRUPTED if outcome.status == "interrupted" else 0
