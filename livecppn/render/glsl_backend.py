"""The glsl backend (DESIGN §6): the CPPN in a fragment shader, for GPUs without CUDA.

Any GPU with OpenGL 3.3 core (macOS's 4.1 included; no compute shaders, no
storage buffers) runs every style the format allows. `shaders/cppn.glsl` is
compiled once per width (in groups of 32 units); everything else a style holds
is data: its weights in one RGBA32F texture, its depth, activations, transform
and palette switch as uniforms, its palette as a 1024-entry texture. Every
pixel of the deck's RGBA8 texture runs the whole network in fp32.

Per frame the host does what is cheap and must match the torch path exactly:
the first layer's per-frame term (time and audio times their weights, `width`
floats, fp32 as Generator computes it) goes up as a uniform block; the view
(zoom, rotation) as a uniform.

`GlslGenerator` answers the Generator's calls (resize, set_style, render,
style, model, device, dtype), but `render()` draws into its own texture and
returns that texture, and its `ShaderSink` only hands the texture to the
compositor: the decks' loop (`sink.upload(generator.render(...))`, then
`sink.texture`) is the same for every backend.

Programs are cached per GL context and shared by both decks: a style swap to
a known width re-uploads the weight texture (same architecture, same size:
nothing is allocated) and compiles nothing. A program that does not compile
raises ShaderError naming the style, the GL renderer and the driver's message,
and the generator keeps its current style. Render thread only.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass

import moderngl
import numpy as np
import torch

from ..model.cppn import CPPN, CPPNConfig
from ..model.generator import PALETTE_LUT, cached_palette_lut
from ..model.style import Style
from ..paths import shaders_dir
from .gl import ShaderError, load_program

# The shader's numbering (ACT_* in shaders/cppn.glsl and its `transform` uniform).
ACTIVATION_IDS = {"sin": 0, "cos": 1, "tanh": 2, "gaussian": 3, "sigmoid": 4, "relu": 5, "identity": 6}
TRANSFORM_IDS = {"none": 0, "mirror": 1, "kaleido": 2, "polar": 3, "tile": 4}
MAX_LAYERS = 16  # the shader's `activations` array; CPPNConfig allows 1..16
TEX_SHIFT = 11  # the weight texture is 2048 texels wide: the biggest style (16 x 1024) needs 1923 rows
FRAME_BINDING = 0  # uniform block binding of the first layer's per-frame term


@dataclass(frozen=True)
class GLDevice:
    """Where the glsl backend computes: the GL driver (reports show `gl (RENDERER)`)."""

    renderer: str
    type: str = "gl"

    def __str__(self) -> str:
        return f"gl ({self.renderer})"


def groups(width: int) -> int:
    """Units in groups of 4 (vec4), the width rounded up to a multiple of 32 (the shader's loops take
    8 groups at a time); the padding has zero weights."""
    return -(-width // 32) * 8


def pack_weights(style: Style) -> np.ndarray:
    """The style's tensors in the shader's layout (see shaders/cppn.glsl): (rows, 2048, 4) float32."""
    config, state = style.config, style.state
    p4, k = groups(config.width), config.n_pixel_inputs
    n = 4 * p4  # padded width

    def padded(name: str, rows: int, cols: int) -> np.ndarray:
        """The tensor as (rows, cols), zero-padded (or its first `cols` columns)."""
        a = state[name].detach().to("cpu", torch.float32).numpy()
        a = a.reshape(a.shape[0], -1)[:, :cols]
        out = np.zeros((rows, cols), np.float32)
        out[:a.shape[0], :a.shape[1]] = a
        return out

    def layer(prefix: str, units: int) -> np.ndarray:
        """Per group of 4 units: the bias, then for each group of 4 inputs the 4 units' rows (a mat4)."""
        g = units // 4
        rows = padded(f"{prefix}.weight", units, n).reshape(g, 4, p4, 4).transpose(0, 2, 1, 3)
        bias = padded(f"{prefix}.bias", units, 1).reshape(g, 1, 4)
        return np.concatenate([bias, rows.reshape(g, 4 * p4, 4)], axis=1).reshape(-1, 4)

    first = np.zeros((4, n), np.float32)  # per unit: x, y, r weights and the bias
    first[:k] = padded("hidden.0.weight", n, k).T
    first[3] = padded("hidden.0.bias", n, 1)[:, 0]
    parts = [first.reshape(4, p4, 4).transpose(1, 0, 2).reshape(-1, 4)]
    parts += [layer(f"hidden.{i}", n) for i in range(1, config.layers)]
    parts.append(layer("out", 4))  # r, g, b and a zero unit
    texels = np.concatenate(parts)
    width = 1 << TEX_SHIFT
    out = np.zeros((-(-len(texels) // width) * width, 4), np.float32)
    out[:len(texels)] = texels
    return out.reshape(-1, width, 4)


# Packed weights per style, made once (on the style loader's thread when it prepares a load, see
# prepare_style): id(style) → (weak reference to the style, texels). Read-only once made.
_packed: dict[int, tuple[weakref.ref, np.ndarray]] = {}
_packed_lock = threading.Lock()


def packed_weights(style: Style) -> np.ndarray:
    """pack_weights(style), made once per style object (any thread); callers only read it."""
    with _packed_lock:
        hit = _packed.get(id(style))
    if hit is not None and hit[0]() is style:
        return hit[1]
    texels = pack_weights(style)
    with _packed_lock:
        for key in [k for k, (ref, _) in _packed.items() if ref() is None]:  # styles gone since
            del _packed[key]
        _packed[id(style)] = (weakref.ref(style), texels)
    return texels


def prepare_style(style: Style, model: CPPN) -> None:
    """Make ahead what set_style would make for a style: its packed weights and palette table.
    Any thread (the style loader's); costs nothing when already done."""
    packed_weights(style)
    if style.config.palette:
        cached_palette_lut(model)


def describe(config: CPPNConfig) -> str:
    return f"{config.layers} x {config.width}, {','.join(config.activations)}"


# Compiled programs per GL context, shared by both decks: key → (program, vao), or the ShaderError it gave.
_programs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def network_program(ctx: moderngl.Context, style: Style) -> tuple[moderngl.Program, moderngl.VertexArray]:
    """The program for the style's width, compiled on first use. Raises ShaderError naming the style,
    its architecture and the GL renderer, with the driver's message (a width that failed is not
    compiled again)."""
    cache = _programs.setdefault(ctx, {})
    defines = {"P4": str(groups(style.config.width)), "TEX_SHIFT": str(TEX_SHIFT)}
    key = (str(shaders_dir()), tuple(defines.items()))  # LIVECPPN_SHADERS may point elsewhere (tests do)
    if key not in cache:
        try:
            program = load_program(ctx, "cppn", defines)
            program["Frame"].binding = FRAME_BINDING
            cache[key] = (program, ctx.vertex_array(program, []))
        except ShaderError as e:
            cache[key] = e
    hit = cache[key]
    if isinstance(hit, ShaderError):
        raise ShaderError(f"glsl backend: style {style.name!r} ({describe(style.config)}) does not compile on "
                          f"{ctx.info.get('GL_RENDERER', '?')}: {hit}")
    return hit


class GlslGenerator:
    """Renders a style at a fixed internal resolution into `texture` (RGBA8, row 0 at the top)."""

    def __init__(self, ctx: moderngl.Context, style: Style, width: int, height: int, model: CPPN | None = None):
        self.ctx = ctx
        self.device = GLDevice(ctx.info.get("GL_RENDERER", "?"))
        self.dtype = torch.float32  # every layer in fp32
        self.texture: moderngl.Texture | None = None
        self.fbo: moderngl.Framebuffer | None = None
        self._weights: moderngl.Texture | None = None
        self._frame: moderngl.Buffer | None = None
        self._lut: moderngl.Texture | None = None
        self.width = self.height = 0
        self.set_style(style, model)  # first: a ShaderError leaves nothing made
        self._lut = ctx.texture((PALETTE_LUT, 1), 4)
        self._lut.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._write_lut()
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if (width, height) == (self.width, self.height):
            return
        old = (self.fbo, self.texture)
        self.width, self.height = width, height
        self.texture = self.ctx.texture((width, height), 4)
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)  # upscaled by the compositor
        self.texture.repeat_x = self.texture.repeat_y = False
        self.fbo = self.ctx.framebuffer(color_attachments=[self.texture])
        self._release_target(*old)

    def set_style(self, style: Style, model: CPPN | None = None) -> None:
        """Swap the network between frames (`model` may be prebuilt off the render thread). A new width
        compiles its program once; a ShaderError leaves the current style playing."""
        program, vao = network_program(self.ctx, style)
        texels = packed_weights(style)
        limit = int(self.ctx.info.get("GL_MAX_TEXTURE_SIZE", 16384))
        if texels.shape[0] > limit:
            raise ShaderError(f"glsl backend: style {style.name!r} ({describe(style.config)}) needs a "
                              f"{texels.shape[1]}x{texels.shape[0]} weight texture; this GL allows {limit}")
        self.style, self.program, self.vao = style, program, vao
        self.model = model or style.build_model()
        config = style.config
        size = (texels.shape[1], texels.shape[0])
        if self._weights is None or self._weights.size != size:
            if self._weights is not None:
                self._weights.release()
            self._weights = self.ctx.texture(size, 4, dtype="f4")
            self._weights.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._weights.write(texels)
        self._write_lut()
        # The first layer's per-frame part is computed on the host as in Generator._frame_inputs (fp32).
        k = config.n_pixel_inputs
        self._frame_w = style.state["hidden.0.weight"][:, k:].float().contiguous()  # (width, 1 + n_audio)
        self._inputs = torch.zeros(1 + config.n_audio, dtype=torch.float32)
        self._bias = torch.zeros(4 * groups(config.width), dtype=torch.float32)  # padded units stay 0
        if self._frame is None or self._frame.size != self._bias.numel() * 4:
            if self._frame is not None:
                self._frame.release()
            self._frame = self.ctx.buffer(reserve=self._bias.numel() * 4, dynamic=True)
        self._uniforms = {"transform": TRANSFORM_IDS[config.transform], "symmetry": float(config.symmetry),
                          "palette": bool(config.palette), "layers": config.layers,
                          "activations": [ACTIVATION_IDS[a] for a in config.activations]
                          + [0] * (MAX_LAYERS - config.layers)}

    def _write_lut(self) -> None:
        if self._lut is not None and self.style.config.palette:  # the same uint8 table the torch path uses
            rgb = cached_palette_lut(self.model).numpy()
            self._lut.write(np.concatenate([rgb, np.full((PALETTE_LUT, 1), 255, np.uint8)], axis=1))

    def render(self, t: float, audio, zoom: float = 1.0, rotation: float = 0.0) -> moderngl.Texture:
        """Draw the frame into `texture` (queued on the GL context, nothing read back) and return it.
        zoom > 1 shows more of the coordinate field; rotation is in degrees."""
        config = self.style.config
        self._inputs[0] = float(t)
        self._inputs[1:] = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
        self._inputs[1:].mul_(config.audio_scale)
        torch.mv(self._frame_w, self._inputs, out=self._bias[:config.width])
        self._frame.write(self._bias.numpy())

        p = self.program  # shared by both decks: every uniform is set every time
        for name, value in self._uniforms.items():
            p[name].value = value
        a = math.radians(rotation)
        p["view"].value = (math.cos(a) * zoom, math.sin(a) * zoom, float(zoom))
        p["half_size"].value = (self.width / 2, self.height / 2)
        p["scale"].value = 2 * math.pi / min(self.width, self.height)
        p["weights"].value = 0
        p["lut"].value = 1
        self._weights.use(location=0)
        self._lut.use(location=1)
        self._frame.bind_to_uniform_block(FRAME_BINDING)
        self.fbo.use()
        self.ctx.disable(moderngl.BLEND)
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        return self.texture

    def read(self) -> np.ndarray:
        """The last frame as RGBA uint8 (H, W, 4), row 0 at the top. Waits for the GPU: tests and tools only."""
        return np.frombuffer(self.texture.read(), np.uint8).reshape(self.height, self.width, 4)

    def finish(self) -> None:
        """Wait until the GPU has drawn what was queued (for timing)."""
        self.ctx.finish()

    def _release_target(self, fbo: moderngl.Framebuffer | None, texture: moderngl.Texture | None) -> None:
        if fbo is None:
            return
        if self.ctx.fbo is fbo:  # moderngl rebinds its bound framebuffer after making one: not a deleted one
            if self.fbo is not None and self.fbo is not fbo:
                self.fbo.use()
            elif self.ctx.screen is not None:
                self.ctx.screen.use()
        fbo.release()
        texture.release()

    def release(self) -> None:
        """Free this deck's GL objects; the programs stay cached with the context."""
        old, self.fbo, self.texture = (self.fbo, self.texture), None, None
        self._release_target(*old)
        for obj in (self._weights, self._lut, self._frame):
            if obj is not None:
                obj.release()
        self._weights = self._lut = self._frame = None


class ShaderSink:
    """The glsl backend's texture sink: the shader already wrote the generator's texture, so there
    is nothing to upload; `texture` is the generator's (it follows the generator's resize)."""

    name = "shader"

    def __init__(self, generator: GlslGenerator):
        self.generator = generator

    @property
    def texture(self) -> moderngl.Texture:
        return self.generator.texture

    def resize(self, width: int, height: int) -> None:
        pass  # Decks.resize resizes the generator, which owns the texture

    def upload(self, frame) -> None:
        if frame is not self.generator.texture:
            raise ValueError("ShaderSink.upload takes the texture its GlslGenerator.render() returned")

    def release(self) -> None:
        self.generator.release()
