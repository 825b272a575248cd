"""Benchmark `livecppn styles gallery`: how long the page takes to make and how much it weighs.

Makes the gallery of the shipped library (or of PATHS) at the default settings into a temporary folder
(or --keep DIR), and prints and saves: styles, clip length, the page's total size (budget: 20 MB for the
16 shipped styles), wall time (all, and the style report's part), and this process's CPU time (a fairer
figure on a shared machine). Usage:
  python tools/bench_gallery.py [PATHS ...] [--seconds 4] [--keep DIR] [--out out/bench_gallery.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.offline.gallery import GalleryOptions, make_gallery  # noqa: E402
from livecppn.offline.gallery_options import DEFAULT_SECONDS  # noqa: E402
from benchio import save  # noqa: E402

BUDGET_BYTES = 20_000_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, help="styles (default: the shipped bank's)")
    ap.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    ap.add_argument("--keep", type=Path, metavar="DIR", help="make the gallery here and keep it")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_gallery.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="livecppn-bench-gallery-") as tmp:
        folder = args.keep or Path(tmp) / "gallery"
        summary = make_gallery(GalleryOptions(paths=list(args.paths), out=folder, seconds=args.seconds))
    summary["index"] = str(folder / "index.html") if args.keep else "(temporary)"
    summary["budget_bytes"] = BUDGET_BYTES
    print(f"{summary['styles']} styles, {summary['seconds']:g} s clips: {summary['bytes'] / 1e6:.2f} MB "
          f"(budget {BUDGET_BYTES / 1e6:g} MB), {summary['elapsed_s']:g} s wall ({summary['report_s']:g} s of it "
          f"the style report), {summary['cpu_s']:g} s CPU, {summary['rendered']} clips rendered")
    save(args.out, summary)
    return 0 if summary["bytes"] <= BUDGET_BYTES else 1


if __name__ == "__main__":
    raise SystemExit(main())
