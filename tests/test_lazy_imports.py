"""Rendering, the benchmarks a GPU check runs and the GPU tests import without PyAudio, aubio and PyAV.

A bare CUDA machine gets its missing packages as carried wheels (tools/gpu_prepare.sh), and the
aubio (27 MB) and av (35 MB) wheels would not fit beside the tree; so those imports wait until a
function needs them. Each check runs in a fresh interpreter whose import system refuses the three
packages (a meta-path finder), as on a machine where they are not installed.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BLOCK = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {"pyaudio", "pyaudiowpatch", "aubio", "av"}
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"No module named {name!r} (refused by the test)")
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    sys.meta_path.insert(0, Refuse())
    try:
        import aubio  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the finder did not refuse aubio")
""")

MODULES = ["livecppn.model.generator", "livecppn.model.cppn", "livecppn.render.backends",
           "livecppn.render.cuda_interop", "livecppn.render.live_decks", "livecppn.render.compositor",
           "livecppn.render.hud", "livecppn.render.glsl_backend", "livecppn.offline.render",
           "livecppn.offline.train", "livecppn.live", "livecppn.cli"]
TOOLS = ["bench_render", "bench_glsl", "bench_train", "bench_live"]
# The tests gpu_check.sh runs on a GPU (the CUDA tests and the files of the GPU paths).
GPU_TESTS = ["tests/test_backends.py", "tests/test_render_gl.py", "tests/test_cppn.py",
             "tests/test_fused.py", "tests/test_interop.py"]


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'tools'}",
                                                       "HOME": str(Path.home())})


def test_rendering_and_the_gpu_benchmarks_import_without_pyaudio_aubio_and_av():
    result = run(f"""
        import importlib
        for name in {MODULES + TOOLS!r}:
            importlib.import_module(name)
        print("imported", len({MODULES + TOOLS!r}))
    """)
    assert result.returncode == 0, result.stderr
    assert f"imported {len(MODULES + TOOLS)}" in result.stdout


def test_the_gpu_tests_collect_without_pyaudio_aubio_and_av():
    files = [f for f in GPU_TESTS if (ROOT / f).exists()]
    result = run(f"""
        import pytest
        raise SystemExit(pytest.main(["-q", "--collect-only", "-p", "no:cacheprovider", *{files!r}]))
    """)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.lower().split("\n")[-2], result.stdout[-2000:]


def test_making_an_analyzer_without_aubio_says_what_to_install():
    result = run("""
        from livecppn.audio import Analyzer, AudioError
        try:
            Analyzer(48000)
        except AudioError as e:
            print("AudioError:", e)
    """)
    assert result.returncode == 0, result.stderr
    assert "AudioError: onset detection needs aubio (pip install aubio-ledfx)" in result.stdout
