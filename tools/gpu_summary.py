"""summary.md for tools/gpu_check.sh: the machine, each step's result and time, the tests, and the
benchmarks' figures beside issue 19's targets. Reads what the steps left in --out (bench_render.json,
bench_glsl.json, bench_train.json, tests.xml) and the steps' table (name, result, seconds, exit, limit).
A missing or broken file is said in the summary, never fatal: the summary is what comes back.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TARGETS_NOTE = "Targets: issue 19, one H100, fp16, the 4 x 128 default style."


def load(path: Path) -> tuple[dict | None, str | None]:
    if not path.exists():
        return None, f"{path.name}: not written (the step failed or was killed)"
    try:
        return json.loads(path.read_text()), None
    except (OSError, json.JSONDecodeError) as e:
        return None, f"{path.name}: unreadable ({e})"


def version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_lines(docs: list[dict | None]) -> list[str]:
    m = next((d["machine"] for d in docs if d and "machine" in d), {})
    gpu = m.get("gpu")
    driver = m.get("driver")
    if gpu is None:
        try:
            q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
            gpu, driver = (q.split(", ") + [None])[:2] if q else (None, None)
        except (OSError, subprocess.TimeoutExpired):
            pass
    gl = next((d["gl"] for d in docs if d and "gl" in d), {})
    return [f"- GPU: {gpu or 'none'}; driver {driver or '-'}; CUDA (torch) {m.get('cuda', '-')}",
            f"- torch {version('torch')}, triton {version('triton')}, cuda-bindings {version('cuda-bindings')}, "
            f"moderngl {version('moderngl')}, open_clip {version('open_clip_torch')}, Python {platform.python_version()}",
            f"- GL (EGL): {gl.get('renderer', '-')} ({gl.get('version', '-')})",
            f"- host: {platform.platform()}, {m.get('cpus', '-')} CPUs"]


def steps_table(steps: Path) -> list[str]:
    out = ["| step | result | seconds | limit s | exit |", "| --- | --- | --- | --- | --- |"]
    why = []
    for line in steps.read_text().splitlines():
        name, result, secs, rc, limit, last = (line.split("\t") + [""])[:6]
        out.append(f"| {name} | {'**' + result + '**' if result != 'pass' else result} | {secs} | {limit} | {rc} |")
        if result != "pass":
            why.append(f"- {name}: {'over its limit, killed; ' if result == 'killed' else ''}last output: `{last}`")
    return out + ([""] + why if why else [])


def tests_lines(path: Path) -> list[str]:
    if not path.exists():
        return ["tests.xml not written (the step was killed before pytest finished)"]
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return [f"tests.xml unreadable ({e})"]
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    lines = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            counts["failed"] += 1
            lines.append(f"- FAIL {name}: {(bad.get('message') or '').splitlines()[0][:200] if bad.get('message') else ''}")
        elif skip is not None:
            counts["skipped"] += 1
            lines.append(f"- skip {name}: {(skip.get('message') or '')[:200]}")
        else:
            counts["passed"] += 1
            lines.append(f"- pass {name}")
    return [", ".join(f"{v} {k}" for k, v in counts.items()) + " (`pytest -m cuda`)", ""] + lines


def ms(cell: dict | None) -> str:
    if not cell:
        return "-"
    return f"{cell['ms']['mean']:.3f}" if "ms" in cell else "n/a"


def render_tables(doc: dict) -> list[str]:
    rows = doc["results"]
    out = [] if doc.get("complete", True) else [
        f"**Partial**: the step stopped after {len(rows)} size(s); the sizes measured are below.", ""]
    out += ["CPPN alone, ms per frame (mean; two = two generators per frame, crossfading):", "",
           "| size | decks | fused | graph | eager | fp32 baseline | graph/fused | baseline/fused | peak GPU MB |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        size = "x".join(map(str, r["size"]))
        for n, cells in r["cppn"].items():
            f, g, b = cells.get("fused", {}), cells.get("graph", {}), cells.get("baseline", {})
            ratio = lambda a, c: f"{a['ms']['mean'] / c['ms']['mean']:.1f}x" if "ms" in a and "ms" in c else "-"  # noqa: E731
            mem = max((c.get("gpu_memory_mb") or 0 for c in cells.values() if c.get("kernel") != "fp32 baseline"),
                      default=0)
            out.append(f"| {size} | {n} | {ms(f)} | {ms(g)} | {ms(cells.get('eager'))} | {ms(b)} | {ratio(g, f)} | "
                       f"{ratio(b, f)} | {mem or '-'} |")
    errors = sorted({f"{k}: {c['error']}" for r in rows for cells in r["cppn"].values() for k, c in cells.items()
                     if "error" in c})
    out += [""] + [f"- {e}" for e in errors]
    out += ["", "The frame headless (decks, sink, compositor, HUD; no audio):", "",
            "| size | decks | sink | kernel | fps | frame ms | copy ms mean/p99 | peak GPU MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        for n, f in r.get("frame", {}).items():
            if "fps" in f:
                out.append(f"| {'x'.join(map(str, r['size']))} | {n} | {f['sink']} | {f['kernel'] or '-'} | {f['fps']} | "
                           f"{f['frame_ms']} | {f['copy_ms']['mean']}/{f['copy_ms']['p99']} | {f['gpu_memory_mb'] or '-'} |")
            else:
                out.append(f"| {'x'.join(map(str, r['size']))} | {n} | - | - | - | - | - | {f.get('error', '')} |")
    return out


def find(doc: dict | None, size: tuple[int, int]) -> dict | None:
    return next((r for r in (doc or {}).get("results", []) if tuple(r["size"]) == size), None)


def targets(render: dict | None, train: dict | None) -> list[str]:
    hd, uhd = (1920, 1080), (3840, 2160)
    out = ["| target | measured | met |", "| --- | --- | --- |"]

    def row(what: str, value: float | None, ok, unit: str = "", applies: bool = True) -> None:
        if value is None:
            out.append(f"| {what} | not measured | - |")
        else:
            met = ("yes" if ok(value) else "**no**") if applies else "n/a (not the target's setting)"
            out.append(f"| {what} | {value:.3g}{unit} | {met} |")

    def kernel_ms(size, kernel, n="one"):
        r = find(render, size)
        c = r and r["cppn"][n].get(kernel)
        return c["ms"]["mean"] if c and "ms" in c else None

    def frame(size, n="one"):
        r = find(render, size)
        return r and r.get("frame", {}).get(n) if r else None

    row("fused 1920x1080 <= 0.5 ms", kernel_ms(hd, "fused"), lambda v: v <= 0.5, " ms")
    row("fused 3840x2160 <= 2 ms", kernel_ms(uhd, "fused"), lambda v: v <= 2, " ms")
    f4, g4, b4 = kernel_ms(uhd, "fused"), kernel_ms(uhd, "graph"), kernel_ms(uhd, "baseline")
    row("fused >= 5x the graph path at 4K", g4 / f4 if f4 and g4 else None, lambda v: v >= 5, "x")
    row("fused >= 50x the eager fp32 baseline at 4K", b4 / f4 if f4 and b4 else None, lambda v: v >= 50, "x")
    for size, fps in ((hd, 240), (uhd, 120)):
        f = frame(size)
        row(f"frame {size[0]}x{size[1]} >= {fps} fps", f.get("fps") if f else None, lambda v, t=fps: v >= t, " fps")
    f1, f2 = frame(hd), frame(hd, "two")
    row("interop copy <= 0.3 ms at 1080p", f1["copy_ms"]["mean"] if f1 and "copy_ms" in f1 else None,
        lambda v: v <= 0.3, " ms")
    row("two decks crossfading <= 1.6x one (1080p frame)", f2.get("two_over_one") if f2 else None,
        lambda v: v <= 1.6, "x")
    row("GPU memory <= 1 GB at 1080p (two decks)", f2.get("gpu_memory_mb") if f2 else None, lambda v: v <= 1024, " MB")
    proj = train.get("projected_style_s") if train else None
    real = train and train.get("clip") == "RN50" and tuple(train.get("pyramid", (256, 512))) == (256, 512)
    what = "style training, RN50, 800 its 256->512 <= 60 s"
    if train and not real:
        what += f" (here: {train.get('clip')} at {','.join(map(str, train.get('pyramid', [])))}, {train.get('iterations')} its)"
    row(what, proj, lambda v: v <= 60, " s", applies=bool(real and train.get("iterations") == 800))
    return out


def glsl_table(doc: dict) -> list[str]:
    out = ["| size | backend | sink | first ms | cppn ms p50 | frame ms p50 | fps |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in doc["results"]:
        out.append(f"| {'x'.join(map(str, r['size']))} | {r['backend']} | {r['sink']} | {r['first_ms']} | "
                   f"{r['cppn_ms']['p50']} | {r['frame_ms']['p50']} | {r['fps']} |")
    return out


def train_lines(doc: dict) -> list[str]:
    out = [f"CLIP {doc['clip']} ({doc['clip_image_size']} px, random weights) on {doc['device']}, "
           f"{doc['states']} states x {doc['augs']} views, CPPN {doc['cppn'][0]}x{doc['cppn'][1]}, "
           f"peak GPU {doc.get('peak_gpu_memory_gib') or '-'} GiB", "",
           "| level px | s/it median | its in style |", "| --- | --- | --- |"]
    out += [f"| {lv['size']} | {lv['s_per_it_median']:.4f} | {lv['iterations_in_style']} |" for lv in doc["levels"]]
    out += ["", f"Projected {doc['iterations']}-iteration style: **{doc['projected_style_s']:.1f} s** "
                f"(+ {doc['clip_load_s']:.1f} s loading CLIP)"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    render, e1 = load(args.out / "bench_render.json")
    glsl, e2 = load(args.out / "bench_glsl.json")
    train, e3 = load(args.out / "bench_train.json")
    if train is not None:
        train.setdefault("pyramid", [lv["size"] for lv in train.get("levels", [])])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"# GPU check{' (DRY RUN: CPU, tiny sizes; proves the script, no figure here is a GPU' + chr(39) + 's)' if args.dry_run else ''}",
          "", f"{now}, tools/gpu_check.sh{' --dry-run' if args.dry_run else ''}", ""]
    md += machine_lines([render, glsl, train]) + ["", "## Steps", ""] + steps_table(args.steps)
    md += [""] + [f"- {e}" for e in (e1, e2, e3) if e]
    md += ["", "## Targets", "", TARGETS_NOTE, ""] + targets(render, train)
    md += ["", "## CUDA tests", ""] + tests_lines(args.out / "tests.xml")
    for title, doc, table in (("Render (tools/bench_render.py)", render, render_tables),
                              ("glsl beside cuda (tools/bench_glsl.py)", glsl, glsl_table),
                              ("Style training (tools/bench_train.py)", train, train_lines)):
        md += ["", f"## {title}", ""]
        try:
            md += table(doc) if doc else ["not measured (see Steps)"]
        except (KeyError, TypeError, ValueError) as e:
            md += [f"could not read its JSON: {type(e).__name__}: {e}"]
    md += ["", "Files beside this one: bench_render.json, bench_glsl.json, bench_train.json, tests.xml, log.txt."]
    (args.out / "summary.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
