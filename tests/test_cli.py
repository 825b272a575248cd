"""The `livecppn` parser: options built beside their dataclasses, defaults declared once, imports one way."""

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from livecppn.cli import build_parser
from livecppn.control.registry import default_registry
from livecppn.live_options import LiveOptions, LiveOptionsError
from livecppn.live_options import options_from_args as live_options
from livecppn.offline.render_options import RenderOptions, RenderOptionsError
from livecppn.offline.render_options import options_from_args as render_options

ROOT = Path(__file__).resolve().parent.parent


def test_the_parsers_defaults_are_the_dataclasses():
    parser = build_parser()
    assert live_options(parser.parse_args(["live"])) == LiveOptions()
    assert render_options(parser.parse_args(["render", "a.wav", "b.mp4"])) == RenderOptions(Path("a.wav"),
                                                                                            Path("b.mp4"))


def test_options_map_onto_the_dataclasses():
    parser = build_parser()
    opts = live_options(parser.parse_args(["live", "--no-osc", "--no-hud", "--set", "crossfader=0.5",
                                           "--record-crf", "30", "--record-codec", "libx264", "--size", "320x180"]))
    assert opts == LiveOptions(osc_port=None, hud=False, initial={"crossfader": 0.5}, size=(320, 180),
                               record_options=replace(LiveOptions.record_options, crf=30, codec="libx264"))
    opts = render_options(parser.parse_args(["render", "a.wav", "b.mp4", "--bitrate", "8M", "--quiet",
                                             "--set", "trails=0.25"]))
    assert opts.encode.bitrate == 8_000_000 and not opts.progress and opts.initial == {"trails": 0.25}


@pytest.mark.parametrize("argv, message", [
    (["live", "--headless"], "--headless needs --frames N"),
    (["live", "--record-fps", "-1"], "--record-fps must be 0"),
    (["live", "--record-crf", "99"], "crf must be 0..51, got 99"),
])
def test_live_options_that_cannot_make_a_show_are_named(argv, message):
    with pytest.raises(LiveOptionsError, match=message):
        live_options(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv, message", [
    (["--bitrate", "fast"], "--bitrate: expected a rate"),
    (["--seconds", "0"], "--seconds must be positive"),
    (["--codec", "vp9"], "unknown codec 'vp9'"),
])
def test_render_options_that_cannot_make_a_render_are_named(argv, message):
    with pytest.raises(RenderOptionsError, match=message):
        render_options(build_parser().parse_args(["render", "a.wav", "b.mp4", *argv]))


def test_set_names_come_from_the_registry(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["live", "--set", "no_such_param=1"])
    assert exit_.value.code == 2
    assert ", ".join(s.name for s in default_registry().params) in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["render", "a.wav", "b.mp4", "--set", "crossfader=half"])
    assert "crossfader: expected a number, got 'half'" in capsys.readouterr().err


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_trainers_modules_import_one_way():
    offline = ROOT / "livecppn" / "offline"
    assert not {"train_cli", "train_batch"} & imports_of(offline / "train_job.py")
    assert "train_cli" not in imports_of(offline / "train_batch.py")


def test_building_the_parser_loads_no_trainer_gl_or_torch():
    code = ("import sys, livecppn.cli\n"
            "livecppn.cli.build_parser()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('open_clip', 'torchvision', 'timm', 'torch', 'ray', 'glfw')))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_version_is_printed(capsys):
    import livecppn
    from livecppn.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"livecppn {livecppn.__version__}"
