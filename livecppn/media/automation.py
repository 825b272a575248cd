"""The automation log: a show's control changes, written, read and replayed (DESIGN §3: media/).

While `livecppn live --record OUT.mp4` records, every control change is
written, one JSON object a line, to `OUT.automation.jsonl` (the recording's
audio goes losslessly to `OUT.wav` beside it). Times are on the audio clock,
in seconds since the recording's first audio sample, so that
`livecppn render OUT.wav HI.mp4 --automation OUT.automation.jsonl` puts each
change on the frame that sees the same audio, at any fps and size.

Lines (all have "kind", "frame": the live frame index since the recording
started, and "t": its audio time):
- {"kind": "start", "version": 1, "sample_rate", "size", "audio", "values", "targets", "decks"}:
  the state when recording began (parameter values and targets, the styles on the decks).
- {"kind": "set", "name", "value"}: a controller set a parameter (the new target; it slews as live).
- {"kind": "trigger", "name", "value"[, "by": "autopilot"]}: a trigger fired (go, tap, ...).
- {"kind": "load", "deck", "style", "name"}: a style swapped into a deck (the file actually loaded).
- {"kind": "stop"}: recording ended.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__

VERSION = 1
class AutomationError(ValueError):
    pass


def log_path_for(recording: Path) -> Path:
    return recording.with_suffix(".automation.jsonl")


def audio_path_for(recording: Path) -> Path:
    return recording.with_suffix(".wav")


def jsonable(value):
    """Trigger values as JSON: numbers, strings, lists; anything else as its text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def start_line(recording: Path, sample_rate: int, size: tuple[int, int], state: dict) -> dict:
    """The log's first line: the state when recording began. `state`: "values" and "targets" (the
    parameters), "decks" (each deck's style file, or None for one built in memory)."""
    return {"kind": "start", "version": VERSION, "livecppn": __version__, "frame": 0, "t": 0.0, "sample_rate": sample_rate,
            "size": list(size), "audio": audio_path_for(recording).name, "recording": recording.name,
            "values": state["values"], "targets": state["targets"], "decks": state["decks"]}


def event_line(event: dict, frame: int, t: float) -> dict:
    """A control event (show/frame.py's `events`) as a log line, at the take's frame and audio time."""
    line = {**event, "frame": frame, "t": t}
    if "value" in line:
        line["value"] = jsonable(line["value"])
    return line


@dataclass
class Automation:
    """A parsed log: the start state and the events in time order."""

    start: dict
    events: list[dict] = field(default_factory=list)

    def frames(self, fps: float) -> dict[int, list[dict]]:
        """Events by the render frame that replays them: the frame whose time n / fps is nearest the
        event's audio time (ties to the earlier), so at the recording's frame rate it is the same frame."""
        out: dict[int, list[dict]] = {}
        for e in self.events:
            n = max(0, math.ceil(float(e["t"]) * fps - 0.5))
            out.setdefault(n, []).append(e)
        return out


def read_automation(path: str | Path) -> Automation:
    """Parse a log; raises AutomationError naming the file, the line and the problem."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise AutomationError(f"automation log {path}: {e.strerror or e}") from e
    start, events = None, []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
            kind = e["kind"]
            if kind != "start":
                float(e["t"])
        except (ValueError, KeyError, TypeError) as err:
            raise AutomationError(f"automation log {path}, line {i}: not an event ({err}): {line[:80]!r}") from None
        if kind == "start":
            if e.get("version") != VERSION:
                raise AutomationError(f"automation log {path}: version {e.get('version')!r}, expected {VERSION}")
            start = e
        elif kind in ("set", "trigger", "load"):
            events.append(e)
    if start is None:
        raise AutomationError(f"automation log {path}: no start line (is it a livecppn automation log?)")
    events.sort(key=lambda e: float(e["t"]))  # stable: same-time events keep their order
    return Automation(start, events)


def replay(events: list[dict], bus, loader) -> None:
    """Feed one frame's events to the bus as a controller would (sets, triggers) and the deck loads
    to the (synchronous) loader; call before the frame's control step. Triggers the registry marks
    as not replayed are skipped: deck loads are replayed from their "load" lines (the file that was
    really loaded, when it was), and MIDI learn, clock and recording change nothing on screen."""
    not_replayed = bus.registry.not_replayed
    for e in events:
        if e["kind"] == "set":
            bus.set(e["name"], e["value"])
        elif e["kind"] == "trigger" and e["name"] not in not_replayed:
            value = e.get("value")
            bus.trigger(e["name"], tuple(value) if isinstance(value, list) else value)
        elif e["kind"] == "load" and e.get("style"):
            loader.request(e["deck"], Path(e["style"]))
