"""MIDI mapping files (DESIGN §7): TOML in, TOML out, every error at its file and line.

A mapping is a TOML file in the user's mappings folder or the shipped presets/mappings/
(found by name in that order; `livecppn paths` says where they are):

    name = "generic"
    channel = "omni"              # default for every entry: 1-16 or "omni"

    [[cc]]                        # a fader: 0-127 spans the parameter's range
    cc = 0
    param = "brightness"

    [[cc]]                        # an endless encoder: each tick moves 1% of the range
    cc = 16
    param = "rotation"
    mode = "twos_complement"      # or binary_offset, sign_magnitude
    step = 0.01

    [[note]]                      # a pad: note-on fires the trigger
    note = 36
    trigger = "tap"

    [[note]]                      # a pad lit while deck A holds bank slot 1
    note = 44
    trigger = "deck_a"
    value = 1
    feedback = true

    [feedback]                    # optional: what goes back to the controller (midi_feedback.py)
    default = true                # entries without `feedback = ...` echo when they can (default false)
    port = "nanoKONTROL2"         # its output (default: the output named like each input)
    beat_note = 39                # a pad lit on each beat
    beat_channel = 1

Targets are checked against the registry passed in (control/registry.py), so
a mapping can name anything declared there and nothing else. One bad entry
is left out, not the mapping: `load` raises MappingError only for a file that
cannot be used, and lists each entry (or key) it left out in
`Mapping.problems` as "FILE:LINE: …". tomllib keeps no line numbers, so
`_Lines` finds them in the text. `save` writes atomically.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import tomllib

from livecppn import paths

from .mapping import (DEFAULT_STEP, RELATIVE_MODES, SOURCES, Binding, FeedbackSettings, Mapping, MappingError,
                      check_binding, describe)
from .registry import Registry

_ENTRY_KEYS = {"cc", "note", "channel", "param", "trigger", "mode", "step", "range", "value", "feedback"}
_TOP_KEYS = {"name", "description", "channel", "cc", "note", "feedback"}
_FEEDBACK_KEYS = {"default", "port", "beat_note", "beat_channel"}


def mappings_dir() -> Path:
    """The shipped mappings (the user's own are in paths.user_mappings_dir())."""
    return paths.presets_dir() / "mappings"


def resolve(name_or_path: str | Path) -> Path:
    """A mapping file: an existing path, else a name ('generic' or 'generic.toml') in the user's
    mappings folder, then the shipped presets/mappings/ (a checkout's old learned.toml included)."""
    return paths.find_mapping(name_or_path)


def load(path: str | Path, registry: Registry) -> Mapping:
    """Read and check a mapping file. MappingError (naming the file, and the line) only when the file
    cannot be used: missing, unreadable, not TOML. A bad entry or key is left out and listed in
    `Mapping.problems` ("FILE:LINE: …"); the rest of the mapping works (DESIGN §8)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MappingError(f"{path}: cannot read the mapping: {e}") from None
    return parse(text, registry, path)


def check_mapping(path: str | Path, registry: Registry) -> list[str]:
    """Every problem with a mapping file (a name is found as `resolve` finds it), the file's own and each
    entry's; empty: it is fine. No side effects (for `livecppn check`)."""
    try:
        return list(load(resolve(path), registry).problems)
    except MappingError as e:
        return [str(e)]


def parse(text: str, registry: Registry, path: str | Path = "<mapping>") -> Mapping:
    """A mapping from TOML text, checked against `registry`; `path` is only for the messages. Only TOML
    syntax raises MappingError; whatever else is wrong is left out and listed in `problems`."""
    path = Path(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise MappingError(f"{where}: not valid TOML: {e}") from None
    lines = _Lines(text, path)
    problems: list[str] = []

    def kept(make, fallback):  # make(); a MappingError is a problem, and `fallback` stands in
        try:
            return make()
        except MappingError as e:
            problems.append(str(e))
            return fallback

    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(f"{lines.top(key)}: unknown key {key!r} (expected one of {sorted(_TOP_KEYS)})")
    for key in ("name", "description"):
        if not isinstance(doc.get(key, ""), str):
            problems.append(f"{lines.top(key)}: {key} must be a string, got {doc[key]!r}")
    default_channel = kept(lambda: _channel(doc.get("channel", "omni"), lines.top("channel")), None)
    feedback = kept(lambda: _feedback(doc.get("feedback", {}), default_channel, lines), FeedbackSettings())
    bindings: dict[tuple, Binding] = {}
    for source in SOURCES:
        entries = doc.get(source, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problems.append(f"{lines.top(source)}: {source} entries must be [[{source}]] tables")
            continue
        for i, entry in enumerate(entries):
            at = lines.entry(source, i)
            b = kept(lambda: _binding(source, entry, default_channel, feedback.default, at, registry), None)
            if b is not None and b.key in bindings:
                problems.append(f"{path}:{b.line}: {describe(b)} is already mapped at line {bindings[b.key].line}")
            elif b is not None:
                bindings[b.key] = b
    return Mapping(tuple(bindings.values()), _text(doc, "name"), _text(doc, "description"), path, feedback,
                   tuple(problems))


def _text(doc: dict, key: str) -> str:
    value = doc.get(key, "")
    return value if isinstance(value, str) else ""


def to_toml(mapping: Mapping) -> str:
    """The mapping as TOML that `parse` reads back to an equal mapping."""
    out = ["# livecppn MIDI mapping; format: see livecppn/control/mapping_toml.py or the README.",
           f"name = {_toml(mapping.name)}"]
    if mapping.description:
        out.append(f"description = {_toml(mapping.description)}")
    out.append('channel = "omni"  # entries below give their own channel where they have one')
    fb = mapping.feedback
    if fb != FeedbackSettings():
        out += ["", "[feedback]", f"default = {_toml(fb.default)}"]
        if fb.port is not None:
            out.append(f"port = {_toml(fb.port)}")
        if fb.beat_note is not None:
            out += [f"beat_note = {fb.beat_note}", f"beat_channel = {fb.beat_channel}"]
    for b in sorted(mapping.bindings, key=lambda b: (SOURCES.index(b.source), b.number, b.channel or 0)):
        out += ["", f"[[{b.source}]]", f"{b.source} = {b.number}"]
        if b.channel is not None:
            out.append(f"channel = {b.channel}")
        out.append(f"param = {_toml(b.param)}" if b.param is not None else f"trigger = {_toml(b.trigger)}")
        if b.mode:
            out.append(f"mode = {_toml(b.mode)}")
        if b.mode in RELATIVE_MODES:
            out.append(f"step = {_toml(b.step)}")
        if b.range is not None:
            out.append(f"range = [{_toml(b.range[0])}, {_toml(b.range[1])}]")
        if b.value is not None:
            out.append(f"value = {_toml(b.value)}")
        if b.feedback != (fb.default and b.can_feed_back):
            out.append(f"feedback = {_toml(b.feedback)}")
    return "\n".join(out) + "\n"


def save(mapping: Mapping, path: str | Path) -> Path:
    """Write the mapping as TOML (atomically: a half-written file never replaces a good one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_toml(mapping), encoding="utf-8")
    tmp.replace(path)
    return path


def _channel(value, where: str) -> int | None:
    if value == "omni":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 16:
        return value
    raise MappingError(f"{where}: channel must be 1-16 or \"omni\", got {value!r}")


def _feedback(table, default_channel: int | None, lines: _Lines) -> FeedbackSettings:
    if not isinstance(table, dict):
        raise MappingError(f"{lines.top('feedback')}: feedback must be a [feedback] table, got {table!r}")
    for key in table:
        if key not in _FEEDBACK_KEYS:
            raise MappingError(f"{lines.table('feedback', key)}: unknown key {key!r} in [feedback] "
                               f"(expected one of {sorted(_FEEDBACK_KEYS)})")
    default, port, note = table.get("default", False), table.get("port"), table.get("beat_note")
    if not isinstance(default, bool):
        raise MappingError(f"{lines.table('feedback', 'default')}: default must be true or false, got {default!r}")
    if port is not None and not (isinstance(port, str) and port.strip()):
        raise MappingError(f"{lines.table('feedback', 'port')}: port must be a MIDI output's name, got {port!r}")
    if note is not None and (not isinstance(note, int) or isinstance(note, bool) or not 0 <= note <= 127):
        raise MappingError(f"{lines.table('feedback', 'beat_note')}: beat_note must be a note 0-127, got {note!r}")
    channel = (_channel(table["beat_channel"], lines.table("feedback", "beat_channel"))
               if "beat_channel" in table else default_channel)
    if channel is None:
        if "beat_channel" in table:
            raise MappingError(f"{lines.table('feedback', 'beat_channel')}: beat_channel must be 1-16 "
                               "(a light is sent on one channel)")
        channel = 1
    return FeedbackSettings(default, port, note, channel)


def _binding(source: str, entry: dict, default_channel: int | None, default_feedback: bool, lines: _EntryLines,
             registry: Registry) -> Binding:
    for key in entry:
        if key not in _ENTRY_KEYS or key in set(SOURCES) - {source}:
            allowed = sorted(_ENTRY_KEYS - set(SOURCES)) + [source]
            raise MappingError(f"{lines.at(key)}: unknown key {key!r} in [[{source}]] (expected one of {allowed})")
    if source not in entry:
        raise MappingError(f"{lines.at(source)}: [[{source}]] needs `{source} = <0-127>`")
    number = entry[source]
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 127:
        raise MappingError(f"{lines.at(source)}: {source} number must be an integer 0-127, got {number!r}")
    channel = _channel(entry["channel"], lines.at("channel")) if "channel" in entry else default_channel
    if ("param" in entry) == ("trigger" in entry):
        raise MappingError(f"{lines.at(source)}: [[{source}]] needs exactly one of `param` or `trigger`")
    rng = entry.get("range")
    if rng is not None:
        if not (isinstance(rng, list) and len(rng) == 2 and all(_is_number(x) for x in rng)):
            raise MappingError(f"{lines.at('range')}: range must be [low, high] numbers, got {rng!r}")
        rng = (float(rng[0]), float(rng[1]))
    step = entry.get("step", DEFAULT_STEP)
    if not _is_number(step):
        raise MappingError(f"{lines.at('step')}: step must be a number, got {step!r}")
    feedback = entry.get("feedback")
    if feedback is not None and not isinstance(feedback, bool):
        raise MappingError(f"{lines.at('feedback')}: feedback must be true or false, got {feedback!r}")
    b = Binding(source, number, channel, entry.get("param"), entry.get("trigger"), entry.get("mode", ""),
                float(step), rng, entry.get("value"), bool(feedback), lines.header)
    check_binding(b, registry, lines.path, lines.at)
    if feedback is None and default_feedback and b.can_feed_back:
        b = replace(b, feedback=True)  # the [feedback] default applies where there is a state to show
    return b


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _toml(value) -> str:
    """A TOML literal for a string, bool, int or finite float."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # '0.01', '1e-05', '3.0': all TOML floats
    return str(int(value))


# --- line numbers (tomllib keeps none) -------------------------------------------------------------

class _Lines:
    """Finds where a top-level key or an [[cc]]/[[note]] table's key is written. Handles the
    [[table]] form this module writes and documents; other forms fall back to the nearest line."""

    _HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z_]+)\s*\]\]")
    _TABLE = re.compile(r"^\s*\[\s*([A-Za-z_]+)\s*\](?!\])")
    _ANY_HEADER = re.compile(r"^\s*\[")

    def __init__(self, text: str, path: Path):
        self.path = str(path)
        self.text = text.splitlines()
        self.headers: dict[str, list[int]] = {}  # table name -> 0-based header line indices
        self.first_header = len(self.text)
        for i, line in enumerate(self.text):
            m = self._HEADER.match(line)
            if m:
                self.headers.setdefault(m.group(1), []).append(i)
            if self._ANY_HEADER.match(line):
                self.first_header = min(self.first_header, i)

    def find_key(self, key: str, start: int, stop: int) -> int | None:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(start, min(stop, len(self.text))):
            if pattern.match(self.text[i]):
                return i
        return None

    def top(self, key: str) -> str:
        i = self.find_key(key, 0, self.first_header)
        if i is None and key in SOURCES and key in self.headers:
            i = self.headers[key][0]
        return f"{self.path}:{i + 1}" if i is not None else self.path

    def table(self, name: str, key: str) -> str:
        """Where `key` of the single [name] table is written (else the table's header)."""
        start = next((i for i, line in enumerate(self.text) if (m := self._TABLE.match(line)) and m.group(1) == name),
                     None)
        if start is None:
            return self.top(name)
        stop = next((i for i in range(start + 1, len(self.text)) if self._ANY_HEADER.match(self.text[i])),
                    len(self.text))
        i = self.find_key(key, start + 1, stop)
        return f"{self.path}:{(i if i is not None else start) + 1}"

    def entry(self, source: str, index: int) -> _EntryLines:
        starts = self.headers.get(source, [])
        if index < len(starts):
            start = starts[index]
            stop = next((i for i in range(start + 1, len(self.text)) if self._ANY_HEADER.match(self.text[i])),
                        len(self.text))
            return _EntryLines(self, start, stop)
        i = self.find_key(source, 0, len(self.text))  # an inline array: point at it
        return _EntryLines(self, i if i is not None else 0, i + 1 if i is not None else 0)


class _EntryLines:
    def __init__(self, lines: _Lines, start: int, stop: int):
        self.lines, self.start, self.stop = lines, start, stop
        self.path = lines.path
        self.header = start + 1

    def at(self, key: str) -> str:
        i = self.lines.find_key(key, self.start, self.stop)
        return f"{self.path}:{(i if i is not None else self.start) + 1}"
