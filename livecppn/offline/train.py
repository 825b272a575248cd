"""The style trainer: a CPPN learns a look from words, guided by CLIP, under many audio states.

Each step (Trainer.step):
1. draw `states` rows of per-frame inputs (time + audio features) spread over
   loudness, from the track or the synthetic spread (conditioning.py);
2. render the network once per row at the pyramid level's size, through the
   same first-layer split the live generator uses;
3. cut `augs` views from those renders: random square crops, resized with
   antialiasing to CLIP's input size, then a small affine jitter (no colour
   jitter: colour is part of the look);
4. maximise the mean cosine similarity between the views' CLIP embeddings and
   the prompts' (minus the negative prompts', weighted), with Adam in fp32.

The optimiser may not buy an on-prompt picture by ignoring the music: the
first layer's time and audio weights keep their initial values, and when the
step's renders differ between states by less than `min_reactivity` (mean
absolute pixel difference, 0..1) the shortfall is added to the loss. So a
trained style stays on-prompt in every state and still reacts live. Every `eval_every` steps the network is scored on a
fixed set of named states (the whole frame, no augmentation) at the largest
pyramid size; the best-scoring weights are the ones saved.

The model knows nothing of training (DESIGN §3): this module builds a plain
CPPN from livecppn.model, so the saved style is exactly what the live path loads.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model.cppn import CPPN, CPPNConfig, build, coordinate_grid
from .clip_loader import Clip
from .conditioning import FeatureStates
from .train_options import TrainConfig

log = logging.getLogger("livecppn.train")

CROP_SCALE = (0.6, 1.0)  # crop side as a fraction of the render's short side
JITTER_DEGREES = 5.0
JITTER_SHIFT = 0.03  # of the view's size
JITTER_ZOOM = 0.05


class Aborted(KeyboardInterrupt):
    """A KeyboardInterrupt (a second Ctrl-C) that ended a training run: nothing was returned or saved."""

    def __init__(self, steps_done: int, iterations: int):
        super().__init__(f"aborted after {steps_done} of {iterations} steps")
        self.steps_done, self.iterations = steps_done, iterations


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def render(model: CPPN, coords: torch.Tensor, frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One image per row of `frames` (K, 1 + n_audio): (K, 3, H, W) in [0, 1], differentiable."""
    pixel = model.pixel_part(coords)  # (H*W, width), shared by every state
    bias = torch.stack([model.frame_bias(f[0], f[1:]) for f in frames])  # (K, width)
    rgb = model.forward_split(pixel, bias[:, None, :])  # (K, H*W, 3)
    return rgb.view(len(frames), height, width, 3).permute(0, 3, 1, 2)


def random_views(images: torch.Tensor, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n augmented views (n, 3, size, size); view i comes from image i % K."""
    k, _, h, w = images.shape
    short = min(h, w)
    r = torch.rand(n, 7, generator=gen).tolist()  # on the CPU generator: no device sync
    views = []
    for i in range(n):
        side = max(8, round(short * (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * r[i][0])))
        y0, x0 = round((h - side) * r[i][1]), round((w - side) * r[i][2])
        crop = images[i % k: i % k + 1, :, y0:y0 + side, x0:x0 + side]
        views.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    views = torch.cat(views)  # (n, 3, size, size)
    # Small affine jitter, one grid_sample for the batch.
    angle = torch.tensor([math.radians(JITTER_DEGREES) * (2 * v[3] - 1) for v in r])
    zoom = torch.tensor([1 + JITTER_ZOOM * (2 * v[4] - 1) for v in r])
    shift = torch.tensor([[2 * JITTER_SHIFT * (2 * v[5] - 1), 2 * JITTER_SHIFT * (2 * v[6] - 1)] for v in r])
    theta = torch.stack([torch.stack([zoom * angle.cos(), -zoom * angle.sin(), shift[:, 0]], 1),
                         torch.stack([zoom * angle.sin(), zoom * angle.cos(), shift[:, 1]], 1)], 1)  # (n, 2, 3)
    grid = F.affine_grid(theta.to(views.device), list(views.shape), align_corners=False)
    return F.grid_sample(views, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def center_views(images: torch.Tensor, size: int) -> torch.Tensor:
    """The centred square of each image at CLIP's size: (K, 3, size, size)."""
    _, _, h, w = images.shape
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = images[:, :, y0:y0 + s, x0:x0 + s]
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def render_shape(size: int, aspect: float) -> tuple[int, int]:
    """(height, width) for a short side of `size` pixels."""
    if aspect >= 1:
        return size, round(size * aspect)
    return round(size / aspect), size


def reactivity(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the renders of different states (K, 3, H, W): 0 = deaf, 1 = maximal."""
    k = len(images)
    if k < 2:
        return images.new_zeros(())
    pairs = [(images[i] - images[j]).abs().mean() for i in range(k) for j in range(i)]
    return torch.stack(pairs).mean()


class Trainer:
    """One style's optimisation state. `step` is one Adam step; `evaluate` scores the fixed states."""

    def __init__(self, cfg: TrainConfig, clip: Clip, states: FeatureStates):
        self.cfg = cfg
        self.device = clip.device
        self.clip = clip
        self.states = states
        self.model_config = CPPNConfig(layers=cfg.layers, width=cfg.width, activations=cfg.activations,
                                       use_radius=True, audio_scale=cfg.audio_scale, init_gain=cfg.init_gain)
        model = build(self.model_config, seed=cfg.seed)
        k = self.model_config.n_pixel_inputs
        with torch.no_grad():
            model.hidden[0].weight[:, k] *= cfg.time_gain  # the time column: how fast the look drifts
        self.model = model.to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # the views' shape never changes: let cuDNN pick its kernels
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, fused=self.device.type == "cuda")
        self.text = clip.encode_text(list(cfg.prompts)).mean(0)  # (D,): view · text = mean cosine over prompts
        self.negative = clip.encode_text(list(cfg.negatives)).mean(0) if cfg.negatives else None
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self._grids: dict[tuple[int, int], torch.Tensor] = {}
        self.last_frames: torch.Tensor | None = None  # the rows the latest step fed the network
        self.last_images: torch.Tensor | None = None

    def _coords(self, height: int, width: int) -> torch.Tensor:
        if (height, width) not in self._grids:
            self._grids[(height, width)] = coordinate_grid(width, height).to(self.device)
        return self._grids[(height, width)]

    def _score(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(positive score per view, loss) from unit image embeddings (B, D)."""
        pos = emb @ self.text  # (B,)
        loss = -pos.mean()
        if self.negative is not None:
            loss = loss + self.cfg.negative_weight * (emb @ self.negative).mean()
        return pos, loss

    def step(self, size: int) -> torch.Tensor:
        """One Adam step at render size `size` (short side). Returns the step's mean score, on the device."""
        h, w = render_shape(size, self.cfg.aspect)
        frames = torch.from_numpy(self.states.sample(self.cfg.states, self.rng)).to(self.device)
        images = render(self.model, self._coords(h, w), frames, h, w)  # (K, 3, H, W)
        views = random_views(images, self.cfg.augs, self.clip.image_size, self.gen)
        pos, loss = self._score(self.clip.encode_image(views))
        if self.cfg.min_reactivity > 0 and len(images) > 1:
            loss = loss + torch.relu(self.cfg.min_reactivity - reactivity(images))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Keep the time and audio weights as initialised (the module docstring says why).
        self.model.hidden[0].weight.grad[:, self.model_config.n_pixel_inputs:] = 0
        self.optimizer.step()
        self.last_frames, self.last_images = frames, images.detach()
        return pos.detach().mean()

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """(mean score, reactivity) on the fixed states at the largest pyramid size.

        Reactivity is the mean absolute difference between the states' renders
        (0..1): how much the music changes the picture.
        """
        h, w = render_shape(max(self.cfg.pyramid), self.cfg.aspect)
        frames = torch.from_numpy(self.states.eval_rows).to(self.device)
        images = torch.cat([render(self.model, self._coords(h, w), f[None], h, w) for f in frames])
        pos, _ = self._score(self.clip.encode_image(center_views(images, self.clip.image_size)))
        return pos.mean().item(), reactivity(images).item()

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", torch.float32).clone() for k, v in self.model.state_dict().items()}


@dataclass
class TrainResult:
    cfg: TrainConfig
    model_config: CPPNConfig
    state: dict[str, torch.Tensor]  # the best weights, CPU fp32
    start_score: float
    best_score: float
    best_step: int
    final_score: float
    reactivity: tuple[float, float]  # (at the start, of the saved weights)
    curve: list[float]  # the training score of every step
    evals: list[tuple[int, float]]  # (steps done, score on the fixed states)
    levels: list[tuple[int, int]]  # (first step, size) of each pyramid level
    level_seconds: list[float]  # per pyramid level: seconds per iteration
    seconds: float
    steps_done: int
    interrupted: bool
    device: str
    clip_weights: str
    clip_checkpoint: str | None  # the file name of the CLIP weights read; None for random weights


def level_plan(cfg: TrainConfig) -> list[tuple[int, int]]:
    """(first step, size) per pyramid level; the iterations split evenly."""
    n = len(cfg.pyramid)
    return [(cfg.iterations * i // n, size) for i, size in enumerate(cfg.pyramid)]


@torch.enable_grad()  # whatever grad mode the caller is in
def train_style(cfg: TrainConfig, clip: Clip, states: FeatureStates, stop=None, progress: bool = True) -> TrainResult:
    """Run the optimisation. `stop` (an Event) ends it cleanly between steps; the best weights so far are kept.

    A KeyboardInterrupt during the steps leaves as `Aborted`, which says how many steps had run."""
    from tqdm import tqdm

    started = time.perf_counter()
    trainer = Trainer(cfg, clip, states)
    plan = level_plan(cfg)
    evals: list[tuple[int, float]] = []
    best: dict = {}

    def score_now(done: int) -> None:
        """Score the fixed states; keep a copy of the weights if they are the best so far."""
        score, react = trainer.evaluate()
        evals.append((done, score))
        if not best or score > best["score"]:
            best.update(score=score, step=done, state=trainer.snapshot(), reactivity=react)
        best.setdefault("start_reactivity", react)

    score_now(0)
    curve: list[torch.Tensor] = []  # on the device: reading each one back would sync every step
    level_time, level_steps = [0.0] * len(plan), [0] * len(plan)
    desc = cfg.prompts[0] if len(cfg.prompts[0]) <= 29 else cfg.prompts[0][:28] + "…"
    bar = tqdm(total=cfg.iterations, disable=not progress, file=sys.stderr, unit="it", dynamic_ncols=True,
               mininterval=0.5, desc=desc)
    done, interrupted = 0, False
    try:
        for step in range(cfg.iterations):
            if stop is not None and stop.is_set():
                interrupted = True
                break
            level = max(i for i, (first, _) in enumerate(plan) if first <= step)
            size = plan[level][1]
            t0 = time.perf_counter()
            curve.append(trainer.step(size))
            done = step + 1
            if done % 10 == 0 or done == cfg.iterations:
                score = curve[-1].item()  # CPU-GPU sync point, every 10 steps only
                bar.set_postfix_str(f"score {score:.4f} best {best['score']:.4f} @{size}px", refresh=False)
            level_time[level] += time.perf_counter() - t0
            level_steps[level] += 1
            bar.update(1)
            if done % cfg.eval_every == 0 or done == cfg.iterations:
                score_now(done)
                if not progress:
                    log.info("step %d/%d (%d px): score %.4f, best %.4f at step %d",
                             done, cfg.iterations, size, evals[-1][1], best["score"], best["step"])
        if evals[-1][0] != done:  # stopped between scorings: score what we have
            score_now(done)
    except KeyboardInterrupt:  # a second Ctrl-C: the caller must know how far it got to say what was lost
        raise Aborted(done, cfg.iterations) from None
    finally:
        bar.close()
    return TrainResult(
        cfg=cfg, model_config=trainer.model_config, state=best["state"], start_score=evals[0][1],
        best_score=best["score"], best_step=best["step"], final_score=evals[-1][1],
        reactivity=(best["start_reactivity"], best["reactivity"]),
        curve=torch.stack(curve).tolist() if curve else [], evals=evals, levels=plan,
        level_seconds=[t / n if n else 0.0 for t, n in zip(level_time, level_steps)],
        seconds=time.perf_counter() - started, steps_done=done, interrupted=interrupted,
        device=str(trainer.device), clip_weights=clip.weights,
        clip_checkpoint=clip.checkpoint.name if clip.checkpoint else None)
