"""`livecppn styles report`: every shipped style passes the stated thresholds, and the metrics catch
what they claim to (a flat, a deaf or a duplicated style)."""

import json
import subprocess
import sys

import pytest
from pathlib import Path
import torch

from livecppn.model.cppn import CPPNConfig, build
from livecppn.model.style import Style, save_style
from livecppn.offline.report import THRESHOLDS, ReportError, colourfulness, report, write_report
from livecppn.paths import presets_dir


@pytest.fixture(scope="module")
def shipped():
    return report([])  # the default bank's styles, in slot order


def test_every_shipped_style_passes_the_thresholds(shipped, tmp_path):
    reports, thumbs = shipped
    assert len(reports) >= 12
    failing = {r.name: r.failures for r in reports if not r.passed}
    assert not failing, failing
    doc = write_report(reports, thumbs, tmp_path)
    assert doc["passed"] and doc["thresholds"] == {t.metric: t.minimum for t in THRESHOLDS}
    sheet = tmp_path / "contact_sheet.png"
    assert sheet.stat().st_size < 500_000
    assert "| mono | fractal |" in (tmp_path / "report.md").read_text()
    mono = next(r for r in reports if r.name == "mono")
    assert mono.metrics["colourfulness"] is None  # an all-grey palette is monochrome by design
    # No machine's absolute paths: below the working folder, paths are relative (the committed report too).
    import json

    assert all(not Path(r.path).is_absolute() for r in reports if Path(r.path).resolve().is_relative_to(Path.cwd()))
    committed = json.loads((Path(__file__).resolve().parents[1] / "docs" / "styles" / "report.json").read_text())
    assert all(not Path(s["path"]).is_absolute() for s in committed["styles"])


def flat_style(name="flat"):
    model = build(CPPNConfig(layers=2, width=8, activations=("sin", "tanh")), seed=1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.out.bias.copy_(torch.tensor([1.0, -1.0, 0.5]))
    return Style.from_model(model, name)


def test_bad_styles_fail_the_metrics_meant_to_catch_them(tmp_path):
    flat = save_style(flat_style(), tmp_path / "flat.safetensors")
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes((presets_dir() / "styles" / "ember.safetensors").read_bytes())
    reports, _ = report([flat, presets_dir() / "styles" / "ember.safetensors", copy])
    by_name = {r.path.split("/")[-1]: r for r in reports}
    bad = by_name["flat.safetensors"]
    assert bad.metrics["variation"] < 0.01 and bad.metrics["reactivity"] < 0.01
    assert any(f.startswith("variation") for f in bad.failures)
    assert any(f.startswith("reactivity") for f in bad.failures)
    assert bad.metrics["coherence"] > 0.99  # still: perfectly coherent, and still failing
    for dup in ("ember.safetensors", "copy.safetensors"):
        assert by_name[dup].metrics["distinctness"] == 0.0
        assert any(f.startswith("distinctness") for f in by_name[dup].failures)


def test_colourfulness_reads_grey_as_zero():
    grey = torch.full((10, 10, 3), 128, dtype=torch.uint8).numpy()
    assert colourfulness(grey) == 0.0
    red = grey.copy()
    red[..., 0] = 255
    red[..., 1:] = 0
    assert colourfulness(red) > 59


def test_unreadable_style_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a style")
    with pytest.raises(ReportError, match="bad.safetensors"):
        report([bad])
    with pytest.raises(ReportError, match="no .safetensors"):
        report([tmp_path / "empty"] if (tmp_path / "empty").mkdir() is None else [])


def test_cli_writes_the_report_and_exits_by_the_thresholds(tmp_path):
    styles = presets_dir() / "styles"
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "-m", "livecppn", "styles", "report", str(styles / "neon.safetensors"),
                           str(styles / "coral.safetensors"), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [s["name"] for s in doc["styles"]] == ["neon", "coral"] and doc["passed"]
    assert doc["styles"][0]["family"] == "geometric"
    assert (out / "contact_sheet.png").is_file() and json.loads((out / "report.json").read_text()) == doc
    flat = save_style(flat_style(), tmp_path / "flat.safetensors")
    proc = subprocess.run([sys.executable, "-m", "livecppn", "styles", "report", str(flat), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "| flat |" in proc.stdout and "NO" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "livecppn", "styles", "report", str(tmp_path / "nope.safetensors"),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "nope.safetensors" in proc.stderr and "no such file" in proc.stderr
