"""CUDA-GL interop decided from facts and survived when it fails (DESIGN §6, §8; issue 19).

The decision: GL's device UUID (GL_EXT_memory_object) against CUDA's, pure. The failures: a sink that
raises InteropError where the CUDA calls would (register on start or resize, map or copy on upload)
is put at the seam, on the CPU with real GL (Xvfb + Mesa): the deck moves to the PBO upload, the log
says so once, the frame shows, the other deck is untouched, and nothing hangs. On a GPU the real
sink's round trip is tested in tests/test_backends.py.
"""

import uuid

import numpy as np
import pytest

from livecppn.control.params import ParamBus
from livecppn.model.style import load_style
from livecppn.paths import presets_dir
from livecppn.render import backends
from livecppn.render.backends import CPU, Choice, choose_backend, same_gpu_problem
from livecppn.render.cuda_interop import InteropError
from livecppn.render.gl import device_uuids, proc_loader
from livecppn.render.live_decks import LiveDecks
from livecppn.render.sinks import PBOSink
from livecppn.showlog import ShowLog

NVIDIA = uuid.UUID("a3f1c2d4-0000-4000-8000-1234567890ab").bytes
INTEL = uuid.UUID("8086c0de-0000-4000-8000-000000000001").bytes
SIZE = (48, 27)


def test_interop_only_where_gl_and_cuda_share_a_gpu_by_uuid():
    assert same_gpu_problem([NVIDIA], NVIDIA) is None
    assert same_gpu_problem([INTEL, NVIDIA], NVIDIA) is None  # a context on a device group
    problem = same_gpu_problem([INTEL], NVIDIA)  # Optimus: GL on the integrated GPU
    assert "another GPU" in problem and str(uuid.UUID(bytes=INTEL)) in problem
    assert "no GL_EXT_memory_object" in same_gpu_problem(None, NVIDIA)  # Wayland/WSL drivers without it
    assert "CUDA does not report" in same_gpu_problem([NVIDIA], None)
    # what each problem leads to: glsl on hardware GL, else the PBO upload; said in one line
    choice = choose_backend("auto", True, problem, "Mesa Intel(R) UHD Graphics 620")
    assert (choice.backend, choice.sink) == ("glsl", "shader") and problem in choice.note
    choice = choose_backend("cuda", True, problem, "Mesa Intel(R) UHD Graphics 620")
    assert (choice.backend, choice.sink) == ("cuda", "pbo") and "PBO" in choice.note


def test_this_gl_reports_a_device_uuid_that_is_not_an_nvidia_gpu(ctx):
    """Mesa's llvmpipe has GL_EXT_memory_object: the query through the real loader gives 16 bytes,
    which no CUDA device has, so interop would never be tried on it."""
    uuids = device_uuids(ctx, proc_loader())
    assert uuids and all(len(u) == 16 for u in uuids)
    assert "another GPU" in same_gpu_problem(uuids, NVIDIA)


class FailingSink(PBOSink):
    """A PBO sink that fails once where a CUDA-GL sink's CUDA call would: `at` is "register" (the
    texture's registration: start or resize), "map" or "copy" (an upload), after `after` uploads."""

    name = "cuda-gl"
    errors = {"register": "cudaGraphicsGLRegisterImage failed: cudaErrorUnknown",
              "map": "cudaGraphicsMapResources failed: cudaErrorUnknown",
              "copy": "cudaMemcpy2DToArrayAsync failed: cudaErrorLaunchFailure"}

    def __init__(self, ctx, width, height, at="map", after=0):
        self.at, self.after, self.uploads = at, after, 0
        super().__init__(ctx, width, height)

    def resize(self, width, height):
        if self.at == "register" and self.texture is not None and self.texture.size != (width, height):
            raise InteropError(self.errors["register"])
        super().resize(width, height)

    def upload(self, frame):
        self.uploads += 1
        if self.at in ("map", "copy") and self.uploads > self.after:
            raise InteropError(self.errors[self.at])
        super().upload(frame)


def live_decks(ctx, showlog):
    styles = tuple(load_style(presets_dir() / "styles" / f"{n}.safetensors") for n in ("default", "ember"))
    return LiveDecks(ctx, CPU, styles, SIZE, showlog, internal=SIZE)


def frame_params(crossfader: float):
    bus = ParamBus()
    bus.jump("crossfader", crossfader)
    return bus.step(0.0)


def shown(sink) -> np.ndarray:
    return np.frombuffer(sink.texture.read(), dtype=np.uint8).reshape(SIZE[1], SIZE[0], 4)


@pytest.mark.parametrize("at", ["map", "copy", "register"])
def test_an_interop_failure_mid_show_moves_that_deck_to_the_pbo_upload(ctx, at):
    showlog = ShowLog()
    live = live_decks(ctx, showlog)
    decks = live.decks
    a_sink = FailingSink(ctx, *SIZE, at=at, after=3)
    b_sink = FailingSink(ctx, *SIZE, at="none")
    decks.decks["a"].sink.release()
    decks.decks["b"].sink.release()
    decks.decks["a"].sink, decks.decks["b"].sink = a_sink, b_sink
    params = frame_params(0.5)  # both decks visible
    audio = np.zeros(9, np.float32)
    for i in range(12):
        if at == "register" and i == 6:
            decks.resize(SIZE[0] * 2, SIZE[1] * 2)  # the internal size changes: registered again
            decks.resize(*SIZE)
        decks.render(0.1 * i, audio, params)
    assert decks.decks["a"].sink is not a_sink and decks.decks["a"].sink.name == "pbo"
    assert a_sink.texture is None  # the failed sink was released
    assert decks.decks["b"].sink is b_sink  # the other deck keeps its own path
    said = [m for m in showlog.messages if "interop" in m]
    assert len(said) == 1 and "deck A" in said[0] and FailingSink.errors[at] in said[0] and "PBO" in said[0]
    # the deck's frame is shown, exactly, through its new path
    image = decks.decks["a"].generator.render(9.0, audio).clone()
    decks.render(9.0, audio, params)
    assert np.array_equal(shown(decks.decks["a"].sink), image.numpy())


def test_an_interop_failure_at_start_opens_the_decks_on_the_pbo_upload(ctx, monkeypatch):
    """The texture's registration fails as the decks open (a driver that lists the extension but
    cannot share, error 304): both decks open on the PBO upload, said once."""
    real = backends.open_sink

    def open_sink(kind, ctx, width, height):
        if kind == "cuda-gl":
            raise InteropError("cudaGraphicsGLRegisterImage failed: cudaErrorOperatingSystem")
        return real(kind, ctx, width, height)

    monkeypatch.setattr(backends, "open_sink", open_sink)
    showlog = ShowLog()
    styles = tuple(load_style(presets_dir() / "styles" / f"{n}.safetensors") for n in ("default", "ember"))
    live = LiveDecks(ctx, Choice("cpu", "cuda-gl"), styles, SIZE, showlog, internal=SIZE)
    assert {d.sink.name for d in live.decks.decks.values()} == {"pbo"}
    said = [m for m in showlog.messages if "interop" in m]
    assert len(said) == 1 and "at start" in said[0] and "cudaErrorOperatingSystem" in said[0]
    params = frame_params(0.0)
    image = live.decks.decks["a"].generator.render(1.0, np.zeros(9, np.float32)).clone()
    live.decks.render(1.0, np.zeros(9, np.float32), params)
    assert np.array_equal(shown(live.decks.decks["a"].sink), image.numpy())
