"""tools/gpu_check.sh --dry-run: the GPU check's steps, run on the CPU at tiny sizes, leave what the
device's $OUT may bring back (at most 8 files, no folders) and a summary.md that reads alone; a step
over its time limit is killed and reported, and the steps after it still run.

One run (about 30 s): the glsl benchmark is given 1 s, which it overruns (GL context, program
compile and frames take several), so the same run proves both the working steps and the kill.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_dry_run_writes_a_readable_summary_and_reports_a_step_killed_over_its_limit(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "GPU_CHECK_LIMITS": "bench-glsl=1"}
    result = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    log = (out / "log.txt").read_text() if (out / "log.txt").exists() else ""
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:] + log[-3000:]
    assert "not passed: bench-glsl" in result.stdout

    # what comes back from the device: plain files only, named in letters, digits, '.', '_', '-'
    files = sorted(p.name for p in out.iterdir())
    assert all(p.is_file() for p in out.iterdir()) and len(files) <= 8, files
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files), files
    assert {"summary.md", "log.txt", "tests.xml", "bench_render.json", "bench_train.json"} <= set(files), files
    assert "bench_glsl.json" not in files  # killed before it wrote: no partial file

    summary = (out / "summary.md").read_text()
    assert summary.startswith("# GPU check (DRY RUN")
    steps = dict(re.findall(r"^\| ([a-z-]+) \| (\S+) \| \d+ \| \d+ \| -?\d+ \|$", summary, re.M))
    assert steps == {"nvidia-smi": "pass", "cuda-tests": "pass", "bench-render": "pass",
                     "bench-glsl": "**killed**", "bench-train": "pass"}, steps
    assert "bench_glsl.json: not written (the step failed or was killed)" in summary
    # every CUDA test was selected and skipped here with its reason (no CUDA device)
    tests = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped", summary, re.M)
    assert tests and tests.group(1, 2) == ("0", "0") and int(tests.group(3)) >= 4, summary
    assert "skip test_backends::test_interop_writes_exactly_the_tensors_pixels: no CUDA device here" in summary
    # the render table: the fused kernel (under the interpreter) and the CPU's eager row measured, the
    # CUDA graph with its reason
    assert re.search(r"^\| 32x18 \| one \| \d+\.\d+ \| n/a \| \d+\.\d+ \| \d+\.\d+ \|", summary, re.M), summary
    assert "graph: CUDA graphs need a CUDA device" in summary
    assert re.search(r"^\| 32x18 \| two \| pbo \| .* \| \d+\.\d+ \|", summary, re.M), summary  # the frame, 2 decks
    assert "| frame 1920x1080 >= 240 fps | not measured | - |" in summary
    assert re.search(r"style training, RN50.*\| \d.* s \| n/a", summary), summary
    render = json.loads((out / "bench_render.json").read_text())
    assert render["results"][0]["size"] == [32, 18] and "machine" in render
    assert json.loads((out / "bench_train.json").read_text())["pyramid"] == [32, 64]
