"""The whole CPPN in one Triton kernel (issue 19): no activation ever leaves the chip.

The unfused network writes every layer's activations for every pixel to GPU
memory and reads them back (a 4 × 128 style at 4K moves ~20 GB a frame), so it
is bound by memory bandwidth, not arithmetic. Here each program takes a tile
of pixels and runs every layer on it in registers:

- first layer in fp32 (DESIGN §4): the per-pixel part from the cached
  coordinates (k = 2 or 3 inputs, already transformed by the style; zoom and
  rotation folded into the (k, width) view weights) plus the per-frame bias
  (time, audio). Recomputing k multiply-adds per unit is cheaper than reading
  a cached (pixels, width) fp32 table, which is the traffic this kernel removes;
- hidden layers as fp16 tensor-core products with fp32 accumulation, the
  activation in fp32 on the accumulator;
- the output layer (3 units) as fp32 dot products, the sigmoid, then RGB or
  the palette's lookup table, and one write of RGBA8 per pixel.

Widths are padded to a power of two of at least 16 (the tensor-core tile):
padded units get zero weights in and out, so they change nothing. A padded
width above FUSED_MAX_WIDTH does not fit one layer's weights in shared memory
and is not fused: the generator keeps the CUDA-graph path for it.

The kernel runs on CPU tensors under Triton's interpreter (TRITON_INTERPRET=1),
which is how CI tests it against the torch reference; on a GPU it is compiled.
Triton ships with torch on Linux; elsewhere `available()` says why not. It is
imported with this module, which render/window.py imports: Triton bundles its
own LLVM, and loaded into a process where Mesa's llvmpipe (LLVM 15) already
runs, it crashes it (seen: `livecppn doctor` died with SIGSEGV). Loaded before
the first GL context, both work.
"""

from __future__ import annotations

import os

import torch

from .cppn import ACTIVATIONS, CPPN

try:
    import triton
    import triton.language as tl
except ImportError as e:  # Triton ships with torch on Linux only
    triton, tl, _MISSING = None, None, f"Triton is not installed ({e})"

FUSED_MAX_WIDTH = 256  # padded; 256 × 256 fp16 weights (128 KB) fit an H100's shared memory, not a laptop's 99 KB
ACT_CODES = {name: i for i, name in enumerate(("identity", "sin", "cos", "tanh", "gaussian", "sigmoid", "relu"))}
assert set(ACT_CODES) == set(ACTIVATIONS)
# The kernel's argument types, in order (a Triton signature: what tests compile it for without a GPU).
SIGNATURE = ("*fp32", "*fp32", "*fp32", "*fp32", "*fp16", "*fp32", "*fp32", "*fp32", "*i32", "*u8", "*u8",
             "i32", "i32", "i32", "i32", "constexpr", "constexpr", "constexpr", "constexpr")
CONFIGS = ((64, 4), (128, 8))  # (pixels per program, warps): each is compiled and timed once at start


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def available(device: torch.device) -> str | None:
    """None if the fused kernel can run on this device, else why not."""
    if triton is None:
        return _MISSING
    if device.type == "cuda" or interpreting():
        return None
    return "the fused kernel runs on CUDA (or on the CPU under TRITON_INTERPRET=1, for tests)"


def padded_width(width: int) -> int:
    return max(16, 1 << (width - 1).bit_length())


def fusable(model: CPPN) -> str | None:
    """None if this network fits the kernel, else why not."""
    wp = padded_width(model.config.width)
    if wp > FUSED_MAX_WIDTH:
        return (f"width {model.config.width} pads to {wp}, over the fused kernel's {FUSED_MAX_WIDTH} "
                "(one layer's weights must fit in shared memory)")
    return None




class FusedNetwork:
    """One network's weights laid out for the kernel (hidden layers padded, fp16, transposed)."""

    def __init__(self, model: CPPN, device: torch.device):
        why = fusable(model)
        if why:
            raise ValueError(why)
        c = model.config
        self.width, self.wp, self.layers, self.k = c.width, padded_width(c.width), c.layers, c.n_pixel_inputs
        self.acts = torch.tensor([ACT_CODES[a] for a in c.activations], dtype=torch.int32, device=device)
        n = max(1, c.layers - 1)
        self.w = torch.zeros((n, self.wp, self.wp), dtype=torch.float16, device=device)  # (in, out) per layer
        self.b = torch.zeros((n, self.wp), dtype=torch.float32, device=device)
        with torch.no_grad():
            for i, lin in enumerate(model.hidden[1:]):
                self.w[i, :c.width, :c.width] = lin.weight.T.to(device, torch.float16)
                self.b[i, :c.width] = lin.bias.to(device, torch.float32)
            self.w_out = torch.zeros((3, self.wp), dtype=torch.float32, device=device)
            self.w_out[:, :c.width] = model.out.weight.to(device, torch.float32)
            self.b_out = model.out.bias.to(device, torch.float32).contiguous()
        self.palette = bool(c.palette)


def render(net: FusedNetwork, coords: torch.Tensor, view_w: torch.Tensor, first_b: torch.Tensor,
           frame_bias: torch.Tensor, lut: torch.Tensor | None, out: torch.Tensor,
           config: tuple[int, int] = CONFIGS[0]) -> None:
    """Every pixel's colour into `out` (RGBA uint8, (H, W, 4), contiguous). coords (N, k) fp32;
    view_w (k, width) fp32; first_b and frame_bias (width,) fp32; lut (entries, 4) uint8 for a
    palette network. One launch, no allocation."""
    n = coords.shape[0]
    block, warps = config
    grid = (triton.cdiv(n, block),)
    cppn[grid](coords, view_w, first_b, frame_bias, net.w, net.b, net.w_out, net.b_out, net.acts,
               lut if lut is not None else out, out, n, net.width, net.layers,
               lut.shape[0] if lut is not None else 2,
               K=net.k, WP=net.wp, PALETTE=net.palette, BLOCK=block, num_warps=warps)


if triton is not None:  # the kernels are module globals: Triton resolves called functions by name
    @triton.jit
    def activation(x, code):
        # `code` is a runtime value, uniform over the launch: one compiled kernel serves every
        # combination of activations and layer counts (a deck change compiles nothing new).
        if code == 1:
            x = tl.sin(x)
        elif code == 2:
            x = tl.cos(x)
        elif code == 3:
            e = tl.exp(2.0 * tl.minimum(tl.maximum(x, -15.0), 15.0))  # tanh: ±1 to fp32 precision beyond ±15
            x = (e - 1.0) / (e + 1.0)
        elif code == 4:
            x = tl.exp(-x * x)
        elif code == 5:
            x = tl.sigmoid(x)
        elif code == 6:
            x = tl.maximum(x, 0.0)
        return x

    @triton.jit
    def cppn(coords, view_w, first_b, frame_bias, w_hidden, b_hidden, w_out, b_out, acts, lut, out, n, width,
             layers, lut_n, K: tl.constexpr, WP: tl.constexpr, PALETTE: tl.constexpr, BLOCK: tl.constexpr):
        rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        inside = rows < n
        units = tl.arange(0, WP)
        real = units < width
        # First layer, fp32: per-frame bias + the pixel's coordinates through the view weights.
        bias = tl.load(first_b + units, mask=real, other=0.0) + tl.load(frame_bias + units, mask=real, other=0.0)
        h = tl.zeros((BLOCK, WP), dtype=tl.float32) + bias[None, :]
        for j in tl.static_range(K):
            c = tl.load(coords + rows * K + j, mask=inside, other=0.0)
            h += c[:, None] * tl.load(view_w + j * width + units, mask=real, other=0.0)[None, :]
        h = activation(h, tl.load(acts))
        # Hidden layers: fp16 products on the tensor cores, fp32 accumulation and activation.
        for i in range(1, layers):
            wt = tl.load(w_hidden + (i - 1) * WP * WP + units[:, None] * WP + units[None, :])
            h = tl.dot(h.to(tl.float16), wt, out_dtype=tl.float32)
            h += tl.load(b_hidden + (i - 1) * WP + units)[None, :]
            h = activation(h, tl.load(acts + i))
        # Output layer (3 units) in fp32, its sigmoid, then colour: one RGBA8 write per pixel.
        r = tl.sigmoid(tl.sum(h * tl.load(w_out + units)[None, :], axis=1) + tl.load(b_out))
        channel = tl.arange(0, 4)
        if PALETTE:
            index = (r * (lut_n - 1) + 0.5).to(tl.int32)
            index = tl.minimum(tl.maximum(index, 0), lut_n - 1)
            rgba = tl.load(lut + index[:, None] * 4 + channel[None, :], mask=inside[:, None], other=0)
        else:
            g = tl.sigmoid(tl.sum(h * tl.load(w_out + WP + units)[None, :], axis=1) + tl.load(b_out + 1))
            b = tl.sigmoid(tl.sum(h * tl.load(w_out + 2 * WP + units)[None, :], axis=1) + tl.load(b_out + 2))
            value = tl.where(channel[None, :] == 0, r[:, None],
                             tl.where(channel[None, :] == 1, g[:, None],
                                      tl.where(channel[None, :] == 2, b[:, None], 1.0)))
            rgba = (value * 255.0 + 0.5).to(tl.uint8)  # round to nearest, as the graph path does
        tl.store(out + rows[:, None] * 4 + channel[None, :], rgba, mask=inside[:, None])
