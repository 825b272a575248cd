"""The doctor's GPU checks: the GL driver, CUDA, whether both are on one GPU, the interop round trip,
and what `--backend auto` picks at which internal resolution (a short calibration, as `livecppn live`
does at start).

The GL context is a hidden glfw window, else a headless EGL context (as `livecppn live --headless`).
UNTESTED: the CUDA device UUID, its comparison with GL's and the interop round trip run only where torch
sees CUDA, and have not run on a GPU yet (the test machines have none; GL's UUID query is tested on Mesa).
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass

from .check import Check


@dataclass
class GLSurface:
    ctx: object  # moderngl.Context
    how: str  # "glfw" | "egl"
    get_proc_address: object  # name -> address, for the queries moderngl does not expose
    close: object


def open_gl() -> GLSurface:
    """A GL 3.3 core context (hidden glfw window, else EGL); raises RuntimeError saying why not."""
    import moderngl

    from ..render.gl import proc_loader
    from ..render.window import Window, WindowError

    try:
        with warnings.catch_warnings():  # glfw warns as well as raising; the check says why
            warnings.simplefilter("ignore")
            window = Window((64, 64), visible=False, vsync=False)
        ctx = moderngl.create_context(require=330)
        return GLSurface(ctx, "glfw", proc_loader(), window.close)
    except WindowError as window_error:
        try:
            ctx = moderngl.create_standalone_context(require=330, backend="egl")
        except Exception as e:  # noqa: BLE001 - both ways failed: say both
            raise RuntimeError(f"no window ({window_error}) and no EGL context ({e})") from None
        return GLSurface(ctx, "egl", proc_loader(), ctx.release)


def gl_check(info: dict, how: str, calibration: dict | None) -> Check:
    from ..render.gl import is_software_name

    detail = f"{info['renderer']}, OpenGL {info['version'].replace(' (Core Profile)', '')}"
    data = dict(info, context=how, software=is_software_name(info["renderer"]))
    if how == "egl":
        return Check("gl", "problem", f"no window can open (no display); headless EGL: {detail}",
                     "livecppn live needs a screen: run it in the desktop session (DISPLAY or WAYLAND_DISPLAY "
                     "set); only --headless runs without one.", data)
    if not data["software"]:
        return Check("gl", "ok", detail, data=data)
    fps = (f"the network alone measured ~{calibration['fps']:.0f} fps at "
           f"{calibration['internal'][0]}x{calibration['internal'][1]} ({calibration['backend']} backend)"
           if calibration and calibration.get("fps") else "expect a small internal resolution and 30 fps at best")
    return Check("gl", "warning", f"software GL: {detail}",
                 f"The CPU draws every pixel: {fps}, before compositing; a GPU driver gives 60 fps at "
                 "full size. Install the GPU's driver; check DISPLAY is the real screen.",
                 data)


def cuda_facts() -> dict:
    import torch

    facts = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "available": torch.cuda.is_available(),
             "devices": []}
    if facts["available"]:
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            facts["devices"].append({"index": i, "name": props.name, "uuid": _uuid(getattr(props, "uuid", None)),
                                     "memory_gib": round(props.total_memory / 2**30, 1)})
    return facts


def _uuid(value) -> str | None:
    """torch's device UUID (a _CUuuid, or its string) as a canonical UUID string."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(bytes=bytes(value.bytes))) if hasattr(value, "bytes") else str(uuid.UUID(str(value)))
    except (ValueError, TypeError):
        return str(value)


def cuda_check(cuda: dict) -> Check:
    if not cuda["available"]:
        why = "a CPU-only torch build" if cuda["torch_cuda"] is None else "no NVIDIA GPU or driver seen"
        return Check("cuda", "info", f"no CUDA device (torch {cuda['torch']}: {why})",
                     "The glsl and cpu backends run without it; the cuda backend needs an NVIDIA GPU.", cuda)
    names = ", ".join(f"{d['name']} ({d['memory_gib']} GiB)" for d in cuda["devices"])
    return Check("cuda", "ok", f"{names}; torch {cuda['torch']}, CUDA {cuda['torch_cuda']}", data=cuda)


def same_gpu_check(gl_uuids: list[bytes] | None, cuda: dict) -> Check:
    """GL's device UUIDs (GL_EXT_memory_object) against CUDA's: interop needs GL on a CUDA device."""
    gl = [str(uuid.UUID(bytes=u)) for u in gl_uuids or []]
    data = {"gl_uuids": gl, "cuda_uuids": [d["uuid"] for d in cuda["devices"]]}
    if gl_uuids is None:
        return Check("same-gpu", "info" if not cuda["available"] else "warning",
                     "the GL driver does not report its device UUID (no GL_EXT_memory_object)",
                     "" if not cuda["available"] else "Without it livecppn does not use CUDA-GL interop: frames "
                     "take the PBO path through host memory.", data)
    if not cuda["available"]:
        return Check("same-gpu", "info", f"GL device UUID {', '.join(gl) or 'none'}; no CUDA device to compare",
                     data=data)
    shared = [d for d in cuda["devices"] if d["uuid"] in gl]
    data["shared"] = [d["index"] for d in shared]
    if shared:
        return Check("same-gpu", "ok", f"GL runs on CUDA device {shared[0]['index']} ({shared[0]['name']})",
                     data=data)
    return Check("same-gpu", "warning", "GL and CUDA are on different GPUs (device UUIDs differ)",
                 "CUDA-GL interop cannot work: frames take the PBO path through host memory. On a laptop with "
                 "two GPUs, run livecppn on the NVIDIA GPU (__NV_PRIME_RENDER_OFFLOAD=1 "
                 "__GLX_VENDOR_LIBRARY_NAME=nvidia, or the OS's 'high performance' GPU setting).", data)


def interop_check(ctx, cuda: dict) -> tuple[Check, str | None]:
    """The show's own interop decision (render/backends.interop_problem: same GPU by device UUID, then a
    one-frame CUDA → GL round trip); (the check, the problem or None)."""
    if not cuda["available"]:
        return Check("interop", "info", "not tried: no CUDA"), "CUDA is not available"
    from ..render.backends import interop_problem

    problem = interop_problem(ctx)
    if problem is None:
        return Check("interop", "ok", "same GPU; one frame CUDA → GL texture and back: pixels match"), None
    return Check("interop", "warning", f"CUDA-GL interop not used: {problem}",
                 "The cuda backend falls back to the PBO upload (slower); see same-gpu above.",
                 {"problem": problem}), problem


def backend_check(ctx, cuda: dict, problem: str | None, size: tuple[int, int], calibrate: bool) -> tuple[Check, dict]:
    """What `--backend auto` picks here and, measured like `livecppn live` does at start, the internal
    resolution it would render at for an output of `size`."""
    from ..render.backends import choose_backend
    from ..render.live_decks import TARGET_FPS

    choice = choose_backend("auto", cuda["available"], problem, ctx.info.get("GL_RENDERER", ""))
    data = {"backend": choice.backend, "sink": choice.sink, "output": list(size), "note": choice.note}
    if not calibrate:
        return Check("backend", "info", f"auto → {choice.backend} ({choice.sink}); not calibrated", data=data), data
    try:
        data.update(_calibrate(ctx, choice, size))
    except Exception as e:  # noqa: BLE001 - a backend that cannot render blocks the show
        return Check("backend", "problem", f"auto → {choice.backend} ({choice.sink}) fails to render: {e}",
                     "Force another backend (--backend cpu) and report this.", data), data
    w, h = data["internal"]
    detail = (f"auto → {choice.backend} ({choice.sink}) at {w}x{h} for {size[0]}x{size[1]}: "
              f"CPPN {data['cppn_ms']:.1f} ms, ~{data['fps']:.0f} fps")
    if data["cppn_ms"] > data["budget_ms"]:  # over its share of the frame even at the smallest size
        fps = TARGET_FPS[choice.backend]
        return Check("backend", "warning", detail, f"The network alone takes {data['cppn_ms']:.0f} ms, over its "
                     f"{data['budget_ms']:.0f} ms share of a {fps:.0f} fps frame, even at the smallest internal "
                     f"size: expect under {fps:.0f} fps and a coarse picture. " + (choice.note or ""), data), data
    return Check("backend", "warning" if choice.note else "ok", detail, choice.note or "", data), data


def _calibrate(ctx, choice, size: tuple[int, int]) -> dict:
    import torch

    from .. import paths
    from ..model.default_style import make_default_style
    from ..model.style import StyleError, load_style
    from ..render.backends import calibrate_internal_size, create_backend, fit_aspect
    from ..render.live_decks import CPPN_BUDGET, TARGET_FPS

    try:
        style = load_style(paths.default_style_path())
    except StyleError:
        style = make_default_style()
    start = time.perf_counter()
    with torch.no_grad():
        backend = create_backend(choice, ctx, style, fit_aspect(90, size[0] / size[1]))
        try:
            budget = 1000.0 / TARGET_FPS[choice.backend] * CPPN_BUDGET
            internal, cal = calibrate_internal_size(backend.generator, size[0] / size[1], budget, max_height=size[1])
        finally:
            backend.sink.release()
    return {"internal": list(internal), "cppn_ms": cal["chosen_ms"], "budget_ms": round(budget, 2),
            "fps": 1000.0 / max(cal["chosen_ms"], 1e-3), "seconds": round(time.perf_counter() - start, 2)}


def gpu_checks(size: tuple[int, int], calibrate: bool = True) -> list[Check]:
    """gl, cuda, same-gpu, interop, backend (in that order on screen; the calibration runs first so the
    GL warning can say what a software driver costs here)."""
    from ..render.gl import device_uuids, gl_info

    try:
        surface = open_gl()
    except Exception as e:  # noqa: BLE001
        return [Check("gl", "problem", f"no OpenGL 3.3 context: {e}",
                      "livecppn live needs OpenGL 3.3 core: run it on a desktop session (DISPLAY/WAYLAND_DISPLAY "
                      "set) with the GPU's driver installed.")]
    try:
        info = gl_info(surface.ctx)
        cuda = cuda_facts()
        uuids = device_uuids(surface.ctx, surface.get_proc_address)
        interop, problem = interop_check(surface.ctx, cuda)
        backend, facts = backend_check(surface.ctx, cuda, problem, size, calibrate)
    finally:
        surface.close()
    return [gl_check(info, surface.how, facts), cuda_check(cuda), same_gpu_check(uuids, cuda), interop, backend]
