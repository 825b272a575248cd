"""The CPPN against a plain reference forward pass, and the split first layer."""

import math

import numpy as np
import pytest
import torch

from livecppn.model.cppn import ACTIVATIONS, CPPN, CPPNConfig, build, coordinate_grid
from livecppn.model.generator import Generator
from livecppn.model.style import Style


def reference_forward(state: dict, config: CPPNConfig, x, y, t, audio):
    """Written out by hand from DESIGN §4, one pixel at a time, in float64."""
    inputs = [x, y] + ([math.hypot(x, y)] if config.use_radius else []) + [t]
    inputs += [a * config.audio_scale for a in audio]
    h = np.array(inputs, dtype=np.float64)
    act = {"sin": np.sin, "cos": np.cos, "tanh": np.tanh, "gaussian": lambda v: np.exp(-v * v)}
    for i, name in enumerate(config.activations):
        w = state[f"hidden.{i}.weight"].double().numpy()
        b = state[f"hidden.{i}.bias"].double().numpy()
        h = act[name](w @ h + b)
    out = state["out.weight"].double().numpy() @ h + state["out.bias"].double().numpy()
    return 1 / (1 + np.exp(-out))


@pytest.mark.parametrize("config", [
    CPPNConfig(),
    CPPNConfig(layers=2, width=16, activations=("tanh", "sin"), use_radius=False, audio_scale=0.1),
    CPPNConfig(layers=3, width=33, activations=("gaussian", "cos", "sin"), audio_scale=2.0),
])
def test_matches_reference_forward(config):
    torch.manual_seed(0)
    model = build(config, seed=3).double()
    w, h = 7, 5
    coords = coordinate_grid(w, h, config.use_radius).double()
    audio = torch.rand(config.n_audio, dtype=torch.float64)
    t = 1.7
    got = model(coords, t, audio).detach().numpy()
    state = model.state_dict()
    for i in range(w * h):
        x, y = coords[i, 0].item(), coords[i, 1].item()
        want = reference_forward(state, config, x, y, t, audio.tolist())
        # the grid computes the radius in float32, the reference in float64
        np.testing.assert_allclose(got[i], want, rtol=1e-6, atol=1e-6)


def test_coordinates_are_aspect_correct_and_span_pi():
    g = coordinate_grid(320, 180)
    x, y, r = g[:, 0], g[:, 1], g[:, 2]
    # the short side spans [-pi, pi] (pixel centres sit half a pixel inside)
    assert y.min().item() == pytest.approx(-math.pi + math.pi / 180, abs=1e-5)
    assert y.max().item() == pytest.approx(math.pi - math.pi / 180, abs=1e-5)
    # the long side keeps the same scale: 320/180 times wider
    assert x.max().item() == pytest.approx(159.5 * 2 * math.pi / 180, rel=1e-5)
    assert x.min().item() == pytest.approx(-x.max().item(), rel=1e-5)
    torch.testing.assert_close(r, torch.sqrt(x * x + y * y))
    # row 0 is the top: y grows down the rows
    assert g[0, 1] < g[-1, 1]


def test_split_first_layer_equals_unsplit():
    model = build(CPPNConfig(), seed=5).double()  # float64: the algebra must agree exactly
    coords = coordinate_grid(64, 36).double()
    audio = torch.rand(9, dtype=torch.float64)
    whole = model(coords, 2.5, audio)
    split = model.forward_split(model.pixel_part(coords), model.frame_bias(2.5, audio))
    torch.testing.assert_close(split, whole, rtol=1e-10, atol=1e-10)


def test_generator_image_equals_reference_pass():
    model = build(CPPNConfig(), seed=9)
    gen = Generator(Style.from_model(model, "t"), 48, 27)
    audio = np.linspace(0, 1, 9, dtype=np.float32)
    rgba = gen.render(0.75, audio)
    assert rgba.shape == (27, 48, 4) and rgba.dtype == torch.uint8
    assert (rgba[..., 3] == 255).all()
    ref = (gen.render_float(0.75, audio) * 255).round()
    assert (rgba[..., :3].float() - ref).abs().max().item() <= 1.0


def test_xavier_gain_init_scale():
    config = CPPNConfig(width=256)
    model = build(config, seed=1)
    w = model.hidden[1].weight
    expected = config.init_gain * math.sqrt(2.0 / (256 + 256))
    assert w.std().item() == pytest.approx(expected, rel=0.05)
    assert (model.hidden[1].bias == 0).all()
    # the same seed gives the same weights
    torch.testing.assert_close(build(config, seed=1).hidden[1].weight, w)


def test_parameter_count_matches_the_seed_winner():
    # 4 x 128 with x, y, r, t and 9 audio features: ~51.7k parameters (the seed reported 51.6k without r)
    assert build(CPPNConfig()).parameter_count() == 13 * 128 + 128 + 3 * (128 * 128 + 128) + 128 * 3 + 3


@pytest.mark.parametrize("bad, message", [
    (dict(layers=2, activations=("sin",)), "one activation per hidden layer"),
    (dict(layers=1, activations=("wobble",)), "unknown activation"),
    (dict(width=0, layers=1, activations=("sin",)), "width"),
])
def test_bad_config_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        CPPNConfig(**bad)


def test_all_activations_run():
    for name in ACTIVATIONS:
        model = CPPN(CPPNConfig(layers=1, width=8, activations=(name,)))
        out = model(coordinate_grid(4, 4), 0.0, torch.zeros(9))
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("zoom, rotation", [(1.0, 0.0), (2.0, 0.0), (0.5, 30.0), (1.3, -120.0)])
def test_zoom_and_rotation_match_transformed_coordinates(zoom, rotation):
    gen = Generator(Style.from_model(build(CPPNConfig(), seed=9), "t"), 48, 27)
    audio = np.linspace(0, 1, 9, dtype=np.float32)
    rgba = gen.render(0.5, audio, zoom=zoom, rotation=rotation)
    ref = (gen.render_float(0.5, audio, zoom=zoom, rotation=rotation) * 255).round()
    assert (rgba[..., :3].float() - ref).abs().max().item() <= 1.0
    if (zoom, rotation) != (1.0, 0.0):  # and it really changes the picture
        plain = gen.render(0.5, audio)[..., :3].float()
        assert (plain - ref).abs().mean() > 5


def test_rotation_by_180_degrees_turns_the_picture_around():
    gen = Generator(Style.from_model(build(CPPNConfig(), seed=2), "t"), 40, 20)
    audio = np.zeros(9, np.float32)
    plain = gen.render(0.0, audio)[..., :3].clone()
    turned = gen.render(0.0, audio, rotation=180.0)[..., :3]
    assert (turned.int() - plain.flip(0, 1).int()).abs().max() <= 1


@pytest.mark.parametrize("second", [CPPNConfig(layers=3, activations=("sin", "cos", "tanh")), CPPNConfig(width=64, use_radius=False)])
def test_swapping_a_style_renders_as_a_fresh_generator_would(second):
    # same shape (buffers reused, no allocation) and a different shape (buffers rebuilt)
    audio = np.linspace(0, 1, 9, dtype=np.float32)
    gen = Generator(Style.from_model(build(CPPNConfig(), seed=1), "a"), 48, 27)
    gen.render(0.5, audio, zoom=2.0, rotation=30.0)
    new = Style.from_model(build(second, seed=2), "b")
    gen.set_style(new)
    fresh = Generator(new, 48, 27)
    assert torch.equal(gen.render(0.5, audio, zoom=2.0, rotation=30.0),
                       fresh.render(0.5, audio, zoom=2.0, rotation=30.0))
