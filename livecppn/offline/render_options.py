"""`livecppn render`'s settings: RenderOptions, its command line, and RenderOptions from the parsed arguments.

The defaults are the dataclasses' (RenderOptions, and EncodeOptions for the
encoder); the parser reads them from there. Light to import: building the
parser loads neither GL nor torch (render.py does the work).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from ..argtypes import add_backend_option, format_size, param_value, parse_size, positive_int
from ..media.encode import EncodeError, EncodeOptions
from .cluster_options import add_ray_options


class RenderOptionsError(ValueError):
    """Options that cannot make a render; the message names the option and what was expected."""


@dataclass
class RenderOptions:
    track: Path
    out: Path
    style: Path | None = None  # deck A (default: the shipped default style; an automation log's own)
    bank: Path | None = None  # deck loads and deck B's first style (slot 2), as live
    size: tuple[int, int] = (1920, 1080)
    fps: float = 60.0
    internal: tuple[int, int] | None = None  # the CPPN's resolution (default: the output size)
    backend: str = "auto"
    automation: Path | None = None
    seconds: float | None = None  # render only the first this many seconds
    initial: dict[str, float] = field(default_factory=dict)
    encode: EncodeOptions = EncodeOptions()
    progress: bool = True


def add_render_parser(sub) -> argparse.ArgumentParser:
    d, e = RenderOptions, RenderOptions.encode
    p = sub.add_parser(
        "render", help="render a video of a track offline (any size and fps, frame-exact)",
        description="Render TRACK through the same analyser, network and shaders as `livecppn live`, under the "
                    "offline frame clock (frame n sees the audio up to n/fps), to an H.264 MP4 with the "
                    "track's audio as AAC, or to a folder of PNGs. Deterministic: the same inputs give the "
                    "same frames. With --automation, replays a show's control changes (from `live --record`).",
    )
    p.add_argument("track", type=Path, help="audio file (wav, mp3, flac, ...; a recording's OUT.wav)")
    p.add_argument("out", type=Path, help="OUT.mp4 (.mov, .mkv), or a folder for a PNG sequence")
    p.add_argument("--style", type=Path, metavar="PATH",
                   help="deck A's style: a file or a name, the user's styles first (default: the default style, "
                        "or the automation log's)")
    p.add_argument("--bank", type=Path, metavar="FILE",
                   help="bank for deck loads: a file or a name, the user's banks first (default: default)")
    p.add_argument("--size", type=parse_size, default=d.size, metavar="WxH",
                   help=f"output size (default {format_size(d.size)})")
    p.add_argument("--fps", type=float, default=d.fps, help=f"frame rate (default {d.fps:g})")
    p.add_argument("--internal", type=parse_size, metavar="WxH",
                   help="the network's resolution, upscaled by the compositor (default: the output size)")
    add_backend_option(p, d.backend)
    p.add_argument("--automation", type=Path, metavar="FILE",
                   help="replay a show's automation log (OUT.automation.jsonl from `live --record`)")
    p.add_argument("--set", action="append", default=[], type=param_value, metavar="NAME=VALUE",
                   help="start with a parameter at a value (repeatable)")
    p.add_argument("--seconds", type=float, metavar="S", help="render only the first S seconds")
    p.add_argument("--codec", default=e.codec, metavar="NAME",
                   help="auto (h264_nvenc where it works, else libx264), libx264, h264_nvenc, or png")
    p.add_argument("--crf", type=int, default=e.crf, metavar="N",
                   help=f"H.264 constant quality, 0-51, lower is better and bigger (default {e.crf})")
    p.add_argument("--bitrate", metavar="RATE", help="a target bitrate instead of --crf, e.g. 20M")
    p.add_argument("--preset", default=e.preset, metavar="NAME",
                   help=f"libx264 speed/size preset (ultrafast ... veryslow; default {e.preset})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = add_ray_options(p, "the render (cut into segments of whole frames)")
    g.add_argument("--segments", type=positive_int, metavar="N",
                   help="with --ray: how many segments (default: two per task the cluster can run at once)")
    return p


def parse_bitrate(text: str | None) -> int | None:
    if text is None:
        return None
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        raise ValueError(f"--bitrate: expected a rate such as 8M or 2500k, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"--bitrate must be positive, got {text!r}")
    return int(value)


def options_from_args(args: argparse.Namespace) -> RenderOptions:
    """RenderOptions from `livecppn render`'s parsed arguments. Raises RenderOptionsError."""
    try:
        encode = EncodeOptions(codec=args.codec, crf=args.crf, bitrate=parse_bitrate(args.bitrate), preset=args.preset)
        encode.check()
    except (ValueError, EncodeError) as e:
        raise RenderOptionsError(str(e)) from None
    if args.seconds is not None and not args.seconds > 0:
        raise RenderOptionsError(f"--seconds must be positive, got {args.seconds}")
    return RenderOptions(track=args.track, out=args.out, style=args.style, bank=args.bank, size=args.size,
                         fps=args.fps, internal=args.internal, backend=args.backend, automation=args.automation,
                         seconds=args.seconds, initial=dict(args.set), encode=encode, progress=not args.quiet)
