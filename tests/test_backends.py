"""Backends (DESIGN §6): the choice and its fallbacks, fp16 against fp32, and on a CUDA machine
the CUDA-GL interop sink, CUDA graphs and a headless cuda run with no host copies.

The CUDA tests skip with a reason where torch sees no CUDA device (CI has none); they are the
ones to run on a GPU machine before the cuda backend is called done.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from livecppn.model.generator import Generator
from livecppn.model.style import load_style
from livecppn.paths import presets_dir
from livecppn.render.backends import BackendError, Choice, choose_backend

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device here (torch.cuda.is_available() is False)")
SHIPPED = ["default", "ice", "ember", "moss"]


HARDWARE = "AMD Radeon Pro 5500M OpenGL Engine"  # GL_RENDERER strings as drivers report them
INTEL = "Mesa Intel(R) UHD Graphics 620 (KBL GT2)"
SOFTWARE = ["llvmpipe (LLVM 15.0.6, 256 bits)", "softpipe", "Google SwiftShader", "Software Rasterizer"]


def test_auto_takes_cuda_with_interop_then_glsl_on_hardware_gl_then_cpu():
    assert choose_backend("auto", True, None, "NVIDIA H100/PCIe/SSE2") == Choice("cuda", "cuda-gl")
    assert choose_backend("auto", False, None, HARDWARE) == Choice("glsl", "shader")
    assert choose_backend("auto", False, None, INTEL) == Choice("glsl", "shader")
    for renderer in SOFTWARE:  # a software GL driver: the cpu backend is faster than the shader there
        assert choose_backend("auto", False, None, renderer) == Choice("cpu", "pbo")
    assert choose_backend("cpu", True, None, HARDWARE) == Choice("cpu", "pbo")
    assert choose_backend("cuda", True, None, HARDWARE) == Choice("cuda", "cuda-gl")


def test_glsl_can_be_forced_even_on_a_software_renderer_with_a_warning():
    assert choose_backend("glsl", True, None, HARDWARE) == Choice("glsl", "shader")
    choice = choose_backend("glsl", False, None, SOFTWARE[0])
    assert (choice.backend, choice.sink) == ("glsl", "shader") and "software GL driver" in choice.note


def test_no_interop_falls_back_to_glsl_on_hardware_gl_or_the_pbo_upload():
    problem = "cudaErrorUnknown (GL is on another GPU)"
    choice = choose_backend("auto", True, problem, INTEL)  # CUDA on one GPU, GL on another
    assert (choice.backend, choice.sink) == ("glsl", "shader") and "interop unavailable" in choice.note
    for requested, renderer in (("auto", SOFTWARE[0]), ("cuda", INTEL), ("cuda", SOFTWARE[0])):
        choice = choose_backend(requested, True, "cudaErrorUnknown (GL is Mesa llvmpipe)", renderer)
        assert (choice.backend, choice.sink) == ("cuda", "pbo")
        assert "llvmpipe" in choice.note and "PBO" in choice.note


def test_a_forced_backend_that_cannot_run_says_why():
    with pytest.raises(BackendError, match="cuda.*cannot run here.*no CUDA device"):
        choose_backend("cuda", False, None, HARDWARE)
    with pytest.raises(BackendError, match="unknown backend 'metal'"):
        choose_backend("metal", True, None, HARDWARE)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA: the forced cuda backend runs")
def test_live_with_a_forced_cuda_backend_fails_clearly_without_cuda(tmp_path):
    result = subprocess.run([sys.executable, "-m", "livecppn", "live", "--backend", "cuda", "--headless",
                             "--frames", "5", "--audio", "synthetic", "--no-osc", "--size", "160x90"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "backend 'cuda' cannot run here" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", SHIPPED)
def test_fp16_matches_fp32_even_hours_into_a_show(name):
    """The fp16 path (what the cuda backend runs) against fp32, on the CPU where fp16 matmul runs.
    Stated tolerance: at most 3/255 per channel anywhere, 0.25/255 on average. Hours in, time
    makes the first layer's input large: that layer runs in fp32, or fp16 would fail this."""
    style = load_style(presets_dir() / "styles" / f"{name}.safetensors")
    g32 = Generator(style, 96, 54, dtype=torch.float32)
    g16 = Generator(style, 96, 54, dtype=torch.float16)
    rng = np.random.default_rng(1)
    for t, zoom, rotation in [(0.0, 1.0, 0.0), (40.0, 2.5, 30.0), (3600.0, 0.7, -90.0), (36000.0, 1.0, 10.0)]:
        audio = rng.random(9).astype(np.float32)
        a = g32.render(t, audio, zoom, rotation)[..., :3].int()
        b = g16.render(t, audio, zoom, rotation)[..., :3].int()
        diff = (a - b).abs().float()
        assert diff.max() <= 3 and diff.mean() <= 0.25, (t, diff.max().item(), diff.mean().item())


# --- on a CUDA machine ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nvidia_gl():
    """A GL context on the NVIDIA driver (headless EGL): interop needs GL and CUDA on the same GPU."""
    if not CUDA:
        pytest.skip("no CUDA device here")
    import moderngl

    try:
        ctx = moderngl.create_standalone_context(require=330, backend="egl")
    except Exception as e:  # noqa: BLE001 - any EGL failure means: not testable here
        pytest.skip(f"no EGL context ({e})")
    if "NVIDIA" not in ctx.info["GL_VENDOR"]:
        pytest.skip(f"EGL runs on {ctx.info['GL_VENDOR']} {ctx.info['GL_RENDERER']}, not the NVIDIA driver")
    yield ctx
    ctx.release()


@needs_cuda
def test_interop_writes_exactly_the_tensors_pixels(nvidia_gl):
    from livecppn.render.cuda_interop import CudaGLSink, probe

    assert probe(nvidia_gl) is None
    sink = CudaGLSink(nvidia_gl, 333, 187)  # odd sizes: no row padding assumed
    try:
        frame = torch.randint(0, 256, (187, 333, 4), dtype=torch.uint8, device="cuda")
        sink.upload(frame)
        torch.cuda.synchronize()
        back = np.frombuffer(sink.texture.read(), dtype=np.uint8).reshape(187, 333, 4)
        assert np.array_equal(back, frame.cpu().numpy())
    finally:
        sink.release()


@needs_cuda
def test_resizing_re_registers_without_leaks(nvidia_gl):
    from livecppn.render.cuda_interop import CudaGLSink

    sink = CudaGLSink(nvidia_gl, 64, 36)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    for i in range(100):
        w, h = 64 + (i % 7) * 16, 36 + (i % 5) * 9
        sink.resize(w, h)
        sink.upload(torch.full((h, w, 4), i, dtype=torch.uint8, device="cuda"))
    torch.cuda.synchronize()
    back = np.frombuffer(sink.texture.read(), dtype=np.uint8)
    assert (back == 99).all()
    sink.release()
    assert torch.cuda.memory_allocated() <= before  # the frames above were freed; nothing held by the sink


@needs_cuda
@pytest.mark.parametrize("name", SHIPPED[:2])
def test_cuda_graph_renders_what_eager_renders(name):
    style = load_style(presets_dir() / "styles" / f"{name}.safetensors")
    graph, eager = Generator(style, 320, 180, device="cuda"), Generator(style, 320, 180, device="cuda")
    eager._graph_failed = True  # never captures
    for t in (0.0, 1.5, 3600.0):
        audio = np.full(9, t % 1.0, dtype=np.float32)
        assert torch.equal(graph.render(t, audio, 1.2, 15.0), eager.render(t, audio, 1.2, 15.0))
    assert graph._graph is not None, "the CUDA graph was not captured"


PROFILED_RUN = r"""
import json, sys, torch
from torch.profiler import ProfilerActivity, profile
from livecppn.live import LiveOptions, run_live
prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
def on_frame(i, *_):
    if i == 100:
        prof.start()
    elif i == 600:
        prof.stop()
report = run_live(LiveOptions(headless=True, frames=601, audio="synthetic", osc_port=None, size=(1920, 1080),
                              backend="cuda", on_frame=on_frame))
names = [e.name for e in prof.events()]
print(json.dumps({"report": report, "dtoh": sum("DtoH" in n or "Device -> Pageable" in n for n in names),
                  "htod_pageable": sum("HtoD" in n and "Pageable" in n for n in names)}))
"""


@needs_cuda
def test_a_headless_cuda_show_makes_no_host_copies_in_its_frame_loop():
    if importlib.util.find_spec("aubio") is None:  # a bare GPU machine (tools/gpu_prepare.sh carries no aubio)
        pytest.skip("the live loop's onset detection needs aubio (tools/gpu_prepare.sh --with-aubio carries it)")
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # no X: EGL on the NVIDIA driver
    result = subprocess.run([sys.executable, "-c", PROFILED_RUN], capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    report = out["report"]
    assert report["backend"] == "cuda" and report["sink"] == "cuda-gl", report["warnings"]
    assert report["dtype"] == "float16" and report["frames"] == 601
    assert out["dtoh"] == 0 and out["htod_pageable"] == 0, out
