"""The wheel carries its resources: build it, install it into a fresh virtual environment that cannot
see the source tree, and play, render and report from a temporary working folder.

The new environment gets the wheel only (`pip --python VENV install --no-deps --no-index`); its
dependencies (torch, moderngl, …) come from this test environment's site-packages through a .pth
file naming those folders, written after the install (so pip never sees this environment's own
livecppn). A .pth line only adds a folder to sys.path, after the new environment's own
site-packages, and runs no .pth file inside it: an editable livecppn there stays invisible.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from realparts import write_wav

from livecppn.audio.synth import synthetic_beat

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("livecppn", "shaders", "presets", "web", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(livecppn executable, its environment's python, env for running them, working folder)."""
    tmp = tmp_path_factory.mktemp("install")
    # no PYTHONPATH: it may name the checkout (and its livecppn.egg-info would pass for an install)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIVECPPN_PRESETS", "LIVECPPN_SHADERS")}
    env["LIVECPPN_HOME"] = str(tmp / "home")
    src = tmp / "src"  # a copy: the build's build/ folder and a stale file in it stay out of the checkout
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "_data"))
        else:
            shutil.copy(ROOT / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", tmp / "dist", src], env=env, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("livecppn-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], env=env, cwd=tmp)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel],
        env=env, cwd=tmp)
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env,
                       cwd=tmp).stdout.strip())
    ours = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (purelib / "test-deps.pth").write_text("".join(f"{p}\n" for p in ours if Path(p).is_dir()))
    work = tmp / "work"
    work.mkdir()
    return bindir / "livecppn", python, env, work, purelib / "livecppn"


def snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if "__pycache__" not in p.parts}


def test_the_wheel_carries_every_shader_preset_and_web_asset(installed):
    *_, package = installed
    data = package / "_data"
    for name in ("shaders", "presets", "web"):
        shipped = sorted(str(p.relative_to(ROOT / name)) for p in (ROOT / name).rglob("*") if p.is_file())
        assert shipped and sorted(str(p.relative_to(data / name)) for p in (data / name).rglob("*")
                                  if p.is_file()) == shipped, name


def test_the_installed_package_runs_from_anywhere(installed):
    livecppn, python, env, work, package = installed
    where = run([python, "-c", "import livecppn, livecppn.paths as p; print(livecppn.__file__); "
                 "print(p.shaders_dir()); print(p.presets_dir())"], cwd=work, env=env).stdout.split()
    assert all(Path(w).is_relative_to(package) for w in where), where  # not the checkout
    before = snapshot(package)

    report = work / "live.json"
    run([livecppn, "live", "--headless", "--frames", "30", "--audio", "synthetic", "--size", "320x180",
         "--internal", "64x36", "--report", report], cwd=work, env=env)
    assert json.loads(report.read_text())["frames"] == 30

    track = write_wav(work / "beat.wav", synthetic_beat(1.0, 44100), 44100, channels=2)
    run([livecppn, "render", track, "clip.mp4", "--size", "160x90", "--fps", "20", "--quiet"], cwd=work, env=env)
    assert (work / "clip.mp4").stat().st_size > 1000

    run([livecppn, "styles", "report", "neon", "--out", "report", "--json"], cwd=work, env=env)
    (style,) = json.loads((work / "report" / "report.json").read_text())["styles"]
    assert Path(style["path"]).is_relative_to(package) and style["passed"], style

    assert "--prompt" in run([livecppn, "train", "--help"], cwd=work, env=env).stdout
    shown = run([livecppn, "paths"], cwd=work, env=env).stdout
    assert str(package / "_data" / "shaders") in shown and env["LIVECPPN_HOME"] in shown
    assert snapshot(package) == before  # nothing written into the installed package
    assert sorted(p.name for p in work.iterdir()) == ["beat.wav", "clip.mp4", "live.json", "report"]
