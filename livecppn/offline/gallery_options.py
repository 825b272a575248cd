"""`livecppn styles gallery`'s settings (GalleryOptions) and defaults. The standard library only: the command
line (cli.py, train_options.py) reads the defaults from here without loading torch or GL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SECONDS = 4.0  # two bars of the built-in 120 BPM beat: the loop's music is seamless
DEFAULT_SIZE = (320, 180)
DEFAULT_FPS = 30.0


@dataclass
class GalleryOptions:
    paths: list[Path] = field(default_factory=list)  # style files, folders, names; empty: the shipped bank's
    out: Path = Path("gallery")
    audio: Path | None = None  # the clips' track; None: the built-in synthetic beat
    seconds: float = DEFAULT_SECONDS
    size: tuple[int, int] = DEFAULT_SIZE
    fps: float = DEFAULT_FPS
    title: str | None = None
