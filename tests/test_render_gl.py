"""The GL path on real GL (Xvfb + Mesa): what the display shows equals the torch output."""

import numpy as np
import pytest

from livecppn.control.params import ParamBus
from livecppn.model.cppn import CPPNConfig, build
from livecppn.model.default_style import make_default_style
from livecppn.model.generator import Generator
from livecppn.model.style import Style
from livecppn.render.compositor import Compositor
from livecppn.render.gl import ShaderError, load_program
from livecppn.render.hud import Hud
from livecppn.render.sinks import PBOSink

# Tolerance: the generator rounds to uint8 and the display shader samples an
# 8-bit texture at texel centres and writes an 8-bit framebuffer, so the only
# differences come from float rounding in the shader: at most 1 level of 255.
TOLERANCE = 1


def render_through_gl(ctx, gen, t, audio, out_size, params=None):
    sink = PBOSink(ctx, gen.width, gen.height)
    comp = Compositor(ctx, *out_size)
    params = params or ParamBus().snapshot()
    image = gen.render(t, audio).clone()
    sink.upload(image)
    comp.draw(sink.texture, None, params)
    out = comp.read()
    sink.release()
    return image[..., :3].numpy(), out


@pytest.mark.parametrize("size", [(96, 54), (160, 90), (37, 23)])
def test_readback_matches_torch_output(ctx, size):
    gen = Generator(make_default_style(), *size)
    audio = np.array([0.9, 0.3, 0.2, 0.5, 0.4, 0.6, 0.0, 1.0, 0.7], np.float32)
    want, got = render_through_gl(ctx, gen, 1.25, audio, size)
    diff = np.abs(want.astype(int) - got.astype(int))
    assert diff.max() <= TOLERANCE, f"max diff {diff.max()} at {np.unravel_index(diff.argmax(), diff.shape)}"
    assert want.std() > 10, "the test image should have structure"


def test_two_frames_in_a_row_use_both_pbos(ctx):
    gen = Generator(Style.from_model(build(CPPNConfig(), seed=4), "s"), 64, 36)
    sink = PBOSink(ctx, 64, 36)
    comp = Compositor(ctx, 64, 36)
    params = ParamBus().snapshot()
    for t in (0.0, 5.0, 10.0):
        image = gen.render(t, np.zeros(9, np.float32)).clone()
        sink.upload(image)
        comp.draw(sink.texture, None, params)
        got = comp.read()
        assert np.abs(got.astype(int) - image[..., :3].numpy().astype(int)).max() <= TOLERANCE


def test_upscaled_display_is_smooth_and_fills_the_output(ctx):
    gen = Generator(make_default_style(), 80, 45)
    small, big = render_through_gl(ctx, gen, 0.5, np.zeros(9, np.float32), (320, 180))
    assert big.shape == (180, 320, 3)
    # the corners of the upscaled picture show the corners of the internal image
    assert np.abs(big[0, 0].astype(int) - small[0, 0].astype(int)).max() <= 2
    assert np.abs(big[-1, -1].astype(int) - small[-1, -1].astype(int)).max() <= 2
    # mean colour is preserved by bilinear upscaling (within a few levels)
    assert np.abs(big.mean((0, 1)) - small.mean((0, 1))).max() < 4


def test_brightness_and_blackout_params(ctx):
    gen = Generator(make_default_style(), 64, 36)
    bus = ParamBus()
    bus.set("brightness", 0.5)
    params = bus.step(10.0)  # long dt: slewed all the way
    want, got = render_through_gl(ctx, gen, 0.0, np.zeros(9, np.float32), (64, 36), params)
    assert np.abs(got.astype(int) - (want.astype(float) * 0.5).round().astype(int)).max() <= 1
    bus.set("blackout", 1.0)
    _, black = render_through_gl(ctx, gen, 0.0, np.zeros(9, np.float32), (64, 36), bus.step(10.0))
    assert black.max() == 0


def test_hud_draws_over_the_screen(ctx, gl_window):
    hud = Hud(ctx)
    hud.update_text(["60.0 fps", "backend cpu"], force=True)
    fbo = ctx.framebuffer(color_attachments=[ctx.texture((640, 360), 4)])
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    hud.draw(fbo, (640, 360), np.linspace(0, 1, 9).astype(np.float32))
    pixels = np.frombuffer(fbo.read(components=3), np.uint8).reshape(360, 640, 3)[::-1]
    panel = pixels[12:146, 12:372]
    assert panel.max() > 200, "text should be drawn"
    meters = pixels[146:202, 12:372]
    assert meters[..., 1].max() > 150, "lit meter bars should be drawn"
    assert pixels[300:, 400:].max() == 0, "nothing outside the HUD"


def test_shader_errors_name_the_file(ctx, tmp_path, monkeypatch):
    (tmp_path / "broken.glsl").write_text("#if defined VERTEX_SHADER\nvoid main() { oops; }\n#else\nvoid main(){}\n#endif\n")
    monkeypatch.setenv("LIVECPPN_SHADERS", str(tmp_path))
    with pytest.raises(ShaderError, match="broken.glsl"):
        load_program(ctx, "broken")
    with pytest.raises(ShaderError, match="missing.glsl"):
        load_program(ctx, "missing")


def test_present_fills_the_window_after_a_resize(ctx, gl_window):
    import glfw

    gen = Generator(make_default_style(), 64, 36)
    small, picture = render_through_gl(ctx, gen, 0.0, np.zeros(9, np.float32), (64, 36))
    comp = Compositor(ctx, 64, 36)
    sink = PBOSink(ctx, 64, 36)
    sink.upload(gen.render(0.0, np.zeros(9, np.float32)).clone())
    comp.draw(sink.texture, None, ParamBus().snapshot())
    glfw.set_window_size(gl_window.handle, 400, 250)
    for _ in range(20):  # the X server applies the resize asynchronously
        gl_window.poll()
        if gl_window.framebuffer_size == (400, 250):
            break
    size = gl_window.framebuffer_size
    assert size == (400, 250)
    gl_window.swap()  # Mesa resizes the window's drawable at the next swap
    comp.present(ctx.screen, size)
    shown = np.frombuffer(ctx.screen.read(viewport=(0, 0, *size), components=3), np.uint8)
    shown = shown.reshape(size[1], size[0], 3)[::-1]
    # the whole window shows the picture, corner to corner
    assert np.abs(shown[0, 0].astype(int) - picture[0, 0].astype(int)).max() <= 3
    assert np.abs(shown[-1, -1].astype(int) - picture[-1, -1].astype(int)).max() <= 3
    assert np.abs(shown.mean((0, 1)) - picture.mean((0, 1))).max() < 4
    glfw.set_window_size(gl_window.handle, 320, 180)
    gl_window.poll()
