"""GL helpers: context creation and shader programs loaded by name from shaders/.

A program is one file, `shaders/NAME.glsl`, holding both stages behind
`#if defined VERTEX_SHADER` / `#elif defined FRAGMENT_SHADER` (the
moderngl-window convention), so Python holds no shader strings.
"""

from __future__ import annotations

import moderngl

from ..paths import shaders_dir

GLSL_VERSION = "#version 330 core"


class ShaderError(RuntimeError):
    """A shader that failed to load or compile; names the file and the driver's message."""


def load_program(ctx: moderngl.Context, name: str, defines: dict[str, str] | None = None) -> moderngl.Program:
    path = shaders_dir() / f"{name}.glsl"
    try:
        source = path.read_text()
    except OSError as e:
        raise ShaderError(f"shader {path}: cannot read ({e})") from None
    extra = "".join(f"#define {k} {v}\n" for k, v in (defines or {}).items())

    def stage(define: str) -> str:
        # `#line 1` keeps the driver's line numbers equal to the file's.
        return f"{GLSL_VERSION}\n#define {define}\n{extra}#line 1\n{source}"

    try:
        return ctx.program(vertex_shader=stage("VERTEX_SHADER"), fragment_shader=stage("FRAGMENT_SHADER"))
    except moderngl.Error as e:
        raise ShaderError(f"shader {path}: {e}") from None


def gl_info(ctx: moderngl.Context) -> dict[str, str]:
    info = ctx.info
    return {
        "vendor": info.get("GL_VENDOR", "?"),
        "renderer": info.get("GL_RENDERER", "?"),
        "version": info.get("GL_VERSION", "?"),
    }


SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software")  # GL_RENDERER substrings


def is_software_name(renderer: str) -> bool:
    """Whether a GL_RENDERER string names a software rasteriser (Mesa llvmpipe or softpipe, SwiftShader)."""
    return any(s in renderer.lower() for s in SOFTWARE_RENDERERS)


# GL_EXT_memory_object's UUIDs: the device GL runs on, comparable with CUDA's device UUID (the same
# 16 bytes where GL and CUDA share a GPU), which decides whether CUDA-GL interop can work.
GL_NUM_DEVICE_UUIDS_EXT = 0x9596
GL_DEVICE_UUID_EXT = 0x9597
GL_DRIVER_UUID_EXT = 0x9598


def proc_loader():
    """`name -> address` for the current context's GL entry points: glfw's where a glfw window is
    current, else EGL's (a headless context), else one that finds nothing."""
    import ctypes

    try:
        import glfw

        if glfw.get_current_context():
            return lambda name: glfw.get_proc_address(name) or 0
    except Exception:  # noqa: BLE001 - no glfw library, or not initialised: try EGL
        pass
    try:
        egl = ctypes.CDLL("libEGL.so.1")
    except OSError:
        return lambda name: 0
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    return lambda name: egl.eglGetProcAddress(name.encode()) or 0


def device_uuids(ctx: moderngl.Context, get_proc_address) -> list[bytes] | None:
    """The UUIDs of the devices this context runs on (GL_EXT_memory_object), or None where the driver
    lacks the extension. moderngl does not expose the query: `get_proc_address(name) -> int` is the
    context's loader (glfw.get_proc_address, eglGetProcAddress). The context must be current."""
    import ctypes

    if "GL_EXT_memory_object" not in ctx.extensions:
        return None
    int_at, bytes_at = get_proc_address("glGetIntegerv"), get_proc_address("glGetUnsignedBytei_vEXT")
    if not int_at or not bytes_at:  # calling a null entry point would crash the process
        return None
    get_int = ctypes.CFUNCTYPE(None, ctypes.c_uint, ctypes.POINTER(ctypes.c_int))(int_at)
    get_bytes = ctypes.CFUNCTYPE(None, ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_ubyte))(bytes_at)
    count = ctypes.c_int(0)
    get_int(GL_NUM_DEVICE_UUIDS_EXT, ctypes.byref(count))
    out = []
    for i in range(count.value):
        buf = (ctypes.c_ubyte * 16)()
        get_bytes(GL_DEVICE_UUID_EXT, i, buf)
        out.append(bytes(buf))
    ctx.error  # noqa: B018 - reading it clears a GL error the query may have raised
    return out
