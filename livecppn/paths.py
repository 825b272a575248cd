"""Where the shipped resources live: shaders/ and presets/ at the repository root.

LIVECPPN_SHADERS and LIVECPPN_PRESETS override them (for installs that put the
resources elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shaders_dir() -> Path:
    return Path(os.environ.get("LIVECPPN_SHADERS", ROOT / "shaders"))


def presets_dir() -> Path:
    return Path(os.environ.get("LIVECPPN_PRESETS", ROOT / "presets"))


def default_style_path() -> Path:
    return presets_dir() / "styles" / "default.safetensors"


def default_bank_path() -> Path:
    return presets_dir() / "banks" / "default.toml"
