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
Triton ships with torch on Linux; elsewhere `available()` says why not. The
kernel's source (fused_kernel.py) imports Triton, so it is imported only when
the kernel is first used: Triton bundles its own LLVM, and loaded into a
process where Mesa's llvmpipe (LLVM 15) already runs, it crashes it (seen:
`livecppn doctor` and tools/bench_glsl.py died with SIGSEGV). Where Mesa's LLVM
is loaded first (CUDA with a software GL driver), the kernel is unavailable and
the layers run on the CUDA-graph path.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import torch

from .cppn import ACTIVATIONS, CPPN


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
    if device.type != "cuda" and not interpreting():  # first: the cheap answer for every CPU generator
        return "the fused kernel runs on CUDA (or on the CPU under TRITON_INTERPRET=1, for tests)"
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed (it comes with torch on Linux x86-64)"
    if "triton" not in sys.modules and _mesa_llvm_loaded():
        return ("Mesa's LLVM (a software GL driver) is already loaded in this process, and Triton's own LLVM "
                "would crash it")
    return None


def _mesa_llvm_loaded() -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return any("libLLVM" in line for line in maps)
    except OSError:  # not Linux: no Mesa LLVM to clash with
        return False


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
    from .fused_kernel import cppn

    n = coords.shape[0]
    block, warps = config
    grid = ((n + block - 1) // block,)
    cppn[grid](coords, view_w, first_b, frame_bias, net.w, net.b, net.w_out, net.b_out, net.acts,
               lut if lut is not None else out, out, n, net.width, net.layers,
               lut.shape[0] if lut is not None else 2,
               K=net.k, WP=net.wp, PALETTE=net.palette, BLOCK=block, num_warps=warps)
