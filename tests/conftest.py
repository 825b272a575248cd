"""Shared fixtures: a real GL context (glfw hidden window on Xvfb + Mesa).

tools/test.sh starts Xvfb and sets DISPLAY. Without a display these tests
fail, rather than skip: the GL path is part of what the suite must prove.
"""

import importlib.util
import os
import shutil
import subprocess
import tempfile

# Triton (the fused CPPN kernel's compiler, and the trainer's torchvision through torch._dynamo)
# bundles its own LLVM; loading it into a process where Mesa's llvmpipe (LLVM 15) already runs
# crashes the process. Loaded first, both work (livecppn.model.fused refuses to load it after
# Mesa's LLVM). Without a CUDA device the fused kernel's tests run
# it under Triton's interpreter, which must be chosen before the kernel is defined.
if importlib.util.find_spec("triton") is not None:
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import triton  # noqa: F401

import mido
import moderngl
import pytest
from realparts import JACK_MIDO_BACKEND as BACKEND
from realparts import JACKD, jack_answers, require, stop_process, wait_for

from livecppn.render.window import Window, WindowError


def pytest_configure(config):
    """The user's folders (learned mappings, recordings, trained styles; livecppn/paths.py) go to a
    folder of this run, never the real ones: the shows the tests start inherit it."""
    os.environ["LIVECPPN_HOME"] = tempfile.mkdtemp(prefix="livecppn-test-home-")


def pytest_collection_modifyitems(config, items):
    """The `cuda` marker (what tools/gpu_check.sh runs on a GPU: `pytest -m cuda`): a test marked so by
    hand, or one with a skipif that names CUDA and skips exactly where torch sees no CUDA device."""
    import torch

    no_cuda = not torch.cuda.is_available()
    for item in items:
        for m in item.iter_markers("skipif"):
            condition = m.args[0] if m.args else m.kwargs.get("condition")
            if isinstance(condition, bool) and condition == no_cuda and "CUDA" in str(m.kwargs.get("reason", "")):
                item.add_marker(pytest.mark.cuda)
                break


@pytest.fixture(scope="session")
def gl_window():
    try:
        window = Window((320, 180), visible=False, vsync=False)
    except WindowError as e:
        pytest.fail(f"no GL window ({e}); run the tests through tools/test.sh, which starts Xvfb")
    yield window
    window.close()


@pytest.fixture(scope="session")
def ctx(gl_window):
    return moderngl.create_context(require=330)


@pytest.fixture(scope="module")  # not longer: PortAudio in the same process must not see a JACK server
def jack_midi():
    """A JACK server (the one running, else a dummy-driver jackd started here and stopped after);
    mido's backend set to rtmidi/UNIX_JACK. Fails in CI without one, skips elsewhere."""
    require(shutil.which("jackd") is not None and shutil.which("jack_lsp") is not None,
            "jackd not installed (apt-get install jackd2)")
    server = None
    if not jack_answers():
        server = subprocess.Popen(JACKD, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(jack_answers, 10, 0.1):
            server.kill()
            server.wait()
            require(False, f"no JACK server, and `{' '.join(JACKD)}` did not start one")
    old, old_backend = os.environ.get("MIDO_BACKEND"), mido.backend.name
    os.environ["MIDO_BACKEND"] = BACKEND
    mido.set_backend(BACKEND, load=True)
    try:
        yield BACKEND
    finally:
        mido.set_backend(old_backend)
        if old is None:
            os.environ.pop("MIDO_BACKEND", None)
        else:
            os.environ["MIDO_BACKEND"] = old
        if server is not None:
            stop_process(server)
