"""Where things live: the shipped resources, and the user's own data (DESIGN §3).

Shipped: shaders/, presets/ and web/ (the style gallery's page templates and
assets) sit at the repository's top level; a wheel carries them inside the
package as livecppn/_data/ (setup.py's build step). An installed package's copy
wins, else the source checkout's (an editable install uses the checkout's).
LIVECPPN_SHADERS, LIVECPPN_PRESETS and LIVECPPN_WEB override both.

The user's own: styles, banks and mappings in the platform's user data folder
(platformdirs: ~/.local/share/livecppn, ~/Library/Application Support/livecppn,
%APPDATA%\\livecppn), laid out like presets/ (styles/, banks/, mappings/),
so a user bank's "styles/mine.safetensors" means the user's styles folder.
Lookups by name search the user's folder first, then the shipped presets; the
program writes only into user folders, never into the installed package.
Recordings go to the user's videos folder (…/Videos/livecppn): a take is a
video the user wants to find, often gigabytes, not hidden program data.
LIVECPPN_HOME puts all of the user's folders under one folder (tests, a
portable setup).

Nothing here creates a folder when imported or asked where it is; writers make
their folder when they write.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "livecppn"
PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent  # the source checkout's root, when this is one
INSTALLED_DATA = PACKAGE / "_data"  # what a wheel carries (setup.py copies shaders/, presets/ and web/ there)


def _shipped(name: str, env: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    installed = INSTALLED_DATA / name
    return installed if installed.is_dir() else ROOT / name


def shaders_dir() -> Path:
    return _shipped("shaders", "LIVECPPN_SHADERS")


def presets_dir() -> Path:
    return _shipped("presets", "LIVECPPN_PRESETS")


def web_dir() -> Path:
    """The style gallery's page template and assets (`livecppn styles gallery`)."""
    return _shipped("web", "LIVECPPN_WEB")


def _home() -> Path | None:
    home = os.environ.get("LIVECPPN_HOME")
    return Path(home) if home else None


def user_data_dir() -> Path:
    """The user's own styles, banks, mappings and trained styles (laid out like presets/)."""
    home = _home()
    return home if home else platformdirs.user_data_path(APP, appauthor=False, roaming=True)


def user_config_dir() -> Path:
    """Settings (nothing is written here yet; `livecppn doctor` and later settings will be)."""
    home = _home()
    return home / "config" if home else platformdirs.user_config_path(APP, appauthor=False, roaming=True)


def recordings_dir() -> Path:
    """Where takes go without --record: the platform's videos folder, in a livecppn folder."""
    home = _home()
    return home / "recordings" if home else platformdirs.user_videos_path() / APP


def trained_styles_dir() -> Path:
    """`livecppn train`'s default output: the user's styles folder, so a trained style loads by name."""
    return user_data_dir() / "styles"


def user_mappings_dir() -> Path:
    """Where MIDI learn saves (learn_save)."""
    return user_data_dir() / "mappings"


def _dirs(kind: str) -> list[Path]:
    return [user_data_dir() / kind, presets_dir() / kind]


def styles_dirs() -> list[Path]:
    """Folders searched for a style by name: the user's first, then the shipped presets."""
    return _dirs("styles")


def banks_dirs() -> list[Path]:
    return _dirs("banks")


def mappings_dirs() -> list[Path]:
    return _dirs("mappings")


def preset_roots() -> list[Path]:
    """The folders laid out like presets/ (styles/, banks/, mappings/): the user's, then the shipped."""
    return [user_data_dir(), presets_dir()]


def find(name_or_path: str | Path, dirs: list[Path], suffix: str) -> Path:
    """An existing path, or a path with a folder in it, as given; else a name ('neon' or
    'neon.safetensors') looked up in `dirs` in order. A name found nowhere gives the path it would
    have in the last (shipped) folder, for the caller's error message."""
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    file = path.name if path.suffix == suffix else f"{path.name}{suffix}"
    for folder in dirs:
        if (folder / file).is_file():
            return folder / file
    return dirs[-1] / file


def find_style(name_or_path: str | Path) -> Path:
    return find(name_or_path, styles_dirs(), ".safetensors")


def find_bank(name_or_path: str | Path) -> Path:
    return find(name_or_path, banks_dirs(), ".toml")


def find_mapping(name_or_path: str | Path) -> Path:
    return find(name_or_path, mappings_dirs(), ".toml")


def default_style_path() -> Path:
    """The user's default.safetensors if they made one, else the shipped default."""
    return find_style("default")


def default_bank_path() -> Path:
    return find_bank("default")


def describe() -> dict[str, str]:
    """Where everything is, for `livecppn paths` (and `livecppn doctor`): label → folder."""
    return {
        "package": str(PACKAGE),
        "shaders": str(shaders_dir()),
        "presets (shipped)": str(presets_dir()),
        "user data": str(user_data_dir()),
        "user config": str(user_config_dir()),
        "styles (by name)": " then ".join(map(str, styles_dirs())),
        "banks (by name)": " then ".join(map(str, banks_dirs())),
        "mappings (by name)": " then ".join(map(str, mappings_dirs())),
        "learned mappings": str(user_mappings_dir()),
        "trained styles": str(trained_styles_dir()),
        "recordings": str(recordings_dir()),
    }
