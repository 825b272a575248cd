"""The fused CPPN kernel's Triton source (see fused.py, which imports this module only when the kernel
is used: Triton must never load into a process where Mesa's LLVM already runs)."""

import triton
import triton.language as tl


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
