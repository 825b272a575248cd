"""The doctor's checks of the machine itself: Python and the packages, where things live and the disk
space where recordings go, and which rig outputs and Link could open here.

Rig outputs and Link are only imported, never started: an NDI sender or finder and a Link session
announce themselves on the network (NDIlib.initialize() is not called either)."""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
import shutil
import sys
from pathlib import Path

from .. import paths
from .check import Check

LOW_DISK_GB = 5.0  # less than this free where recordings go: a long recording may fill it


def python_check() -> Check:
    v = sys.version_info
    detail = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 10):
        return Check("python", "problem", detail, "livecppn needs Python 3.10 or newer.")
    return Check("python", "ok", detail, data={"version": f"{v.major}.{v.minor}.{v.micro}"})


def packages_check() -> Check:
    """livecppn's required packages (its own metadata): installed, at a version it accepts."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip's own dependency; without it the versions are shown, not judged
        Requirement = None
    try:
        requires = metadata.requires("livecppn") or []
    except metadata.PackageNotFoundError:
        return Check("packages", "warning", "livecppn is not installed as a package (running from the source tree)",
                     "pip install -e . installs it and its dependencies.")
    found, missing, wrong = {}, [], []
    for line in requires:
        if Requirement is None:
            if "extra ==" in line:
                continue
            name, req = re.match(r"[A-Za-z0-9_.-]+", line)[0], None
        else:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an extra, or another platform's
            name = req.name
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if req is not None and req.specifier and not req.specifier.contains(found[name], prereleases=True):
            wrong.append(f"{name} {found[name]} (needs {req.specifier})")
    keys = ("torch", "moderngl", "PyAudio")
    detail = ", ".join(f"{k} {found[k]}" for k in keys if k in found)
    data = {"installed": found, "missing": missing, "wrong_version": wrong,
            "livecppn": metadata.version("livecppn")}
    if missing or wrong:
        return Check("packages", "problem", "; ".join(filter(None, [
            "missing: " + ", ".join(missing) if missing else "", "wrong version: " + ", ".join(wrong) if wrong else ""])),
            "pip install -e . (or tools/setup.sh) installs what livecppn needs.", data)
    return Check("packages", "ok", f"{len(found)} required, all present: {detail}", data=data)


def paths_check() -> Check:
    """Where everything lives (paths.describe())."""
    where = paths.describe()
    return Check("paths", "info", "; ".join(f"{k} {v}" for k, v in where.items()),
                 data={k: str(v) for k, v in where.items()})


def disk_check() -> Check:
    where = paths.recordings_dir().expanduser().resolve()
    probe = where
    while not probe.exists() and probe != probe.parent:  # not made yet: the disk it will be made on
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 1e9
    data = {"recordings": str(where), "free_gb": round(free_gb, 1), "total_gb": round(usage.total / 1e9, 1)}
    detail = f"{free_gb:.1f} GB free where recordings go ({where})"
    if free_gb < LOW_DISK_GB:
        return Check("disk", "warning", detail, "A long recording may fill the disk (the show plays on, the "
                     "recording stops): free some space or record elsewhere (--record PATH).", data)
    return Check("disk", "ok", detail, data=data)


# (check name, module, platform it works on or None, what it enables, how to get it)
OPTIONAL = (
    ("ndi", "NDIlib", None, "--ndi", "pip install 'livecppn[rig]'"),
    ("vcam", "pyvirtualcam", None, "--vcam", "pip install 'livecppn[rig]'"),
    ("syphon", "syphon", "darwin", "--syphon", "pip install 'livecppn[rig]'"),
    ("spout", "SpoutGL", "win32", "--spout", "pip install 'livecppn[rig]'"),
    ("link", "link", None, "--link", "pip install 'livecppn[link]'"),
)


def optional_checks() -> list[Check]:
    """Rig outputs and Link: importable here, or not (never started: see the module's docstring)."""
    out = []
    for name, module, platform, flag, get in OPTIONAL:
        if platform is not None and sys.platform != platform:
            continue  # Syphon on macOS, Spout on Windows: not a question elsewhere
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - an import error, or a native library that does not load
            out.append(Check(name, "info", f"{flag} unavailable: {module} does not import ({e})"[:200],
                             f"Only needed for {flag}: {get}.", {"available": False, "error": str(e)}))
            continue
        detail, data = f"{flag} available ({module} imports)", {"available": True}
        if name == "vcam" and sys.platform.startswith("linux"):
            devices = sorted(str(p) for p in Path("/dev").glob("video*"))
            data["devices"] = devices
            if not devices:
                out.append(Check(name, "info", f"{detail}; no /dev/video* device",
                                 "For --vcam: sudo modprobe v4l2loopback exclusive_caps=1", data))
                continue
            detail += f"; {', '.join(devices)}"
        out.append(Check(name, "ok", detail, data=data))
    return out
