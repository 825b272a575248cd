"""Value types for the subcommands' options (argparse `type=` callables), shared by their parsers.

Each raises argparse.ArgumentTypeError naming the value and what was expected,
which argparse turns into a usage error (exit status 2). Imports only the
standard library and the control registry, so any parser may use them.
"""

from __future__ import annotations

import argparse

from .control.registry import default_registry


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if not (16 <= w <= 16384 and 16 <= h <= 16384):
        raise argparse.ArgumentTypeError(f"size {text!r} out of range (16..16384 on each side)")
    return w, h


def format_size(size: tuple[int, int]) -> str:
    """(1280, 720) -> "1280x720", as parse_size reads it (for help texts)."""
    return "x".join(str(v) for v in size)


def render_scale(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.5, got {text!r}") from None
    if not 0.05 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"render scale must be between 0.05 and 1, got {v}")
    return v


def param_value(text: str) -> tuple[str, float]:
    """`NAME=VALUE` for --set: NAME a parameter of the registry, VALUE a number."""
    specs = default_registry().specs
    name, sep, value = text.partition("=")
    if not sep or name not in specs:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(specs)}, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected a number, got {value!r}") from None


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


BACKENDS = ("auto", "cpu", "cuda", "glsl")  # where the network runs (render/backends.py resolves "auto")


def add_backend_option(p: argparse.ArgumentParser, default: str) -> None:
    """--backend, as `live` and `render` both take it."""
    p.add_argument("--backend", default=default, choices=BACKENDS,
                   help=f"where the network runs (default {default}: cuda where CUDA-GL interop works, else "
                        "glsl on a hardware GL driver, else cpu)")
