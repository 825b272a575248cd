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
