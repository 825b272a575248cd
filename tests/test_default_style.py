"""The shipped default style has structure, moves with time and reacts visibly to the music."""

import numpy as np

from livecppn.model.generator import Generator
from livecppn.model.style import load_style
from livecppn.paths import default_style_path

SILENT = np.zeros(9, np.float32)
KICK = np.array([1.0, 0.3, 0.2, 0.3, 0.3, 0.6, 0.0, 1.0, 0.9], np.float32)  # bass + beat + loud
BRIGHT = np.array([0.2, 0.8, 0.9, 0.8, 0.8, 0.5, 0.0, 0.0, 0.6], np.float32)


def image(gen, t, audio):
    return gen.render(t, audio)[..., :3].numpy().astype(np.float32)


def test_default_style_has_contrast_and_is_not_saturated():
    gen = Generator(load_style(default_style_path()), 160, 90)
    img = image(gen, 0.0, SILENT)
    assert img.std() > 40, "flat picture"
    assert (img.max(axis=2) < 250).mean() > 0.5, "mostly blown out"
    assert (img.max(axis=2) > 30).mean() > 0.5, "mostly black"


def test_default_style_reacts_visibly_to_audio():
    gen = Generator(load_style(default_style_path()), 160, 90)
    quiet = image(gen, 1.0, SILENT)
    for state in (KICK, BRIGHT):
        assert np.abs(image(gen, 1.0, state) - quiet).mean() > 20  # of 255: a change anyone sees
    # a small feature change gives a small picture change: reactive, not random
    nudged = image(gen, 1.0, SILENT + 0.02)
    assert 0 < np.abs(nudged - quiet).mean() < 5


def test_default_style_moves_with_time_smoothly():
    gen = Generator(load_style(default_style_path()), 160, 90)
    a, b, c = (image(gen, t, SILENT) for t in (0.0, 1 / 60, 3.0))
    step = np.abs(b - a).mean()
    assert 0 < step < 2, "one frame of time moves the picture a little"
    assert np.abs(c - a).mean() > 10, "three seconds move it a lot"
