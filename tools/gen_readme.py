"""Regenerate the README's generated sections from their one declaration.

The parameter table comes from livecppn.control.registry and the CLI
reference from the argparse parser. Usage: python tools/gen_readme.py [--check]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.cli import build_parser  # noqa: E402
from livecppn.control.osc_addresses import address_table  # noqa: E402
from livecppn.control.registry import default_registry  # noqa: E402

REGISTRY = default_registry()


def param_table() -> str:
    rows = ["| name | range | default | unit | smoothing | what it does |", "| --- | --- | --- | --- | --- | --- |"]
    for s in REGISTRY.params:
        rows.append(f"| `{s.name}` | {s.minimum:g} – {s.maximum:g} | {s.default:g} | {s.unit or '–'} "
                    f"| {s.smoothing:g} s | {s.description} |")
    return "\n".join(rows)


def cli_reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it so the output is stable
    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]

    def commands(p, prefix):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        for name, child in (subs[0].choices.items() if subs else ()):
            parts.extend(["", f"`{prefix} {name}`:", "", "```text", child.format_help().rstrip(), "```"])
            commands(child, f"{prefix} {name}")

    commands(parser, "livecppn")
    return "\n".join(parts)


def style_table() -> str:
    """The shipped library: the default bank's slots, each style's family, look and shape."""
    from livecppn.model.bank import load_bank
    from livecppn.model.library import describe
    from livecppn.model.style import load_style
    from livecppn.paths import default_bank_path

    bank = load_bank(default_bank_path())
    rows = ["| slot | style | family | look | coordinates | colour |", "| --- | --- | --- | --- | --- | --- |"]
    for slot in sorted(bank.slots):
        path = bank.slots[slot]
        c = load_style(path).config
        shape = c.transform if c.transform == "none" or c.symmetry == 1 else f"{c.transform} {c.symmetry}"
        colour = f"palette of {len(c.palette)}" if c.palette else "rgb"
        rows.append(f"| {slot} | `{path.stem}` | {bank.families.get(slot, '–')} | {describe(path.stem)} "
                    f"| {shape} | {colour} |")
    return "\n".join(rows)


def threshold_table() -> str:
    from livecppn.offline.report import THRESHOLDS

    rows = ["| metric | passes at | what it means |", "| --- | --- | --- |"]
    rows += [f"| {t.metric} | ≥ {t.minimum:g} | {t.why} |" for t in THRESHOLDS]
    return "\n".join(rows)


def trigger_table() -> str:
    rows = ["| trigger | value | key | what it does |", "| --- | --- | --- | --- |"]
    for t in REGISTRY.triggers:
        keys = ", ".join(t.keys) + (" (key only)" if t.key_only else "") if t.keys else "–"
        rows.append(f"| `{t.name}` | {t.argument or '–'} | {keys} | {t.description} |")
    return "\n".join(rows)


def key_table() -> str:
    rows = ["| key | does |", "| --- | --- |"]
    rows += [f"| {keys} | {what} |" for keys, what in REGISTRY.key_help()]
    return "\n".join(rows)


def style_report() -> str:
    """The committed report of the library (docs/styles/report.json, written by `livecppn styles report`)."""
    import json

    from livecppn.offline.report import markdown_table

    doc = json.loads((ROOT / "docs" / "styles" / "report.json").read_text())
    return markdown_table(doc["styles"])


SECTIONS = {"keys": key_table, "params": param_table, "triggers": trigger_table, "osc": lambda: address_table(REGISTRY), "cli": cli_reference,
            "styles": style_table, "thresholds": threshold_table, "style_report": style_report}


def render(text: str) -> str:
    for key, fn in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{key} -->\n).*?(<!-- /generated:{key} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md: missing the <!-- generated:{key} --> markers")
        text = pattern.sub(lambda m: m.group(1) + fn() + "\n" + m.group(2), text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if README.md is out of date")
    args = ap.parse_args()
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md is out of date: run python tools/gen_readme.py")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
