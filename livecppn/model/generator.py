"""The generator: one style's CPPN evaluated for every pixel of a frame.

Owned by the render thread. It sees only the frame's inputs (time and the
audio feature vector, already shaped by the parameters) and returns an RGBA
uint8 image on its own device; a texture sink puts that image into GL.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import weakref
from collections import OrderedDict

import numpy as np
import torch

from . import fused
from .cppn import CPPN, INPLACE_ACTIVATIONS, style_grid
from .style import Style

log = logging.getLogger("livecppn.model")

PALETTE_LUT = 1024  # palette entries: finer than 8-bit output needs for up to ~8 stops


def palette_lut(model: CPPN) -> torch.Tensor:
    """A palette style's colours as PALETTE_LUT uint8 entries (PALETTE_LUT, 3), evenly along the
    palette: within half a level of apply_palette. The glsl backend looks up the same table."""
    t = torch.linspace(0.0, 1.0, PALETTE_LUT, dtype=torch.float32)
    with torch.no_grad():
        colours = model.colour(torch.stack([t, t, t], dim=1).to(model.palette.device))
    return (colours.float().cpu() * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)


# A deck change must not compute on the render thread what the style loader's thread can compute
# first (issue 14): the palette table of a loaded network and the coordinate grids its transform
# needs at the internal size. Both are pure functions of their inputs, so a table made ahead is
# exactly the one the render thread would make; the render thread computes what is missing itself.
_luts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # CPPN → ((device, dtype), palette_lut)
_grids: OrderedDict = OrderedDict()  # (width, height, use_radius, transform, symmetry) → grid (cpu fp32)
GRIDS_KEPT = 16  # a bank uses a handful of transforms; at 1080p a grid is ~25 MB
_lock = threading.Lock()


def cached_palette_lut(model: CPPN) -> torch.Tensor:
    """palette_lut(model), made once per network (on whichever thread asks first). The network must not
    change after (the live path only reads the loader's networks)."""
    kind = (model.palette.device, model.palette.dtype)  # a network moved to fp16 on CUDA gets its own table
    with _lock:
        hit = _luts.get(model)
    if hit is not None and hit[0] == kind:
        return hit[1]
    lut = palette_lut(model)
    with _lock:
        _luts[model] = (kind, lut)
    return lut


def cached_grid(width: int, height: int, config) -> torch.Tensor:
    """style_grid(width, height, config) on the CPU, shared by both decks and made once per size and
    transform (the last GRIDS_KEPT kept). Callers only read it."""
    key = (width, height, config.use_radius, config.transform, config.symmetry)
    with _lock:
        grid = _grids.get(key)
        if grid is not None:
            _grids.move_to_end(key)
            return grid
    grid = style_grid(width, height, config)
    with _lock:
        grid = _grids.setdefault(key, grid)
        while len(_grids) > GRIDS_KEPT:
            _grids.popitem(last=False)
    return grid


def prepare_style(model: CPPN, size: tuple[int, int] | None = None, lut: bool = True) -> None:
    """Make ahead what a Generator's set_style would make for this network at this internal size:
    its palette table (lut) and its coordinate grid. Any thread (the style loader's); costs nothing
    when done."""
    if lut and model.config.palette:
        cached_palette_lut(model)
    if size is not None:
        cached_grid(*size, model.config)


def default_dtype(device: torch.device) -> torch.dtype:
    # Live inference is fp16 on CUDA and fp32 on CPU (DESIGN §4).
    return torch.float16 if device.type == "cuda" else torch.float32


KERNELS = ("auto", "fused", "graph", "eager")
# What `auto` measured on this machine: (device, architecture, size) → (kernel, fused launch config).
_picked: dict[tuple, tuple[str, tuple[int, int] | None]] = {}


class Generator:
    """Renders a style at a fixed internal resolution; call resize() to change it.

    How the layers run (`kernel`): "fused", the whole network in one Triton kernel (fused.py);
    "graph", one kernel per layer and activation, captured as a CUDA graph; "eager", the same
    kernels launched one by one (the CPU's path). "auto" takes eager on the CPU and, on CUDA,
    whichever of fused and graph is faster for this network and size, measured once and kept
    for the process (`_picked`). `self.kernel` says what runs.
    """

    def __init__(self, style: Style, width: int, height: int, device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None, kernel: str = "auto"):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        self.device = torch.device(device)
        self.dtype = dtype or default_dtype(self.device)
        if kernel == "fused" and (why := fused.available(self.device)):
            raise ValueError(f"kernel 'fused' cannot run here: {why}")
        self.requested = kernel
        self.kernel = "eager"
        self.measured: dict | None = None  # auto's measurement, when this generator made one
        self._net: fused.FusedNetwork | None = None
        self._launch = fused.CONFIGS[0]
        self.style = style
        self.model: CPPN = style.build_model().to(self.device, self.dtype)
        self.width = self.height = 0
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if (width, height) == (self.width, self.height):
            return
        self.width, self.height = width, height
        self._grids = {}  # the per-pixel coordinates for each (transform, symmetry) seen at this size
        self._coords = self._grid(self.model.config)
        self._rgba = torch.full((height, width, 4), 255, dtype=torch.uint8, device=self.device)
        self._io_buffers()
        self._pick_kernel()

    def _layer_buffers(self) -> None:
        """The graph and eager paths' per-pixel buffers (the fused kernel needs none: its activations
        stay on the chip)."""
        n, w = self.height * self.width, self.model.config.width
        # The first layer runs in fp32 whatever the dtype: its input grows with time (an hour in, the
        # per-frame term is in the thousands, where fp16 steps by whole units and would crush the
        # picture's spatial detail). Its activation is bounded, so fp16 is fine from there on.
        self._pixel_part = torch.empty((n, w), dtype=torch.float32, device=self.device)
        self._first = None if self.dtype == torch.float32 else torch.empty((n, w), dtype=torch.float32,
                                                                           device=self.device)
        # Work buffers and the output image (alpha fixed at 255), reused every frame.
        self._h = [torch.empty((n, w), dtype=self.dtype, device=self.device) for _ in range(2)]
        self._rgb = torch.empty((n, 3), dtype=self.dtype, device=self.device)
        # Palette styles: the first output's position along the palette, and the looked-up colours.
        self._pal_t = torch.empty(n, dtype=self.dtype, device=self.device)
        self._pal_i = torch.empty(n, dtype=torch.long, device=self.device)
        self._pal_rgb = torch.empty((n, 3), dtype=torch.uint8, device=self.device)

    def _free_layer_buffers(self) -> None:
        self._pixel_part = self._first = self._rgb = self._pal_t = self._pal_i = self._pal_rgb = None
        self._h = []
        self._graph = None

    def _use(self, kernel: str) -> None:
        """Run the layers with `kernel` from the next frame: its buffers and weights made, the other's freed."""
        self.kernel = kernel
        if kernel == "fused":
            self._free_layer_buffers()
        elif getattr(self, "_pixel_part", None) is None or \
                self._pixel_part.shape != (self.width * self.height, self.model.config.width):
            self._layer_buffers()
        self._prepare_weights()

    def _pick_kernel(self) -> None:
        """The kernel for this network at this size (see the class docstring)."""
        c, cuda = self.model.config, self.device.type == "cuda"
        layered = "graph" if cuda else "eager"  # the layers one by one: a CUDA graph where there is CUDA
        if self.requested in ("eager", "graph"):
            return self._use("eager" if self.requested == "eager" else layered)
        if self.requested == "auto" and not cuda:
            return self._use("eager")
        unfusable = fused.fusable(self.model) or fused.available(self.device)
        if self.requested == "fused":
            if unfusable:
                log.warning("fused kernel not used for %s: %s; the layers run one by one", self.style.name, unfusable)
            return self._use(layered if unfusable else "fused")
        if unfusable:
            return self._use(layered)
        # Layers and palette change little between the two, so a deck change never measures again.
        key = (str(torch.cuda.get_device_name(self.device)), fused.padded_width(c.width), c.n_pixel_inputs,
               self.width * self.height)
        if key not in _picked:
            _picked[key] = self._measure()
        kernel, self._launch = _picked[key]
        self._use(kernel)

    def _measure(self, frames: int = 10) -> tuple[str, tuple[int, int] | None]:
        """Time the fused kernel (each launch config) and the CUDA graph on this device; the faster wins.
        A fused config that fails to compile or run here (too little shared memory) is skipped."""
        times: dict[tuple[str, tuple | None], float] = {}
        audio = [0.5] * self.model.config.n_audio
        for kernel, configs in (("fused", fused.CONFIGS), ("graph", (None,))):
            for config in configs:
                self._launch = config or self._launch
                try:
                    self._use(kernel)
                    for i in range(2):  # compile, capture, warm up
                        self.render(0.1 * i, audio)
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    for i in range(frames):
                        self.render(0.1 * i, audio)
                    end.record()
                    end.synchronize()
                    times[(kernel, config)] = start.elapsed_time(end) / frames
                except Exception as e:  # noqa: BLE001 - a config this GPU cannot run is not a fault
                    log.info("kernel %s %s not usable here: %s", kernel, config, e)
        best = min(times, key=times.get)
        if best[0] == "fused":  # compile the other palette variant now, not at a deck change mid-show
            self._launch = best[1]
            self._use("fused")
            other = copy.copy(self._net)
            other.palette = not other.palette
            lut = torch.zeros((PALETTE_LUT, 4), dtype=torch.uint8, device=self.device)
            fused.render(other, self._coords, self._view_dev, self._first_b, self._bias, lut, self._rgba, best[1])
        self.measured = {f"{k} {c}" if c else k: round(ms, 4) for (k, c), ms in times.items()}
        log.info("%s at %dx%d: %s; using %s", self.style.name, self.width, self.height, self.measured, best)
        return best

    def _grid(self, config) -> torch.Tensor:
        """Coordinates of this size under the style's transform (fp32, see resize); cached, so a
        style swap allocates none."""
        key = (config.use_radius, config.transform, config.symmetry)
        if key not in self._grids:
            self._grids[key] = cached_grid(self.width, self.height, config).to(self.device, torch.float32)
        return self._grids[key]

    def _io_buffers(self) -> None:
        """The small buffers the per-frame inputs and view changes go through. Written on the host and
        copied to the device without waiting: on CUDA pinned, two for the frame inputs in turn, each
        reused only once the GPU has read it (an event), so there is no host sync in the frame loop."""
        config, cuda = self.model.config, self.device.type == "cuda"
        k, n_frame, w = config.n_pixel_inputs, 1 + config.n_audio, config.width
        self._view_host = torch.empty((k, w), dtype=torch.float32, pin_memory=cuda)
        self._view_read = torch.cuda.Event() if cuda else None
        self._view_dev = torch.empty((k, w), dtype=torch.float32, device=self.device)
        self._inputs_host = [torch.zeros(n_frame, dtype=torch.float32, pin_memory=cuda) for _ in range(2 if cuda else 1)]
        self._inputs_read = [torch.cuda.Event() if cuda else None for _ in self._inputs_host]
        self._inputs_dev = torch.zeros(n_frame, dtype=torch.float32, device=self.device)
        self._bias = torch.zeros(w, dtype=torch.float32, device=self.device)
        self._turn = 0

    def _prepare_weights(self) -> None:
        # Transposed, contiguous copies so each layer is one addmm into a buffer.
        m = self.model
        self._hidden_t = [lin.weight.T.contiguous() for lin in m.hidden[1:]]
        self._out_t = m.out.weight.T.contiguous()
        k = m.config.n_pixel_inputs
        # fp32 first-layer weights from the style file, not from the (maybe fp16) model: rounded to fp16,
        # a weight on time is off by ~1e-3 of itself, which an hour of time turns into radians.
        first_w = self.style.state["hidden.0.weight"].to(self.device, torch.float32)
        self._frame_w = first_w[:, k:].contiguous()  # (width, 1 + n_audio)
        self._first_b = self.style.state["hidden.0.bias"].to(self.device, torch.float32)
        self._pixel_w_host = self.style.state["hidden.0.weight"][:, :k].T.float().contiguous()  # (k, width)
        self._view = None  # (zoom, rotation) the cached pixel part was computed for
        self._graph = None  # a CUDA graph of the layers, captured on first use (see _layers)
        self._graph_failed = False
        # A palette as a lookup table of PALETTE_LUT uint8 colours (within half a level of apply_palette).
        self._lut = cached_palette_lut(m).to(self.device) if m.config.palette else None
        self._net = self._lut4 = None
        if self.kernel == "fused":
            self._net = fused.FusedNetwork(m, self.device)
            if self._lut is not None:  # the kernel writes RGBA in one go: alpha rides in the table
                self._lut4 = torch.full((PALETTE_LUT, 4), 255, dtype=torch.uint8, device=self.device)
                self._lut4[:, :3] = self._lut

    def _frame_inputs(self, t: float, audio) -> None:
        """Time and audio into the device's input vector, then the first layer's per-frame term."""
        i = self._turn
        self._turn = (i + 1) % len(self._inputs_host)
        host, read = self._inputs_host[i], self._inputs_read[i]
        if read is not None:
            read.synchronize()  # returns at once unless the GPU is two frames behind
        host[0] = float(t)
        host[1:].copy_(torch.as_tensor(audio, dtype=torch.float32).reshape(-1))
        host[1:].mul_(self.model.config.audio_scale)
        self._inputs_dev.copy_(host, non_blocking=True)
        if read is not None:
            read.record()
        torch.mv(self._frame_w, self._inputs_dev, out=self._bias)

    def _layers(self) -> None:
        """Every layer after the per-frame bias, into self._rgba; no allocation. Fused: one launch.
        Graph: the whole sequence (some 15 kernels) captured once as a CUDA graph and replayed."""
        if self.kernel == "fused":
            fused.render(self._net, self._coords, self._view_dev, self._first_b, self._bias, self._lut4,
                         self._rgba, self._launch)
            return
        if self.kernel == "graph" and not self._graph_failed:
            if self._graph is None:
                self._capture()
            if self._graph is not None:
                self._graph.replay()
                return
        self._layers_eager()

    def _capture(self) -> None:
        try:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up: cuBLAS picks its kernels outside the capture
                    self._layers_eager()
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._layers_eager()
            self._graph = graph
        except RuntimeError as e:  # capture unsupported here: eager works the same, a little slower
            log.warning("CUDA graph capture failed (%s); rendering without it", e)
            self._graph_failed = True

    def _layers_eager(self) -> None:
        m = self.model
        names = m.config.activations
        src, dst = self._h
        # First layer: the cached per-pixel part + this frame's bias (time, audio).
        first = src if self._first is None else self._first  # fp32 (see resize)
        torch.add(self._pixel_part, self._bias, out=first)  # (N, width)
        INPLACE_ACTIVATIONS[names[0]](first)
        if first is not src:
            src.copy_(first)
        for lin, w_t, name in zip(m.hidden[1:], self._hidden_t, names[1:]):
            torch.addmm(lin.bias, src, w_t, out=dst)  # (N, width)
            INPLACE_ACTIVATIONS[name](dst)
            src, dst = dst, src
        rgb = torch.addmm(m.out.bias, src, self._out_t, out=self._rgb).sigmoid_()  # (N, 3) in [0, 1]
        if self._lut is not None:  # palette: the first output picks the colour
            torch.mul(rgb[:, 0], PALETTE_LUT - 1, out=self._pal_t).add_(0.5)
            self._pal_i.copy_(self._pal_t)  # truncates: round to the nearest entry
            torch.index_select(self._lut, 0, self._pal_i, out=self._pal_rgb)
            self._rgba.view(-1, 4)[:, :3].copy_(self._pal_rgb)
            return
        # Round to nearest (x * 255 + 0.5, truncated by the uint8 copy).
        rgb.mul_(255.0).add_(0.5)
        self._rgba.view(-1, 4)[:, :3].copy_(rgb)

    def set_style(self, style: Style, model: CPPN | None = None) -> None:
        """Swap the network between frames; `model` may be prebuilt off the render thread.
        The buffers and the pixel cache are rebuilt for the new weights."""
        old = self.model.config
        self.style = style
        self.model = (model or style.build_model()).to(self.device, self.dtype)
        new = self.model.config
        # the buffers depend on these alone: if they match, only the weights change (nothing allocated)
        if (new.width, new.n_pixel_inputs, new.n_audio) == (old.width, old.n_pixel_inputs, old.n_audio):
            self._coords = self._grid(new)
            self._prepare_weights()
            return
        w, h = self.width, self.height
        self.width = self.height = 0
        self.resize(w, h)

    def _update_pixel_part(self, zoom: float, rotation: float) -> None:
        """The first layer's per-pixel term for this view of the coordinate field.

        Zoom and rotation act on (x, y) (and zoom on r) before the first layer,
        which is linear, so they fold into its (k, width) weights: recomputed
        only when the view changes, it costs k multiply-adds per pixel and unit,
        against the hidden layers' width.
        """
        view = (zoom, rotation)
        if view == self._view:
            return
        self._view = view
        a = math.radians(rotation)
        c, s = math.cos(a) * zoom, math.sin(a) * zoom
        # The (k, k) transform and its product with the (k, width) weights are tiny: done on the host
        # and sent like the frame inputs (pinned, no wait), so turning a knob never syncs the GPU.
        transform = torch.eye(self._view_host.shape[0], dtype=torch.float32) * zoom  # r scales with zoom
        transform[:2, :2] = torch.tensor([[c, s], [-s, c]])  # row vectors: p' = p @ T
        if self._view_read is not None:
            self._view_read.synchronize()
        torch.mm(transform, self._pixel_w_host, out=self._view_host)
        self._view_dev.copy_(self._view_host, non_blocking=True)
        if self._view_read is not None:
            self._view_read.record()
        if self.kernel != "fused":  # the fused kernel applies the view weights per pixel itself
            torch.addmm(self._first_b, self._coords, self._view_dev, out=self._pixel_part)

    @torch.inference_mode()
    def render(self, t: float, audio: np.ndarray | torch.Tensor, zoom: float = 1.0,
               rotation: float = 0.0) -> torch.Tensor:
        """RGBA uint8 (H, W, 4), row 0 at the top. The tensor is reused: copy before the next call.

        zoom > 1 shows more of the coordinate field; rotation is in degrees.
        """
        self._update_pixel_part(float(zoom), float(rotation))
        self._frame_inputs(t, audio)
        self._layers()
        return self._rgba

    def finish(self) -> None:
        """Wait until the device has done the queued work (for timing; a no-op on the CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def render_float(self, t: float, audio: np.ndarray | torch.Tensor, zoom: float = 1.0,
                     rotation: float = 0.0) -> torch.Tensor:
        """Reference path for tests: the unsplit forward pass on transformed coordinates, RGB float (H, W, 3)."""
        with torch.inference_mode():
            coords = style_grid(self.width, self.height, self.model.config)
            a = math.radians(rotation)
            x, y = coords[:, 0].clone(), coords[:, 1].clone()
            coords[:, 0] = zoom * (x * math.cos(a) - y * math.sin(a))
            coords[:, 1] = zoom * (x * math.sin(a) + y * math.cos(a))
            if coords.shape[1] == 3:
                coords[:, 2] *= zoom
            rgb = self.model(coords.to(self.device, self.dtype), t, torch.as_tensor(audio))
        return rgb.reshape(self.height, self.width, 3)
