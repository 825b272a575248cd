"""Write the shipped styles in presets/styles/ from their recipes (livecppn/model/library.py).

Running it again gives the same bytes (seeded recipes, fixed dates).
Usage: python tools/build_styles.py [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.model.library import library  # noqa: E402
from livecppn.model.style import save_style  # noqa: E402

RECIPES = {f"{name}.safetensors": builder for name, (_family, builder) in library().items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a shipped file differs from its recipe")
    ap.add_argument("--out", type=Path, default=ROOT / "presets" / "styles")
    args = ap.parse_args()
    bad = 0
    for name, recipe in RECIPES.items():
        target = args.out / name
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                fresh = save_style(recipe(), Path(tmp) / name).read_bytes()
            same = target.is_file() and target.read_bytes() == fresh
            print(f"{'ok ' if same else 'DIFFERS'} {target}")
            bad += not same
        else:
            save_style(recipe(), target)
            print(f"wrote {target} sha256 {hashlib.sha256(target.read_bytes()).hexdigest()[:16]}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
