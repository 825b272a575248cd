"""The CPPN: pixel coordinates + time + audio features in, colour out (DESIGN §4).

Inputs per pixel, in this order: x, y (scaled to [-pi, pi] on the short side,
aspect-correct), radius (optional), time, then the audio feature vector scaled
by the style's audio scale. Hidden layers each apply one activation; the output
is RGB through a sigmoid.

A style may declare a coordinate transform (mirror, kaleidoscope, polar or
tiled coordinates: `transform_xy`), applied to x and y before the network sees
them (the radius is that of the transformed point), and a palette: the first
output, through its sigmoid, picks a colour along a ramp of colour stops
(`apply_palette`) instead of the three outputs being red, green and blue.
Both are part of the config, so the live and offline paths draw the same.

The first layer is linear in its inputs, so it splits into a per-pixel part
(x, y, r: constant for a resolution, cached by the caller) and a per-frame
bias (time, audio). Per frame that leaves one add plus the hidden layers.

The model knows nothing of GL, audio devices or training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

N_AUDIO = 9  # the seed's feature vector: see livecppn.audio.features.FEATURE_NAMES


def gaussian(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-x * x)


ACTIVATIONS = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tanh": torch.tanh,
    "gaussian": gaussian,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda x: x,
}

# The same functions, computed in place on a preallocated buffer (the live
# generator's per-frame path allocates nothing).
INPLACE_ACTIVATIONS = {
    "sin": torch.sin_,
    "cos": torch.cos_,
    "tanh": torch.tanh_,
    "gaussian": lambda x: x.square_().neg_().exp_(),
    "sigmoid": torch.sigmoid_,
    "relu": torch.relu_,
    "identity": lambda x: x,
}


@dataclass
class CPPNConfig:
    """Everything needed to rebuild the network; stored whole in a style file."""

    layers: int = 4  # hidden layers, each followed by its activation
    width: int = 128
    activations: tuple[str, ...] = ("sin", "cos", "gaussian", "tanh")  # one per hidden layer
    use_radius: bool = True
    n_audio: int = N_AUDIO
    audio_scale: float = 1.0  # audio features are multiplied by this before the first layer
    init_gain: float = 5.0  # Xavier gain; the seed's winner used 5
    # Coordinate transform of (x, y) before the first layer (see TRANSFORMS), and its order:
    # mirror 1 = left-right, 2 = four-way; kaleido and polar: segments; tile: tiles per short side.
    transform: str = "none"
    symmetry: int = 1
    # Colour stops (r, g, b in [0, 1]), evenly spaced; the first output picks along them.
    # Empty: the three outputs are red, green and blue.
    palette: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        self.activations = tuple(self.activations)
        self.palette = tuple(tuple(float(v) for v in c) if isinstance(c, (list, tuple)) else c for c in self.palette)
        problems = []
        if not 1 <= self.layers <= 16:
            problems.append(f"layers must be 1..16, got {self.layers}")
        if not 1 <= self.width <= 1024:
            problems.append(f"width must be 1..1024, got {self.width}")
        if len(self.activations) != self.layers:
            problems.append(
                f"need one activation per hidden layer ({self.layers}), got {len(self.activations)}"
            )
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown:
            problems.append(f"unknown activation(s) {unknown}; known: {sorted(ACTIVATIONS)}")
        if not 0 <= self.n_audio <= 64:
            problems.append(f"n_audio must be 0..64, got {self.n_audio}")
        if not math.isfinite(self.audio_scale):
            problems.append(f"audio_scale must be finite, got {self.audio_scale}")
        if self.transform not in TRANSFORMS:
            problems.append(f"unknown transform {self.transform!r}; known: {list(TRANSFORMS)}")
        if not (isinstance(self.symmetry, int) and 1 <= self.symmetry <= 32):
            problems.append(f"symmetry must be a whole number 1..32, got {self.symmetry!r}")
        if self.palette and not 2 <= len(self.palette) <= 64:
            problems.append(f"palette needs 2..64 colour stops, got {len(self.palette)}")
        for c in self.palette:
            if not (isinstance(c, tuple) and len(c) == 3 and all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in c)):
                problems.append(f"palette colours must be [r, g, b] with each in 0..1, got {c!r}")
                break
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def n_pixel_inputs(self) -> int:
        return 3 if self.use_radius else 2

    @property
    def n_inputs(self) -> int:
        return self.n_pixel_inputs + 1 + self.n_audio  # + time

    def to_dict(self) -> dict:
        d = asdict(self)
        d["activations"] = list(self.activations)
        d["palette"] = [list(c) for c in self.palette]
        # Written only when used, so files from before transforms and palettes keep their exact bytes.
        for key in ("transform", "symmetry", "palette"):
            if getattr(self, key) == getattr(CPPNConfig, key):
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CPPNConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown architecture keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


TRANSFORMS = {
    "none": "x and y as they are",
    "mirror": "mirrored left-right (symmetry 1) or four ways (2)",
    "kaleido": "a kaleidoscope: the plane folded into 2 x symmetry mirrored wedges around the centre",
    "polar": "x is the distance from the centre, y follows the angle (symmetry petals): rings and rays",
    "tile": "mirrored tiles, symmetry of them across the short side",
}


def transform_xy(x: torch.Tensor, y: torch.Tensor, transform: str, n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A style's coordinate transform (TRANSFORMS) of the pixel coordinates. Every one is
    continuous (folds and mirrors, no seams), so the picture has no hard edges it did not draw."""
    if transform == "none":
        return x, y
    if transform == "mirror":
        return x.abs(), (y.abs() if n >= 2 else y)
    r = torch.sqrt(x * x + y * y)
    theta = torch.atan2(y, x)
    if transform == "kaleido":
        wedge = math.pi / n
        a = wedge - (torch.remainder(theta, 2 * wedge) - wedge).abs()  # folded into [0, wedge]
        return r * torch.cos(a), r * torch.sin(a)
    if transform == "polar":
        return r - math.pi, math.pi * torch.cos(n * theta)
    if transform == "tile":
        # asin(sin(.)) is a triangle wave: the identity near the centre, mirrored every pi / n
        return (2.0 / n) * torch.asin(torch.sin(x * (n / 2))), (2.0 / n) * torch.asin(torch.sin(y * (n / 2)))
    raise ValueError(f"unknown transform {transform!r}; known: {list(TRANSFORMS)}")


def coordinate_grid(width: int, height: int, use_radius: bool = True, transform: str = "none",
                    symmetry: int = 1) -> torch.Tensor:
    """Pixel centres as (H*W, 2 or 3): x, y in [-pi, pi] on the short side, aspect-correct,
    then the style's coordinate transform; the radius is the transformed point's.

    Row 0 is the top of the image; y grows downwards, so images read back from
    GL (bottom-up) must be flipped before comparing.
    """
    short = min(width, height)
    xs = (torch.arange(width, dtype=torch.float32) + 0.5 - width / 2) * (2 * math.pi / short)
    ys = (torch.arange(height, dtype=torch.float32) + 0.5 - height / 2) * (2 * math.pi / short)
    y, x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W)
    x, y = transform_xy(x, y, transform, symmetry)
    cols = [x.reshape(-1), y.reshape(-1)]
    if use_radius:
        cols.append(torch.sqrt(x * x + y * y).reshape(-1))
    return torch.stack(cols, dim=1)  # (H*W, 2|3)


def style_grid(width: int, height: int, config: CPPNConfig) -> torch.Tensor:
    """coordinate_grid with the config's radius input and transform."""
    return coordinate_grid(width, height, config.use_radius, config.transform, config.symmetry)


def apply_palette(t: torch.Tensor, stops: torch.Tensor) -> torch.Tensor:
    """Colours along evenly spaced stops (K, 3) at positions t in [0, 1] (N,) → (N, 3).
    Piecewise linear, so a trainer's gradient flows through it."""
    k = stops.shape[0]
    pos = t.clamp(0.0, 1.0) * (k - 1)
    i = pos.floor().clamp(max=k - 2)
    f = (pos - i).unsqueeze(1)
    i = i.long()
    return stops[i] * (1.0 - f) + stops[i + 1] * f


class CPPN(nn.Module):
    def __init__(self, config: CPPNConfig):
        super().__init__()
        self.config = config
        dims = [config.n_inputs] + [config.width] * config.layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(config.width, 3)
        # Not in the state dict: the palette lives in the config, so the style's tensors stay the same.
        self.register_buffer("palette", torch.tensor(config.palette or [[0.0] * 3] * 2, dtype=torch.float32),
                             persistent=False)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for lin in [*self.hidden, self.out]:
            # Xavier normal with a large gain: the seed found gain 5 gives rich
            # structure with periodic activations; biases start at zero.
            std = self.config.init_gain * math.sqrt(2.0 / (lin.in_features + lin.out_features))
            with torch.no_grad():
                lin.weight.normal_(0.0, std, generator=generator)
                lin.bias.zero_()

    def frame_inputs(self, t: float | torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(time, audio * audio_scale) as one (1 + n_audio,) vector."""
        w = self.hidden[0].weight
        t = torch.as_tensor(t, dtype=w.dtype, device=w.device).reshape(1)
        audio = audio.to(dtype=w.dtype, device=w.device).reshape(-1) * self.config.audio_scale
        return torch.cat([t, audio])

    def forward(self, coords: torch.Tensor, t: float | torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Reference forward pass, unsplit. coords (N, 2|3) → RGB (N, 3) in [0, 1]."""
        frame = self.frame_inputs(t, audio).expand(coords.shape[0], -1)  # (N, 1 + n_audio)
        h = torch.cat([coords.to(frame.dtype), frame], dim=1)  # (N, n_inputs)
        for lin, name in zip(self.hidden, self.config.activations):
            h = ACTIVATIONS[name](lin(h))
        return self.colour(torch.sigmoid(self.out(h)))

    def colour(self, out: torch.Tensor) -> torch.Tensor:
        """The output layer's sigmoid (N, 3) → RGB (N, 3): as it is, or through the palette."""
        return apply_palette(out[:, 0], self.palette) if self.config.palette else out

    # --- split first layer -------------------------------------------------

    def pixel_part(self, coords: torch.Tensor) -> torch.Tensor:
        """First layer's per-pixel term (N, width), bias included. Cache it per resolution."""
        first = self.hidden[0]
        k = self.config.n_pixel_inputs
        return coords.to(first.weight.dtype) @ first.weight[:, :k].T + first.bias

    def frame_bias(self, t: float | torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """First layer's per-frame term (width,): time and audio."""
        first = self.hidden[0]
        k = self.config.n_pixel_inputs
        return first.weight[:, k:] @ self.frame_inputs(t, audio)

    def forward_split(self, pixel_part: torch.Tensor, frame_bias: torch.Tensor) -> torch.Tensor:
        """Same result as forward(), from a cached pixel_part. (N, width) → (N, 3)."""
        names = self.config.activations
        h = ACTIVATIONS[names[0]](pixel_part + frame_bias)
        for lin, name in zip(self.hidden[1:], names[1:]):
            h = ACTIVATIONS[name](lin(h))
        return self.colour(torch.sigmoid(self.out(h)))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build(config: CPPNConfig, seed: int = 0) -> CPPN:
    """A freshly initialised CPPN; the same seed gives the same weights on any machine."""
    model = CPPN(config)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    return model
