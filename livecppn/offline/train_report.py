"""What a training run leaves behind: the style file, a preview grid and a training curve.

All three are written to temporary files beside the output and renamed into
place only once everything is written, the style last (its presence means
"done" to batch mode): an error or Ctrl-C never leaves a half-written file at
the output path. The style is read back with the live path's `load_style`,
and the preview is drawn from that file by the live `Generator`, so what the
preview shows is what a show plays.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..jsonable import rounded
from ..model.generator import Generator
from ..model.style import Style, load_style, save_style
from .conditioning import FeatureStates
from .train import TrainResult

TILE = 192  # preview tile height in pixels
COLUMNS = 3
LABEL = 20  # label strip under each tile
CURVE_SIZE = (720, 360)
MARGIN = (60, 40, 20, 36)  # left, top, right, bottom


def output_paths(out: Path) -> dict[str, Path]:
    return {"style": out, "preview": out.with_suffix(".preview.png"), "curve": out.with_suffix(".curve.png")}


def style_meta(result: TrainResult, states: FeatureStates) -> dict:
    cfg = result.cfg
    return rounded({
        "description": "Trained with CLIP guidance on: " + "; ".join(cfg.prompts),
        "prompts": list(cfg.prompts),
        "negative_prompts": list(cfg.negatives),
        "clip": {
            # The model actually used: `custom:NAME` when a config built it (training.clip_model says the same).
            "model": cfg.clip_name, "config": cfg.clip_config, "pretrained": cfg.clip_pretrained,
            "checkpoint": result.clip_checkpoint, "weights": result.clip_weights,
            "score": result.best_score, "score_best": result.best_score, "score_final": result.final_score,
            "score_start": result.start_score, "best_step": result.best_step,
            "score_is": "mean cosine similarity between CLIP's embedding of the whole frame and the prompts', "
                        "averaged over the fixed audio states",
        },
        "training": {
            **cfg.to_dict(), "clip_model": cfg.clip_name,
            "conditioning": states.source, "eval_states": list(states.eval_names),
            "steps_done": result.steps_done, "interrupted": result.interrupted, "device": result.device,
            "seconds_per_iteration": {str(size): s for (_, size), s in zip(result.levels, result.level_seconds)},
            "reactivity_start": result.reactivity[0], "reactivity": result.reactivity[1],
            "torch": torch.__version__,
        },
        "time_taken_s": result.seconds,
    }, 5)


def preview_grid(style: Style, states: FeatureStates) -> Image.Image:
    """The style under each fixed audio state, rendered by the live generator, labelled."""
    aspect = style.meta.get("training", {}).get("aspect", 1.0)
    w, h = max(16, round(TILE * aspect)), TILE
    gen = Generator(style, w, h, device="cpu")
    n = len(states.eval_rows)
    rows = (n + COLUMNS - 1) // COLUMNS
    sheet = Image.new("RGB", (COLUMNS * w, rows * (h + LABEL)), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (row, name) in enumerate(zip(states.eval_rows, states.eval_names)):
        rgba = gen.render(float(row[0]), row[1:]).cpu().numpy()
        x, y = (i % COLUMNS) * w, (i // COLUMNS) * (h + LABEL)
        sheet.paste(Image.fromarray(np.ascontiguousarray(rgba[:, :, :3])), (x, y))
        draw.text((x + 4, y + h + 4), name, fill=(220, 220, 220), font=font)
    return sheet


def curve_image(result: TrainResult) -> Image.Image:
    """Score per step (grey), its running mean (blue), the fixed-state scores (orange), pyramid levels."""
    width, height = CURVE_SIZE
    left, top, right, bottom = MARGIN
    img = Image.new("RGB", CURVE_SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    curve = np.asarray(result.curve, dtype=np.float64)
    evals = np.asarray(result.evals, dtype=np.float64)  # (n, 2): steps done, score
    values = np.concatenate([curve, evals[:, 1]])
    lo, hi = float(values.min()), float(values.max())
    pad = max(hi - lo, 1e-4) * 0.08
    lo, hi = lo - pad, hi + pad
    steps = max(result.cfg.iterations, 1)

    def xy(step: float, score: float) -> tuple[float, float]:
        return (left + (width - left - right) * step / steps,
                top + (height - top - bottom) * (1 - (score - lo) / (hi - lo)))

    for i in range(5):  # horizontal grid and score labels
        score = lo + (hi - lo) * i / 4
        y = xy(0, score)[1]
        draw.line([(left, y), (width - right, y)], fill=(230, 230, 230))
        draw.text((4, y - 6), f"{score:.3f}", fill=(90, 90, 90), font=font)
    for first, size in result.levels:
        x = xy(first, lo)[0]
        draw.line([(x, top), (x, height - bottom)], fill=(200, 200, 200))
        draw.text((x + 3, height - bottom + 4), f"{size}px", fill=(90, 90, 90), font=font)
    draw.text((width - right - 70, height - bottom + 4), f"step {result.steps_done}", fill=(90, 90, 90), font=font)
    if len(curve) > 1:
        draw.line([xy(i + 1, v) for i, v in enumerate(curve)], fill=(190, 190, 190), width=1)
        k = max(1, min(20, len(curve) // 10))
        smooth = np.convolve(curve, np.ones(k) / k, mode="valid")
        draw.line([xy(i + k, v) for i, v in enumerate(smooth)], fill=(40, 90, 200), width=2)
    points = [xy(s, v) for s, v in evals]
    if len(points) > 1:
        draw.line(points, fill=(230, 120, 20), width=2)
    for x, y in points:
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(230, 120, 20))
    title = (f"CLIP score {result.start_score:.4f} -> best {result.best_score:.4f} (step {result.best_step}), "
             f"final {result.final_score:.4f}; grey: per step, blue: running mean, orange: fixed states")
    draw.text((left, 12), title, fill=(20, 20, 20), font=font)
    return img


def write_outputs(result: TrainResult, states: FeatureStates, out: Path, name: str) -> dict[str, Path]:
    """Write style, preview and curve atomically; returns their paths."""
    paths = output_paths(out)
    temps = {key: path.with_name(f".{path.name}.{os.getpid()}.tmp") for key, path in paths.items()}
    placed: list[Path] = []
    try:
        style = Style(name=name, config=result.model_config, state=result.state, meta=style_meta(result, states))
        save_style(style, temps["style"])
        loaded = load_style(temps["style"])  # the live path's loader: refuse to publish a file it would refuse
        preview_grid(loaded, states).save(temps["preview"], format="PNG")
        curve_image(result).save(temps["curve"], format="PNG")
        umask = os.umask(0)
        os.umask(umask)
        for key in ("preview", "curve", "style"):
            os.chmod(temps[key], 0o666 & ~umask)  # safetensors writes 0600; a style library is for sharing
            os.replace(temps[key], paths[key])
            placed.append(paths[key])
    except BaseException:  # Ctrl-C included: a preview without its style would say "done" about nothing
        if paths["style"] not in placed:
            for path in placed:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        raise
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    return paths
