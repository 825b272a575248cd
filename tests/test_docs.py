"""Generated documentation and shipped files are up to date with their sources."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_generated_sections_are_current():
    proc = subprocess.run([sys.executable, "tools/gen_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1: lines.index("```")]
    assert [line.split()[0] for line in block] == ["tools/live.sh", "tools/test.sh"]
    assert (ROOT / "tools/live.sh").is_file() and (ROOT / "tools/test.sh").is_file()
    assert "tools/test.sh" in (ROOT / ".ci/run").read_text()


def test_shipped_styles_match_their_recipes():
    proc = subprocess.run([sys.executable, "tools/build_styles.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
