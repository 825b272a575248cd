"""One check's answer, the overall verdict, and the two ways to show them: a one-screen table and JSON.

Pure: no checks run here, nothing is imported but the standard library.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

SCHEMA_VERSION = 1  # the --json layout; raise it when a key changes meaning or goes
VERDICTS = ("ok", "info", "warning", "problem")  # "problem": the show cannot run as asked
MARKS = {"ok": "ok", "info": "--", "warning": "WARN", "problem": "FAIL"}
WIDTH = 100  # the table fits a terminal this wide


@dataclass(frozen=True)
class Check:
    name: str  # short, stable: scripts key on it ("gl", "cuda", "osc", ...)
    verdict: str  # one of VERDICTS
    detail: str  # what was found, one line
    advice: str = ""  # what to do about it; empty when nothing needs doing
    data: dict = field(default_factory=dict)  # the facts behind the line, for --json

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"check {self.name!r}: verdict {self.verdict!r} is not one of {VERDICTS}")


def overall(checks: list[Check]) -> str:
    """"problem" if any check blocks the show, else "warning" if any warns, else "ok"."""
    found = {c.verdict for c in checks}
    return "problem" if "problem" in found else "warning" if "warning" in found else "ok"


def as_json(checks: list[Check], version: str) -> str:
    doc = {"version": SCHEMA_VERSION, "livecppn": version, "verdict": overall(checks),
           "checks": [{"name": c.name, "verdict": c.verdict, "detail": c.detail, "advice": c.advice,
                       "data": c.data} for c in checks]}
    return json.dumps(doc, indent=2, default=str)


SUMMARY = {"ok": "ok: the show can run.",
           "warning": "warnings: the show can run, with the limits above.",
           "problem": "PROBLEM: something above blocks the show; fix it first."}


def table(checks: list[Check], width: int = WIDTH) -> str:
    """Each check on one line (mark, name, detail), its advice on the next ones, indented; the verdict last.
    Lines are cut to `width`; advice wraps to at most two lines."""
    name_w = max((len(c.name) for c in checks), default=4)
    lead = 5 + name_w + 2
    lines = []
    for c in checks:
        lines.append(_cut(f"{MARKS[c.verdict]:<4} {c.name:<{name_w}}  {c.detail}", width))
        if c.advice and c.verdict != "ok":
            wrapped = textwrap.wrap(c.advice, width - lead - 2) or [""]
            if len(wrapped) > 2:
                wrapped = wrapped[:2]
                wrapped[1] = _cut(wrapped[1] + " …", width - lead - 2)
            lines += [" " * lead + "→ " + wrapped[0]] + [" " * (lead + 2) + w for w in wrapped[1:]]
    lines.append(SUMMARY[overall(checks)])
    return "\n".join(lines)


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"
