"""The trainer's settings: one TrainConfig, its command line, and the keys a batch file may use.

Imports only the standard library, so `livecppn --help` and the live path can
build the parser without torch's trainer dependencies (DESIGN §3).
"""

from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .cluster_options import add_ray_options
from .gallery_options import DEFAULT_SECONDS as GALLERY_SECONDS

DEFAULT_ACTIVATIONS = ("sin", "cos", "gaussian", "tanh")
ACTIVATION_NAMES = ("sin", "cos", "tanh", "gaussian", "sigmoid", "relu", "identity")  # as livecppn.model.cppn


class TrainConfigError(ValueError):
    """A training setting that cannot work; the message names it and what was expected."""


@dataclass
class TrainConfig:
    """Everything one style's training depends on; stored whole in the style's metadata."""

    prompts: tuple[str, ...]  # averaged: the look should match all of them
    negatives: tuple[str, ...] = ()  # pushed away from
    negative_weight: float = 0.5
    audio: str | None = None  # a track to condition on; None: the built-in synthetic states
    # CLIP (open_clip)
    clip_model: str = "RN50"
    clip_pretrained: str | None = "openai"  # a tag, a checkpoint file, or "none" for random weights
    clip_config: str | None = None  # a model config JSON; its file stem names the model
    clip_cache: str | None = None
    # Architecture: the seed's winner
    layers: int = 4
    width: int = 128
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    audio_scale: float = 0.5  # how strongly the music moves the picture (kept through training)
    time_gain: float = 0.35  # scales the first layer's initial time weights: how fast the look drifts
    init_gain: float = 5.0
    # Optimisation
    iterations: int = 800
    pyramid: tuple[int, ...] = (256, 512)  # render sizes (short side), the iterations split evenly
    aspect: float = 1.0  # width / height of the render; CLIP sees square crops of it
    lr: float = 1e-3
    seed: int = 0
    augs: int = 8  # augmented views per step (random crop + small affine jitter), across the states
    states: int = 4  # audio states rendered per step
    min_reactivity: float = 0.05  # the renders of a step's states must differ at least this much (0..1)
    eval_every: int = 50  # steps between scorings of the fixed states (the "best" is chosen on these)
    device: str = "auto"

    def __post_init__(self) -> None:
        self.prompts = _texts(self.prompts)
        self.negatives = _texts(self.negatives)
        self.activations = tuple(self.activations)
        self.pyramid = tuple(int(s) for s in self.pyramid)
        problems = []
        if not self.prompts or any(not p for p in self.prompts):
            problems.append("the prompt is empty: describe the look in words, e.g. "
                            "\"organic flowing shapes diffusing into each other with strong contrast\"")
        if any(not n for n in self.negatives):
            problems.append("a negative prompt is empty")
        if not 1 <= self.layers <= 16 or not 1 <= self.width <= 1024:
            problems.append(f"layers must be 1..16 and width 1..1024, got {self.layers} x {self.width}")
        if len(self.activations) != self.layers:
            problems.append(f"need one activation per layer ({self.layers}), got {list(self.activations)}")
        unknown = sorted(set(self.activations) - set(ACTIVATION_NAMES))
        if unknown:
            problems.append(f"unknown activation(s) {unknown}; known: {', '.join(ACTIVATION_NAMES)}")
        if not self.pyramid or any(not 16 <= s <= 4096 for s in self.pyramid):
            problems.append(f"pyramid sizes must be 16..4096 pixels, got {list(self.pyramid)}")
        if self.iterations < max(1, len(self.pyramid)):
            problems.append(f"iterations must be >= 1 per pyramid level, got {self.iterations}")
        for name in ("augs", "states", "eval_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "aspect"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a positive number, got {value}")
        if not 0 <= self.min_reactivity <= 1:
            problems.append(f"min_reactivity must be 0..1, got {self.min_reactivity}")
        for name in ("negative_weight", "audio_scale", "time_gain", "init_gain"):
            if not math.isfinite(getattr(self, name)):
                problems.append(f"{name} must be finite, got {getattr(self, name)}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        if problems:
            raise TrainConfigError("; ".join(problems))

    @property
    def clip_name(self) -> str:
        """The CLIP actually used: `custom:STEM` for a --clip-config model (clip_model is ignored then)."""
        return f"custom:{Path(self.clip_config).stem}" if self.clip_config else self.clip_model

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("prompts", "negatives", "activations", "pyramid"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "settings") -> "TrainConfig":
        """From TOML-like keys (field names; `prompt`/`negative` may stand for the lists). Unknown keys are errors."""
        d = dict(d)
        for short, long in (("prompt", "prompts"), ("negative", "negatives")):
            if short in d:
                if long in d:
                    raise TrainConfigError(f"{where}: give {short!r} or {long!r}, not both")
                d[long] = d.pop(short)
        for key in ("prompts", "negatives"):
            if isinstance(d.get(key), str):
                d[key] = (d[key],)
        if isinstance(d.get("activations"), str):
            d["activations"] = parse_list(d["activations"])
        if isinstance(d.get("aspect"), str):
            try:
                d["aspect"] = parse_aspect(d["aspect"])
            except argparse.ArgumentTypeError as e:
                raise TrainConfigError(f"{where}: aspect: {e}") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TrainConfigError(f"{where}: unknown key(s) {unknown}; known: prompt(s), negative(s), "
                                   f"{', '.join(sorted(known - {'prompts', 'negatives'}))}")
        if "prompts" not in d:
            raise TrainConfigError(f"{where}: no prompt")
        if "activations" not in d and "layers" in d:
            d["activations"] = mixed_activations(int(d["layers"]))
        try:
            return cls(**d)
        except TypeError as e:
            raise TrainConfigError(f"{where}: {e}") from None
        except TrainConfigError as e:
            raise TrainConfigError(f"{where}: {e}") from None


def _texts(values) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    return tuple(" ".join(str(v).split()) for v in values)


def mixed_activations(layers: int) -> tuple[str, ...]:
    """The default sin/cos/gaussian/tanh mix, cycled to `layers`."""
    return tuple(itertools.islice(itertools.cycle(DEFAULT_ACTIVATIONS), layers))


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in parse_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 256,512, got {text!r}") from None


def parse_aspect(text: str) -> float:
    try:
        if ":" in text:
            w, h = (float(v) for v in text.split(":"))
            return w / h
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected an aspect ratio such as 16:9 or 1.0, got {text!r}") from None


# CLI option -> (TrainConfig field). Options left unset keep the dataclass default (or a batch file's).
_CLI_FIELDS = ("negative_weight", "audio", "clip_model", "clip_pretrained", "clip_config", "clip_cache",
               "layers", "width", "activations", "audio_scale", "time_gain", "iterations", "pyramid", "aspect",
               "lr", "seed", "augs", "states", "min_reactivity", "eval_every", "device")


def add_train_parser(sub) -> argparse.ArgumentParser:
    d = TrainConfig(prompts=("x",))
    p = sub.add_parser(
        "train", help="teach a CPPN a look from words (CLIP guidance); writes a style file",
        description="Train a style offline: a CPPN learns to look like the prompt(s) to CLIP under many audio "
                    "states, so the style stays on-prompt and keeps reacting when it plays live. Writes the "
                    "style, a preview grid (NAME.preview.png) and a training curve (NAME.curve.png). "
                    "Ctrl-C stops and still saves the best style so far.",
    )
    p.add_argument("prompt", nargs="?", help="what the look should be, in words")
    p.add_argument("--prompt", dest="prompts", action="append", default=[], metavar="TEXT",
                   help="another prompt; all prompts are averaged (repeatable)")
    p.add_argument("--negative", dest="negatives", action="append", default=[], metavar="TEXT",
                   help="a prompt to steer away from (repeatable)")
    p.add_argument("--negative-weight", type=float, metavar="W",
                   help=f"weight of the negative prompts (default {d.negative_weight})")
    p.add_argument("--out", type=Path, metavar="PATH.safetensors",
                   help="where to write the style (default: the user's styles folder, named after the prompt; "
                        "`livecppn paths`)")
    p.add_argument("--audio", metavar="TRACK",
                   help="condition on this track's features (as the live analyser hears it); default: a "
                        "built-in spread of synthetic audio states")
    g = p.add_argument_group("CLIP")
    g.add_argument("--clip-model", metavar="NAME", help=f"open_clip model name (default {d.clip_model})")
    g.add_argument("--clip-pretrained", metavar="TAG|FILE|none",
                   help=f"weights: a tag such as openai, a local checkpoint file, or none for random weights "
                        f"(default {d.clip_pretrained})")
    g.add_argument("--clip-config", metavar="FILE.json",
                   help="an open_clip model config for a custom model (named by the file's stem)")
    g.add_argument("--clip-cache", metavar="DIR", help="Hugging Face hub cache to find tagged weights in")
    g = p.add_argument_group("network")
    g.add_argument("--layers", type=int, metavar="N", help=f"hidden layers (default {d.layers})")
    g.add_argument("--width", type=int, metavar="N", help=f"units per layer (default {d.width})")
    g.add_argument("--activations", type=parse_list, metavar="LIST",
                   help="one per layer, comma-separated (default the sin,cos,gaussian,tanh mix)")
    g.add_argument("--audio-scale", type=float, metavar="X",
                   help=f"audio features are multiplied by this before the network (default {d.audio_scale})")
    g.add_argument("--time-gain", type=float, metavar="X",
                   help=f"initial scale of the time input: how fast the look drifts (default {d.time_gain})")
    g = p.add_argument_group("optimisation")
    g.add_argument("--iterations", type=int, metavar="N", help=f"Adam steps (default {d.iterations})")
    g.add_argument("--pyramid", type=parse_sizes, metavar="SIZES",
                   help="render sizes, short side, iterations split evenly (default 256,512)")
    g.add_argument("--aspect", type=parse_aspect, metavar="W:H",
                   help="render aspect; 16:9 trains the whole field a widescreen show sees (default 1:1)")
    g.add_argument("--lr", type=float, metavar="X", help=f"Adam learning rate (default {d.lr:g})")
    g.add_argument("--seed", type=int, metavar="N", help=f"seed for the network and the sampling (default {d.seed})")
    g.add_argument("--augs", type=int, metavar="N",
                   help=f"augmented views per step: random crops with small affine jitter (default {d.augs})")
    g.add_argument("--states", type=int, metavar="N", help=f"audio states rendered per step (default {d.states})")
    g.add_argument("--min-reactivity", type=float, metavar="X",
                   help="the renders of different audio states must differ at least this much (mean absolute "
                        f"pixel difference, 0..1; 0 turns it off; default {d.min_reactivity})")
    g.add_argument("--eval-every", type=int, metavar="N",
                   help=f"steps between scorings on the fixed states (default {d.eval_every})")
    g.add_argument("--device", metavar="DEV", help="auto, cpu or cuda (default auto: cuda when available)")
    g = p.add_argument_group("batch")
    g.add_argument("--batch", type=Path, metavar="FILE.toml",
                   help="train a library: one style per [[style]] entry, skipping those already done")
    g.add_argument("--out-dir", type=Path, metavar="DIR",
                   help="with --batch: where the styles go (default: the batch file's out_dir, else its folder)")
    g.add_argument("--force", action="store_true", help="with --batch: retrain styles that are already done")
    add_ray_options(p, "the --batch library (one task per style)")
    g.add_argument("--gallery-seconds", type=float, default=GALLERY_SECONDS, metavar="S",
                   help="with --batch: at the end, write or refresh the output folder's style gallery "
                        f"(DIR/gallery/index.html: `livecppn styles gallery`) with S-second clips (default "
                        f"{GALLERY_SECONDS:g}; 0: no gallery)")
    p.add_argument("--no-progress", action="store_true",
                   help="log lines instead of a progress bar (the default when stderr is not a terminal)")
    return p


def overrides_from_args(args) -> dict:
    """The TrainConfig fields set on the command line (prompts included when given)."""
    out = {name: getattr(args, name) for name in _CLI_FIELDS if getattr(args, name, None) is not None}
    prompts = ([args.prompt] if args.prompt is not None else []) + list(args.prompts)
    if prompts:
        out["prompts"] = tuple(prompts)
    if args.negatives:
        out["negatives"] = tuple(args.negatives)
    if "layers" in out and "activations" not in out:
        out["activations"] = mixed_activations(out["layers"])
    return out


def config_from_args(args) -> TrainConfig:
    d = overrides_from_args(args)
    if "prompts" not in d:
        d["prompts"] = ()
    return TrainConfig(**d)

