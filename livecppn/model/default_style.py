"""The built-in default style: a reproducible recipe, no training needed.

A seeded CPPN (the seed's winning shape, 4 × 128 with sin/cos/gaussian/tanh
and Xavier gain 5) with its first-layer inputs reshaped by hand so that it
moves slowly with time and visibly with the music: bass and beat push the
structure, brightness features shift it. `tools/build_styles.py` writes it to
presets/styles/default.safetensors; running that again gives the same bytes.
"""

from __future__ import annotations

import torch

from .cppn import CPPNConfig, build
from .style import Style

SEED = 11
# Untrained, gain 5 everywhere is fine-grained noise; these tame the spatial
# frequency (first layer's x, y, r columns, then hidden layers) and keep the
# output layer strong for contrast.
PIXEL_GAIN = 0.4
HIDDEN_GAIN = 0.5
OUT_GAIN = 0.7
# First-layer column gains for the per-frame inputs: time, then the 9 features
# (bass, mid, treble, centroid, rolloff, flux, time, beat, rms).
TIME_GAIN = 0.35
AUDIO_GAINS = (1.6, 0.9, 0.7, 0.5, 0.3, 0.9, 0.15, 0.8, 1.0)
# A palette without a palette mode: the three output rows share one direction
# (a luminance-like ramp from deep violet to hot pink and white), plus a little
# of their own random direction for hue play.
CHANNEL_GAINS = (1.0, 0.55, 0.85)
CHANNEL_BIAS = (-0.3, -1.1, 0.3)
HUE_PLAY = 0.35


def make_default_style(seed: int = SEED, name: str = "default",
                       channel_gains: tuple[float, float, float] = CHANNEL_GAINS,
                       channel_bias: tuple[float, float, float] = CHANNEL_BIAS) -> Style:
    """The default look; other seeds and palettes give the bank's sibling looks."""
    config = CPPNConfig(layers=4, width=128, activations=("sin", "cos", "gaussian", "tanh"),
                        use_radius=True, audio_scale=0.35, init_gain=5.0)
    model = build(config, seed=seed)
    k = config.n_pixel_inputs
    with torch.no_grad():
        w = model.hidden[0].weight
        w[:, :k] *= PIXEL_GAIN
        for lin in model.hidden[1:]:
            lin.weight *= HIDDEN_GAIN
        shared = model.out.weight[0].clone()
        gains = torch.tensor(channel_gains).unsqueeze(1)
        model.out.weight.copy_(OUT_GAIN * (gains * shared + HUE_PLAY * model.out.weight))
        model.out.bias.copy_(torch.tensor(channel_bias))
        w[:, k] *= TIME_GAIN
        w[:, k + 1:] *= torch.tensor(AUDIO_GAINS)
    return Style.from_model(
        model, name=name,
        description="Seeded 4x128 CPPN with a hand-set palette and audio response (no training).",
        recipe={"builder": "livecppn.model.default_style.make_default_style", "seed": seed,
                "pixel_gain": PIXEL_GAIN, "hidden_gain": HIDDEN_GAIN,
                "out_gain": OUT_GAIN, "channel_gains": list(channel_gains),
                "channel_bias": list(channel_bias), "hue_play": HUE_PLAY, "time_gain": TIME_GAIN,
                "audio_gains": list(AUDIO_GAINS)},
        created="2026-11-23T00:00:00Z",
    )


# The default bank's sibling looks: (name, seed, channel gains, channel bias).
SIBLINGS = (
    ("ice", 4, (0.45, 0.85, 1.0), (-1.2, -0.2, 0.4)),      # deep blue to cyan and white
    ("ember", 5, (1.0, 0.6, 0.25), (0.3, -0.6, -1.6)),     # dark red through orange to gold
    ("moss", 9, (0.55, 1.0, 0.45), (-0.9, 0.1, -1.1)),     # forest greens with pale highlights
)
