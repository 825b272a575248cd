"""The glsl backend (DESIGN §6) on real GL (Xvfb + Mesa llvmpipe): its read-back image against the
torch reference for every shipped style and for random architectures, style swaps, the seam to the
compositor, and real shader compile failures falling back to the cpu backend.

Tolerance: the glsl image is compared with the cpu backend's (torch fp32, the reference) in uint8
levels, per RGB channel: at most 2 levels of 255 anywhere, at most 0.05 on average. Both compute in
fp32; what differs is the order of the sums and the drivers' sin/exp/atan, which now and then moves
a value across an 8-bit rounding boundary (1 level; 2 where that also moves a palette entry).
Measured on Mesa llvmpipe over every case below: max 2, mean 0.01 at worst. A wrong weight, input
or layer gives tens of levels.
Random architectures are only compared where the reference itself is stable (torch fp32 within half
a level of fp64): a deep network with a large init gain is chaotic, and then no two fp32 sums agree.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from realparts import write_wav

from livecppn.audio.synth import synthetic_beat
from livecppn.control.params import ParamBus
from livecppn.model.cppn import ACTIVATIONS, TRANSFORMS, CPPNConfig, build, style_grid
from livecppn.model.generator import Generator
from livecppn.model.style import Style, load_style
from livecppn.media.encode import EncodeOptions
from livecppn.offline.render import RenderOptions, render_file
from livecppn.paths import presets_dir
from livecppn.render.backends import Choice
from livecppn.render.compositor import Compositor
from livecppn.render.gl import ShaderError
from livecppn.render.glsl_backend import (ACTIVATION_IDS, TRANSFORM_IDS, GlslGenerator, ShaderSink, pack_weights,
                                         packed_weights, prepare_style)
from livecppn.render.live_decks import LiveDecks
from livecppn.render.sinks import PBOSink
from livecppn.showlog import ShowLog

MAX_DIFF, MEAN_DIFF = 2, 0.05  # uint8 levels (see the module docstring)
SIZES = [(48, 27), (64, 36)]
SHIPPED = sorted(p.stem for p in (presets_dir() / "styles").glob("*.safetensors"))
GLSL = Choice("glsl", "shader")
ROOT = Path(__file__).resolve().parent.parent


def audio_states(n_audio: int):
    """(t, audio, zoom, rotation): silence at the start, a loud moment zoomed and turned, an hour in."""
    rng = np.random.default_rng(n_audio)
    return [(0.0, np.zeros(n_audio, np.float32), 1.0, 0.0),
            (40.0, rng.random(n_audio).astype(np.float32), 2.5, 30.0),
            (3600.0, rng.random(n_audio).astype(np.float32) * 0.3, 0.7, -90.0)]


def assert_matches(ctx, style: Style, size, label=""):
    glsl, ref = GlslGenerator(ctx, style, *size), Generator(style, *size)
    try:
        for t, audio, zoom, rotation in audio_states(style.config.n_audio):
            want = ref.render(t, audio, zoom, rotation).numpy().astype(int)
            glsl.render(t, audio, zoom, rotation)
            got = glsl.read().astype(int)
            diff = np.abs(want - got)[..., :3]
            assert (got[..., 3] == 255).all()
            assert diff.max() <= MAX_DIFF and diff.mean() <= MEAN_DIFF, \
                f"{label} {size} t={t}: max {diff.max()} mean {diff.mean():.3f}"
    finally:
        glsl.release()
    return want


def test_the_shader_knows_every_activation_and_transform_of_the_style_format():
    assert set(ACTIVATION_IDS) == set(ACTIVATIONS) and set(TRANSFORM_IDS) == set(TRANSFORMS)
    source = (ROOT / "shaders" / "cppn.glsl").read_text()
    for name, number in ACTIVATION_IDS.items():
        assert f"#define ACT_{name.upper()} {number}\n" in source


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_style_matches_the_torch_reference(ctx, name):
    style = load_style(presets_dir() / "styles" / f"{name}.safetensors")
    for size in SIZES:
        want = assert_matches(ctx, style, size, name)
        assert want[..., :3].std() > 10, "the test image should have structure"


def stable_reference(config: CPPNConfig, seed: int, size=SIZES[0]) -> bool:
    """Whether torch fp32 and fp64 agree within half a level for this network (not chaotic)."""
    model = build(config, seed=seed)
    coords = style_grid(*size, config)
    for t, audio, _, _ in audio_states(config.n_audio):
        with torch.no_grad():
            a = model(coords, t, torch.as_tensor(audio))
            b = model.double()(coords.double(), t, torch.as_tensor(audio, dtype=torch.float64))
        model.float()
        if (a.double() - b).abs().max() * 255 > 0.5:
            return False
    return True


EDGE_CASES = [
    # width not divisible by 4, one layer, no radius input, no audio inputs
    CPPNConfig(layers=1, width=6, activations=("relu",), use_radius=False, n_audio=0),
    # width 130 (padded to 160), a palette, polar coordinates
    CPPNConfig(layers=3, width=130, activations=("gaussian", "sin", "tanh"), transform="polar", symmetry=7,
               palette=((0.0, 0.0, 0.0), (1.0, 0.5, 0.0), (0.2, 0.3, 1.0), (1.0, 1.0, 1.0))),
    # every activation once, in an order no shipped style has, tiled coordinates
    CPPNConfig(layers=7, width=37, activations=("identity", "sigmoid", "cos", "relu", "gaussian", "sin", "tanh"),
               init_gain=2.0, transform="tile", symmetry=5, audio_scale=0.5),
    # the largest width, the most audio inputs and the highest symmetry the format allows
    CPPNConfig(layers=2, width=1024, activations=("sin", "tanh"), n_audio=64, transform="kaleido", symmetry=32),
]


def random_configs(n: int, seed: int = 9):
    rng = np.random.default_rng(seed)
    names, transforms = sorted(ACTIVATIONS), sorted(TRANSFORMS)
    for _ in range(n):
        layers = int(rng.integers(1, 9))
        palette = tuple(tuple(float(v) for v in rng.random(3)) for _ in range(int(rng.integers(2, 6))))
        yield CPPNConfig(layers=layers, width=int(rng.choice([5, 24, 64, 99, 128, 250])),
                         activations=tuple(str(a) for a in rng.choice(names, layers)), use_radius=bool(rng.random() < 0.7),
                         init_gain=5.0 if layers <= 4 else 2.0, transform=str(rng.choice(transforms)),
                         symmetry=int(rng.integers(1, 9)), palette=palette if rng.random() < 0.4 else ())


@pytest.mark.parametrize("i,config", list(enumerate([*EDGE_CASES, *random_configs(6)])))
def test_random_architectures_match_the_torch_reference(ctx, i, config):
    assert stable_reference(config, seed=i), f"test case {config} is chaotic: pick another"
    style = Style.from_model(build(config, seed=i), f"random-{i}")
    for size in SIZES:
        assert_matches(ctx, style, size, f"random-{i} {config}")


def test_the_biggest_network_the_format_allows(ctx):
    """16 layers of 1024: the most loop iterations a pixel can need (llvmpipe caps them per pixel)."""
    config = CPPNConfig(layers=16, width=1024, activations=("sin", "cos") * 7 + ("gaussian", "tanh"),
                        init_gain=1.5)
    assert stable_reference(config, seed=1, size=(12, 7))
    style = Style.from_model(build(config, seed=1), "biggest")
    assert pack_weights(style).shape == (1923, 2048, 4)
    glsl, ref = GlslGenerator(ctx, style, 12, 7), Generator(style, 12, 7)
    audio = np.linspace(0, 1, 9, dtype=np.float32)
    want = ref.render(5.0, audio).numpy().astype(int)
    glsl.render(5.0, audio)
    assert np.abs(glsl.read().astype(int) - want).max() <= MAX_DIFF
    glsl.release()


def test_style_swaps_compile_only_for_a_new_width(ctx):
    """Same width: the program is shared and the weight texture rewritten in place (nothing made);
    the swapped-in style renders as itself. A new width gets its own program."""
    a, b = (load_style(presets_dir() / "styles" / f"{n}.safetensors") for n in ("default", "tunnel"))
    glsl = GlslGenerator(ctx, a, 48, 27)
    program, weights = glsl.program, glsl._weights
    glsl.set_style(b)
    assert glsl.program is program and glsl._weights is weights
    glsl.render(1.0, np.full(9, 0.5, np.float32))
    want = Generator(b, 48, 27).render(1.0, np.full(9, 0.5, np.float32)).numpy().astype(int)
    assert np.abs(glsl.read().astype(int) - want).max() <= MAX_DIFF
    glsl.set_style(Style.from_model(build(CPPNConfig(width=200), seed=2), "wide"))
    wide = glsl.program
    assert wide is not program
    glsl.set_style(Style.from_model(build(CPPNConfig(width=193, layers=2, activations=("cos", "sin")), seed=3), "w"))
    assert glsl.program is wide  # 193 and 200 both pad to 224 units
    glsl.release()


def test_a_style_prepared_on_the_loader_thread_swaps_in_as_the_same_picture(ctx):
    """LiveDecks.prepare (the style loader's thread) packs the weights and makes the palette table
    ahead; set_style then uses them, and the deck draws exactly what an unprepared swap draws."""
    a, b = (load_style(presets_dir() / "styles" / f"{n}.safetensors") for n in ("default", "neon"))
    plain, ahead = GlslGenerator(ctx, a, 48, 27), GlslGenerator(ctx, a, 48, 27)
    plain.set_style(b, b.build_model())
    plain.render(1.0, np.full(9, 0.5, np.float32))
    want = plain.read().copy()
    prepared = load_style(b.path)
    model = prepared.build_model()
    prepare_style(prepared, model)
    assert packed_weights(prepared) is packed_weights(prepared)  # made once
    ahead.set_style(prepared, model)
    ahead.render(1.0, np.full(9, 0.5, np.float32))
    assert np.array_equal(ahead.read(), want)
    plain.release()
    ahead.release()


def test_the_compositor_shows_a_glsl_deck_as_it_shows_the_pbo_upload(ctx):
    """The seam: the shader writes the texture with row 0 at the top, as the PBO upload does, so the
    transition shader shows both the same way up; resizing follows through the sink."""
    style = load_style(presets_dir() / "styles" / "glitch.safetensors")
    glsl = GlslGenerator(ctx, style, 64, 36)
    sink, gen, pbo = ShaderSink(glsl), Generator(style, 64, 36), PBOSink(ctx, 64, 36)
    comp, params = Compositor(ctx, 64, 36), ParamBus().snapshot()
    sink.upload(glsl.render(2.0, np.zeros(9, np.float32)))
    comp.draw(sink.texture, None, params)
    shown_glsl = comp.read().astype(int)
    pbo.upload(gen.render(2.0, np.zeros(9, np.float32)).clone())
    comp.draw(pbo.texture, None, params)
    shown_pbo = comp.read().astype(int)
    assert np.abs(shown_glsl - shown_pbo).max() <= MAX_DIFF + 1  # + the display pass's own rounding
    assert np.abs(shown_glsl - shown_glsl[::-1]).mean() > 5, "the picture is not symmetric top to bottom"
    glsl.resize(32, 18)
    assert sink.texture.size == (32, 18)
    pbo.release()
    sink.release()


def broken_shaders(tmp_path: Path, condition: str) -> Path:
    """A copy of shaders/ whose cppn.glsl fails to compile where `condition` (a preprocessor
    expression over its #defines) holds: a genuine compile error from the driver (LIVECPPN_SHADERS)."""
    folder = tmp_path / "shaders"
    folder.mkdir()
    for path in (ROOT / "shaders").glob("*.glsl"):
        (folder / path.name).write_text(path.read_text())
    source = (folder / "cppn.glsl").read_text()
    (folder / "cppn.glsl").write_text(source.replace(
        "#elif defined FRAGMENT_SHADER\n",
        f"#elif defined FRAGMENT_SHADER\n#if {condition}\n#error deliberately broken for this width\n#endif\n"))
    return folder


def test_a_compile_error_names_the_style_and_carries_the_drivers_message(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECPPN_SHADERS", str(broken_shaders(tmp_path, "P4 == 40")))
    good = load_style(presets_dir() / "styles" / "default.safetensors")
    bad = Style.from_model(build(CPPNConfig(width=130), seed=1), "too-wide-for-this-driver")
    glsl = GlslGenerator(ctx, good, 32, 18)  # width 128 compiles
    with pytest.raises(ShaderError) as e:
        glsl.set_style(bad)
    message = str(e.value)
    assert "too-wide-for-this-driver" in message and "llvmpipe" in message
    assert "deliberately broken for this width" in message  # the driver's own words
    assert glsl.style is good  # the deck keeps playing what it had
    glsl.release()


def test_a_deck_load_that_does_not_compile_moves_the_show_to_cpu(ctx, tmp_path, monkeypatch):
    """Mid-show: deck B loads a style whose shader the driver refuses; the error is logged once with
    the style's name, both decks go on on the cpu backend, and the loaded style plays."""
    monkeypatch.setenv("LIVECPPN_SHADERS", str(broken_shaders(tmp_path, "P4 == 40")))
    styles = tuple(load_style(presets_dir() / "styles" / f"{n}.safetensors") for n in ("default", "ice"))
    showlog = ShowLog()
    live = LiveDecks(ctx, GLSL, styles, (64, 36), showlog, internal=(48, 27))
    decks = live.decks
    assert decks.backend.name == "glsl" and not showlog
    assert decks.render(1.0, np.zeros(9, np.float32), ParamBus().snapshot())[0] is not None
    bad = Style.from_model(build(CPPNConfig(width=130), seed=1), "refused")
    decks.set_style("b", bad, bad.build_model())  # a load swapping in (show/decks.py: apply_loads)
    assert decks.backend.name == "cpu" and {d.name for d in decks.decks.values()} == {"cpu"}
    assert decks.styles() == {"a": "default", "b": "refused"}
    assert len(showlog.messages) == 1
    assert "refused" in showlog.messages[0] and "deliberately broken" in showlog.messages[0]
    assert "cpu backend" in showlog.messages[0]
    tex_a, tex_b = decks.render(1.0, np.zeros(9, np.float32), ParamBus().snapshot())
    assert tex_a.size == (48, 27)
    want = Generator(styles[0], 48, 27).render(1.0, np.zeros(9, np.float32)).numpy()
    assert np.array_equal(np.frombuffer(tex_a.read(), np.uint8).reshape(27, 48, 4), want)


def run_live(tmp_path, *args, env=None):
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "8", "--audio",
                           "synthetic", "--no-osc", "--size", "160x90", "--internal", "48x27", "--report",
                           str(report), *args], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(report.read_text()), proc.stderr


def test_a_headless_show_on_the_glsl_backend(tmp_path):
    report, stderr = run_live(tmp_path, "--backend", "glsl")
    assert (report["backend"], report["sink"], report["dtype"]) == ("glsl", "shader", "float32")
    assert report["device"].startswith("gl (") and report["gl_errors"] == {}
    assert "software GL driver" in stderr  # forced onto llvmpipe: said once


def test_a_show_whose_shader_does_not_compile_plays_on_cpu(tmp_path):
    env = {**os.environ, "LIVECPPN_SHADERS": str(broken_shaders(tmp_path, "1"))}
    report, stderr = run_live(tmp_path, "--backend", "glsl", env=env)
    assert report["backend"] == "cpu" and report["frames"] == 8
    errors = [w for w in report["warnings"] if "does not compile" in w]
    assert len(errors) == 1 and "'default'" in errors[0] and "deliberately broken" in errors[0]
    assert stderr.count("does not compile") == 1


def test_an_offline_render_on_glsl_gives_the_cpu_renders_frames(ctx, tmp_path):
    """`livecppn render --backend glsl`: the same frames as --backend cpu, within the tolerance (through
    the analyser, the autopilot's deck loads and the compositor, as a render goes)."""
    track = write_wav(tmp_path / "beat.wav", synthetic_beat(1.0, 48000), 48000)
    frames = {}
    for backend in ("cpu", "glsl"):
        render_file(RenderOptions(track, tmp_path / backend, size=(48, 27), fps=8, backend=backend, progress=False,
                                  encode=EncodeOptions(codec="png")), ctx=ctx)
        frames[backend] = [np.asarray(Image.open(p).convert("RGB")).astype(int)
                           for p in sorted((tmp_path / backend).glob("*.png"))]
    assert len(frames["glsl"]) == len(frames["cpu"]) == 8
    for a, b in zip(frames["cpu"], frames["glsl"]):
        assert np.abs(a - b).max() <= MAX_DIFF + 1  # + the compositor pass's own rounding
