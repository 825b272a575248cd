"""The glsl backend (DESIGN §6): the CPPN in a fragment shader, for GPUs without CUDA.

Any GPU with OpenGL 3.3 core (macOS's 4.1 included; no compute shaders, no
storage buffers) runs every style: `shaders/cppn.glsl` is compiled per
architecture (its width in groups of 4 and its activations, as #defines), the
style's weights sit in one RGBA32F texture, and every pixel of the deck's RGBA8
texture runs the whole network. The first layer's per-frame term (time and
audio times their weights, a vector of `width` floats) is computed on the host
in fp32 exactly as the torch path does, and reaches the shader as a uniform
block; the view, transform and palette switch are plain uniforms.

`GlslGenerator` has the Generator's calls (resize, set_style, render, style,
model, device, dtype), but `render()` draws into its own texture and returns
that texture; its `ShaderSink` only hands the texture to the compositor, so the
decks' loop (`sink.upload(generator.render(...))`, then `sink.texture`) is the
same for all backends.

Programs are cached per GL context and architecture, shared by both decks: a
style swap to a known architecture re-uploads the weight texture (the same
size for the same architecture: nothing is allocated) and compiles nothing. A
shader that does not compile raises ShaderError naming the style and carrying
the driver's message; the generator keeps its current style. Render thread only.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import moderngl
import numpy as np
import torch

from ..model.cppn import CPPN, CPPNConfig
from ..model.generator import PALETTE_LUT, palette_lut
from ..model.style import Style
from ..paths import shaders_dir
from .gl import ShaderError, load_program

# The shader's numbering (shaders/cppn.glsl); every activation and transform of the style format has one.
ACTIVATION_IDS = {"sin": "ACT_SIN", "cos": "ACT_COS", "tanh": "ACT_TANH", "gaussian": "ACT_GAUSSIAN",
                  "sigmoid": "ACT_SIGMOID", "relu": "ACT_RELU", "identity": "ACT_IDENTITY"}
TRANSFORM_IDS = {"none": 0, "mirror": 1, "kaleido": 2, "polar": 3, "tile": 4}
TEX_SHIFT = 11  # the weight texture is 2048 texels wide: the biggest style (16 x 1024) needs 1923 rows
FRAME_BINDING = 0  # uniform block binding of the per-frame first-layer term


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


def program_defines(config: CPPNConfig) -> dict[str, str]:
    """What makes one architecture's program: width groups, depth and the activation of each layer."""
    p4 = groups(config.width)
    acts = [ACTIVATION_IDS[a] for a in config.activations]
    calls, src = [], 0
    for layer, act in enumerate(acts[1:], start=1):  # ping-pong between the two halves of h
        calls.append(f"hidden({layer}, {src}, {p4 - src}, {act});")
        src = p4 - src
    return {"P4": str(p4), "LAYERS": str(config.layers), "TEX_SHIFT": str(TEX_SHIFT), "FIRST_ACT": acts[0],
            "HIDDEN_LAYERS": " ".join(calls), "LAST": str(src)}


def pack_weights(style: Style) -> np.ndarray:
    """The style's tensors in the shader's layout (see shaders/cppn.glsl): (rows, 2048, 4) float32."""
    config, state = style.config, style.state
    w, p4, k = config.width, groups(config.width), config.n_pixel_inputs
    pad = 4 * p4

    def padded(t: torch.Tensor, rows: int, cols: int) -> np.ndarray:
        out = np.zeros((rows, cols), np.float32)
        a = t.detach().to("cpu", torch.float32).numpy()
        out[:a.shape[0], :a.shape[1]] = a
        return out

    def layer(weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """(units, inputs) padded → per group of 4 units: the bias, then a mat4 per group of 4 inputs."""
        g = weight.shape[0] // 4
        rows = weight.reshape(g, 4, p4, 4).transpose(0, 2, 1, 3).reshape(g, 4 * p4, 4)
        return np.concatenate([bias.reshape(g, 1, 4), rows], axis=1).reshape(-1, 4)

    first_w = state["hidden.0.weight"]
    first = np.zeros((4, pad), np.float32)  # x, y, r weights and the bias, per unit
    first[:k, :w] = first_w[:, :k].T.float().numpy()
    first[3, :w] = state["hidden.0.bias"].float().numpy()
    parts = [first.reshape(4, p4, 4).transpose(1, 0, 2).reshape(-1, 4)]
    for i in range(1, config.layers):
        parts.append(layer(padded(state[f"hidden.{i}.weight"], pad, pad),
                           padded(state[f"hidden.{i}.bias"].reshape(-1, 1), pad, 1)))
    parts.append(layer(padded(state["out.weight"], 4, pad), padded(state["out.bias"].reshape(-1, 1), 4, 1)))
    texels = np.concatenate(parts)
    width = 1 << TEX_SHIFT
    rows = -(-len(texels) // width)
    out = np.zeros((rows * width, 4), np.float32)
    out[:len(texels)] = texels
    return out.reshape(rows, width, 4)


def describe(config: CPPNConfig) -> str:
    return f"{config.layers} x {config.width}, {','.join(config.activations)}"


# Compiled programs per GL context, shared by both decks: (program, vao) or the ShaderError it gave.
_programs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def network_program(ctx: moderngl.Context, style: Style) -> tuple[moderngl.Program, moderngl.VertexArray]:
    """The program for the style's architecture, compiled on first use. Raises ShaderError naming the
    style, its architecture and the GL renderer, with the driver's message."""
    cache = _programs.setdefault(ctx, {})
    defines = program_defines(style.config)
    key = (str(shaders_dir()), tuple(sorted(defines.items())))
    if key not in cache:
        try:
            program = load_program(ctx, "cppn", defines)
            program["Frame"].binding = FRAME_BINDING
            cache[key] = (program, ctx.vertex_array(program, []))
        except ShaderError as e:
            cache[key] = e  # said once: the same architecture is not compiled again
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
        self._lut = ctx.texture((PALETTE_LUT, 1), 4)
        self._lut.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._frame: moderngl.Buffer | None = None
        self.width = self.height = 0
        self.style: Style | None = None
        self.set_style(style, model)
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if (width, height) == (self.width, self.height):
            return
        self._release_target()
        self.width, self.height = width, height
        self.texture = self.ctx.texture((width, height), 4)
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)  # upscaled by the compositor
        self.texture.repeat_x = self.texture.repeat_y = False
        self.fbo = self.ctx.framebuffer(color_attachments=[self.texture])

    def set_style(self, style: Style, model: CPPN | None = None) -> None:
        """Swap the network between frames (`model` may be prebuilt off the render thread). A new
        architecture compiles its program once; a ShaderError leaves the current style playing."""
        program, vao = network_program(self.ctx, style)
        limit = int(self.ctx.info.get("GL_MAX_TEXTURE_SIZE", 16384))
        texels = pack_weights(style)
        if texels.shape[0] > limit:
            raise ShaderError(f"glsl backend: style {style.name!r} ({describe(style.config)}) needs a weight "
                              f"texture {texels.shape[1]}x{texels.shape[0]}; this GL allows {limit}")
        self.model = model or style.build_model()
        self.style, self.program, self.vao = style, program, vao
        config = style.config
        size = (texels.shape[1], texels.shape[0])
        if self._weights is None or self._weights.size != size:
            if self._weights is not None:
                self._weights.release()
            self._weights = self.ctx.texture(size, 4, dtype="f4")
            self._weights.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._weights.write(texels)
        if config.palette:  # the same uint8 table the torch path looks up
            lut = palette_lut(self.model).numpy()
            self._lut.write(np.concatenate([lut, np.full((PALETTE_LUT, 1), 255, np.uint8)], axis=1))
        # The first layer's per-frame part, on the host as in Generator._frame_inputs (fp32).
        k = config.n_pixel_inputs
        self._frame_w = style.state["hidden.0.weight"][:, k:].float().contiguous()  # (width, 1 + n_audio)
        self._inputs = torch.zeros(1 + config.n_audio, dtype=torch.float32)
        self._bias = torch.zeros(4 * groups(config.width), dtype=torch.float32)
        if self._frame is None or self._frame.size != self._bias.numel() * 4:
            if self._frame is not None:
                self._frame.release()
            self._frame = self.ctx.buffer(reserve=self._bias.numel() * 4, dynamic=True)

    def render(self, t: float, audio, zoom: float = 1.0, rotation: float = 0.0) -> moderngl.Texture:
        """Draw the frame into `texture` (queued on the GL context; nothing is read back) and return it.
        zoom > 1 shows more of the coordinate field; rotation is in degrees."""
        config = self.style.config
        self._inputs[0] = float(t)
        self._inputs[1:] = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
        self._inputs[1:].mul_(config.audio_scale)
        torch.mv(self._frame_w, self._inputs, out=self._bias[:config.width])
        self._frame.write(self._bias.numpy())

        p = self.program
        a = math.radians(rotation)
        p["view"].value = (math.cos(a) * zoom, math.sin(a) * zoom, float(zoom))
        p["half_size"].value = (self.width / 2, self.height / 2)
        p["scale"].value = 2 * math.pi / min(self.width, self.height)
        p["transform"].value = TRANSFORM_IDS[config.transform]
        p["symmetry"].value = float(config.symmetry)
        p["palette"].value = bool(config.palette)
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

    def _release_target(self) -> None:
        if self.fbo is not None:
            self.fbo.release()
            self.texture.release()
            self.fbo = self.texture = None

    def release(self) -> None:
        """Free this deck's GL objects (the shared programs stay cached with the context)."""
        self._release_target()
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
