"""The shipped style library: every look in presets/styles/ as a reproducible recipe.

No training: each style is a seeded CPPN whose first-layer inputs, hidden
layers and output are reshaped by hand (the approach of default_style.py),
with a coordinate transform and a palette where the look asks for one.
`tools/build_styles.py` writes them all; running it again gives the same bytes.

Four families of pattern, as the designed generator had them (the autopilot
picks among them from the music's character):
- fractal: deep stacks of periodic layers, fine self-similar detail, often folded
  by a kaleidoscope;
- organic: gaussian and tanh layers at low spatial frequency: soft cells and blobs;
- flowing: smooth bands that drift with time: sin/cos at medium frequency;
- geometric: hard edges (a strong output layer saturates the sigmoid), mirrors,
  tiles and rays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .cppn import CPPNConfig, build, style_grid
from .default_style import SIBLINGS, make_default_style
from .style import Style

FAMILIES = ("fractal", "organic", "flowing", "geometric")
CREATED = "2026-11-24T00:00:00Z"  # fixed, so the files are reproducible
# The nine audio features' first-layer gains: bass, mid, treble, centroid, rolloff, flux, time, beat, rms.
AUDIO_GAINS = (1.6, 0.9, 0.7, 0.5, 0.3, 0.9, 0.15, 0.8, 1.0)


def hex_palette(*colours: str) -> tuple[tuple[float, float, float], ...]:
    """'#rrggbb' strings → palette stops in [0, 1], rounded so the file's JSON is short and stable."""
    return tuple(tuple(round(int(c[i:i + 2], 16) / 255, 4) for i in (1, 3, 5)) for c in colours)


@dataclass(frozen=True)
class Recipe:
    """Seeds and hand-set gains; everything `make_style` needs to build one look."""

    name: str
    family: str
    seed: int
    description: str
    layers: int = 4
    width: int = 128
    activations: tuple[str, ...] = ("sin", "cos", "gaussian", "tanh")
    transform: str = "none"
    symmetry: int = 1
    palette: tuple[tuple[float, float, float], ...] = ()
    audio_scale: float = 0.35
    pixel_gain: float = 0.4  # spatial frequency: the first layer's x, y, r columns
    hidden_gain: float = 0.5  # how folded the field gets layer by layer
    out_gain: float = 0.7  # contrast: a strong output layer gives hard edges
    time_gain: float = 0.35  # how fast the picture moves by itself
    audio_gain: float = 1.0  # times AUDIO_GAINS
    # RGB styles (no palette): the three outputs share one direction, plus some of their own.
    channel_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hue_play: float = 0.35
    # Palette styles: where the first output sits along the palette at rest.
    palette_bias: float = 0.0

    def config(self) -> CPPNConfig:
        return CPPNConfig(layers=self.layers, width=self.width, activations=self.activations, use_radius=True,
                          audio_scale=self.audio_scale, init_gain=5.0, transform=self.transform,
                          symmetry=self.symmetry, palette=self.palette)


def make_style(recipe: Recipe) -> Style:
    config = recipe.config()
    model = build(config, seed=recipe.seed)
    k = config.n_pixel_inputs
    with torch.no_grad():
        w = model.hidden[0].weight
        w[:, :k] *= recipe.pixel_gain
        for lin in model.hidden[1:]:
            lin.weight *= recipe.hidden_gain
        if recipe.palette:
            model.out.weight[0] *= recipe.out_gain
        else:
            shared = model.out.weight[0].clone()
            gains = torch.tensor(recipe.channel_gains).unsqueeze(1)
            model.out.weight.copy_(recipe.out_gain * (gains * shared + recipe.hue_play * model.out.weight))
        w[:, k] *= recipe.time_gain
        w[:, k + 1:] *= torch.tensor(AUDIO_GAINS) * recipe.audio_gain
        # Level: centre each output on its median over a reference frame (silence, t = 0), then
        # shift by the recipe's bias. Rounded, so last-bit differences between machines' maths
        # libraries cannot change the file.
        model.out.bias.zero_()
        centre = model(style_grid(64, 36, config), 0.0, torch.zeros(config.n_audio)).logit(eps=1e-6)
        medians = torch.tensor([round(float(v), 2) for v in centre.median(dim=0).values])
        shift = torch.tensor([recipe.palette_bias, 0.0, 0.0] if recipe.palette else recipe.channel_bias)
        model.out.bias.copy_(shift - medians)
    fields = {key: value for key, value in asdict(recipe).items()
              if key not in ("name", "family", "description", "layers", "width", "activations", "transform",
                             "symmetry", "palette", "audio_scale")}
    if recipe.palette:
        for key in ("channel_gains", "channel_bias", "hue_play"):
            del fields[key]
    else:
        del fields["palette_bias"]
    return Style.from_model(model, name=recipe.name, family=recipe.family, description=recipe.description,
                            recipe={"builder": "livecppn.model.library.make_style", **fields}, created=CREATED)


RECIPES: tuple[Recipe, ...] = (
    Recipe("neon", "geometric", 21, "Neon pink and electric blue on black, a six-fold kaleidoscope with hard edges.",
           activations=("sin", "tanh", "sin", "tanh"), transform="kaleido", symmetry=6,
           palette=hex_palette("#05010f", "#ff1f8e", "#05010f", "#1f6bff", "#05010f", "#ff1f8e", "#e8f4ff"),
           pixel_gain=0.5, hidden_gain=0.6, out_gain=1.3, time_gain=0.3, audio_gain=0.35),
    Recipe("nebula", "flowing", 7, "Deep-space purple nebula: soft clouds of violet and magenta on black.",
           activations=("sin", "gaussian", "tanh", "gaussian"),
           palette=hex_palette("#000000", "#0b0220", "#2a0a5a", "#6a1b9a", "#c04fd0", "#ffd6ff"),
           pixel_gain=0.25, hidden_gain=0.45, out_gain=0.7, time_gain=0.3, palette_bias=-0.6),
    Recipe("terra", "fractal", 31, "Earth-tone organic fractal: ochre, umber and olive folded into a mandala.",
           layers=6, activations=("sin", "sin", "cos", "sin", "gaussian", "tanh"), transform="kaleido",
           symmetry=5, palette=hex_palette("#1a0f07", "#5c3a1e", "#a5772f", "#6b6b2a", "#e6d3a3"),
           pixel_gain=0.35, hidden_gain=0.65, out_gain=0.9, time_gain=0.15, audio_gain=0.12),
    Recipe("glitch", "geometric", 41, "Harsh red and black: hard-edged mirrored tiles that flip on the kick.",
           activations=("sin", "tanh", "cos", "tanh"), transform="tile", symmetry=3,
           palette=hex_palette("#000000", "#000000", "#9a0000", "#ff1010", "#ff2a1a"),
           pixel_gain=0.45, hidden_gain=0.6, out_gain=3.0, time_gain=0.3, audio_gain=0.45),
    Recipe("pastel", "organic", 52, "Soft pastel watercolour: cream, blush, mint and lavender washes.",
           activations=("gaussian", "sin", "gaussian", "tanh"),
           palette=hex_palette("#fff4e0", "#f7b8c8", "#b8e6d0", "#c8b8f0", "#9fd0f0"),
           pixel_gain=0.22, hidden_gain=0.5, out_gain=1.0, time_gain=0.3),
    Recipe("mono", "fractal", 63, "Monochrome: black-and-white filigree in an eight-fold kaleidoscope.",
           layers=5, activations=("sin", "cos", "sin", "sin", "tanh"), transform="kaleido", symmetry=8,
           palette=hex_palette("#000000", "#ffffff"),
           pixel_gain=0.4, hidden_gain=0.6, out_gain=1.2, time_gain=0.25, audio_gain=0.3),
    Recipe("mandala", "fractal", 74, "Full-colour mandala: a deep sine stack in a twelve-fold kaleidoscope.",
           layers=5, activations=("sin", "sin", "cos", "gaussian", "tanh"), transform="kaleido", symmetry=12,
           pixel_gain=0.4, hidden_gain=0.6, out_gain=0.9, channel_gains=(1.0, 0.3, 0.8),
           channel_bias=(0.0, -0.4, 0.2), hue_play=0.6, time_gain=0.25, audio_gain=0.3),
    Recipe("tunnel", "flowing", 85, "A tunnel of rings and rays in teal and gold, drifting with the music.",
           activations=("sin", "cos", "sin", "tanh"), transform="polar", symmetry=4,
           palette=hex_palette("#001018", "#00636e", "#2ad4c0", "#f0c050", "#fff6d8"),
           pixel_gain=0.35, hidden_gain=0.5, out_gain=1.0, time_gain=0.35, audio_gain=0.8),
    Recipe("lattice", "geometric", 96, "Lattice: mirrored tiles with crisp edges in cyan, lime and violet.",
           activations=("cos", "tanh", "sin", "tanh"), transform="tile", symmetry=2,
           pixel_gain=0.5, hidden_gain=0.55, out_gain=2.0, channel_gains=(0.4, 1.0, 0.9),
           channel_bias=(-0.2, 0.0, 0.3), hue_play=0.8, time_gain=0.3, audio_gain=0.5),
    Recipe("coral", "organic", 107, "Coral: mirrored soft cells in salmon, cream and sea green.",
           activations=("gaussian", "tanh", "gaussian", "tanh"), transform="mirror", symmetry=1,
           palette=hex_palette("#0b2a2a", "#2f7f6f", "#ff8a6b", "#ffd0b0", "#fff8ec"),
           pixel_gain=0.28, hidden_gain=0.55, out_gain=1.1, time_gain=0.3),
    Recipe("aurora", "flowing", 118, "Aurora: curtains of green and violet light over a night sky.",
           activations=("sin", "cos", "gaussian", "tanh"),
           palette=hex_palette("#02060f", "#06304a", "#19c37d", "#b7ff9c", "#5a2bd0", "#0a0520"),
           pixel_gain=0.3, hidden_gain=0.5, out_gain=1.0, time_gain=0.4, palette_bias=-1.2, audio_gain=0.5),
    Recipe("prism", "geometric", 129, "Prism: a four-way mirror of saturated colour blocks with hard edges.",
           activations=("tanh", "sin", "tanh", "tanh"), transform="mirror", symmetry=2,
           pixel_gain=0.45, hidden_gain=0.6, out_gain=1.6, channel_gains=(1.0, -0.6, 0.5),
           channel_bias=(0.0, 0.0, 0.0), hue_play=1.0, time_gain=0.3, audio_gain=0.6),
)

# The four looks made by default_style's recipe (their files predate the library), with their families.
SEED_LOOKS = {"default": "flowing", "ice": "flowing", "ember": "organic", "moss": "organic"}
SEED_DESCRIPTIONS = {
    "default": "Violet and hot pink clouds that pulse with the kick.",
    "ice": "Deep blue to cyan and white, cold and drifting.",
    "ember": "Dark red through orange to gold: embers in a draught.",
    "moss": "Forest greens with pale highlights, soft and slow.",
}


def describe(name: str) -> str:
    """A line for the README's library table."""
    if name in SEED_DESCRIPTIONS:
        return SEED_DESCRIPTIONS[name]
    return next(r.description for r in RECIPES if r.name == name)


def library() -> dict[str, tuple[str, callable]]:
    """Every shipped style: name → (family, builder), in bank order."""
    looks = {"default": (SEED_LOOKS["default"], make_default_style)}
    for name, seed, gains, bias in SIBLINGS:
        looks[name] = (SEED_LOOKS[name], lambda n=name, s=seed, g=gains, b=bias:
                       make_default_style(seed=s, name=n, channel_gains=g, channel_bias=b))
    for recipe in RECIPES:
        looks[recipe.name] = (recipe.family, lambda r=recipe: make_style(r))
    return looks
