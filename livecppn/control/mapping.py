"""MIDI mappings (DESIGN §7): which CC or note drives which parameter or trigger.

A mapping is a TOML file in presets/mappings/:

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

Targets are checked against the registry (control/registry.py),
so a mapping can name anything declared there and nothing else. Every error
names the file and the line. `MidiLearn` binds the next CC or note to an armed
name and keeps the mapping, which can then be saved.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomllib

from .registry import default_registry

_REGISTRY = default_registry()  # TODO(registry passed in): the MIDI split threads it through
from livecppn.paths import presets_dir

SOURCES = ("cc", "note")
CC_PARAM_MODES = ("absolute", "twos_complement", "binary_offset", "sign_magnitude")
NOTE_PARAM_MODES = ("momentary", "toggle")
RELATIVE_MODES = CC_PARAM_MODES[1:]
DEFAULT_STEP = 0.01  # relative encoders: fraction of the parameter's range per tick
_ENTRY_KEYS = {"cc", "note", "channel", "param", "trigger", "mode", "step", "range", "value"}
_TOP_KEYS = {"name", "description", "channel", "cc", "note"}


class MappingError(ValueError):
    """A mapping that cannot be used; the message starts with 'file:line:'."""


def mappings_dir() -> Path:
    return presets_dir() / "mappings"


def resolve(name_or_path: str | Path) -> Path:
    """A mapping file: an existing path, else a name in presets/mappings/ ('generic' or 'generic.toml')."""
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    return mappings_dir() / (path.name if path.suffix == ".toml" else f"{path.name}.toml")


@dataclass(frozen=True)
class Binding:
    """One control: a CC or note (on one channel, or any) driving one parameter or trigger.

    cc → param: `mode` absolute (0-127 spans `range`) or a relative encoder mode (`step` of the
    range per tick). note → param: momentary (held = range high, released = range low) or toggle.
    cc or note → trigger: fires on note-on, or when the CC rises to 64 or above (a button press),
    with `value` as the trigger's argument.
    """

    source: str  # "cc" | "note"
    number: int  # 0-127
    channel: int | None = None  # 1-16; None = any (omni)
    param: str | None = None
    trigger: str | None = None
    mode: str = ""  # "" = the default for the kind (absolute / momentary); triggers: always ""
    step: float = DEFAULT_STEP
    range: tuple[float, float] | None = None  # param values at CC 0 / 127 (note: off / on); None = min/max
    value: object = None  # trigger argument
    line: int = field(default=0, compare=False)  # where it was declared (0: learned)

    @property
    def target(self) -> str:
        return self.param if self.param is not None else self.trigger

    @property
    def key(self) -> tuple[str, int, int | None]:
        return self.source, self.number, self.channel


@dataclass(frozen=True)
class Mapping:
    """An immutable set of bindings with lookup tables for the MIDI threads. Build with
    `Mapping.load`, `Mapping.parse` or `Mapping(bindings)` (validated against the registry)."""

    bindings: tuple[Binding, ...] = ()
    name: str = ""
    description: str = ""
    path: Path | None = field(default=None, compare=False)
    _lookup: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        where = str(self.path) if self.path else "<mapping>"
        for b in self.bindings:
            _check_binding(b, where)
            old = self._lookup.get(b.key)
            if old is not None:
                raise MappingError(f"{where}:{b.line}: {_describe(b)} is already mapped at line {old.line}")
            self._lookup[b.key] = b

    def find(self, source: str, channel: int, number: int) -> Binding | None:
        """The binding for a message (`channel` 1-16): a channel-specific one first, then omni. Any thread."""
        lookup = self._lookup
        return lookup.get((source, number, channel)) or lookup.get((source, number, None))

    def bind(self, binding: Binding) -> Mapping:
        """A copy with `binding` added, replacing whatever held the same CC/note and channel."""
        kept = tuple(b for b in self.bindings if b.key != binding.key)
        return replace(self, bindings=kept + (binding,))

    # --- files ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MappingError(f"{path}: cannot read the mapping: {e}") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: str | Path = "<mapping>") -> Mapping:
        path = Path(path)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
            where = f"{path}:{m.group(1)}" if m else str(path)
            raise MappingError(f"{where}: not valid TOML: {e}") from None
        lines = _Lines(text, path)
        for key in doc:
            if key not in _TOP_KEYS:
                raise MappingError(f"{lines.top(key)}: unknown key {key!r} (expected one of {sorted(_TOP_KEYS)})")
        for key in ("name", "description"):
            if not isinstance(doc.get(key, ""), str):
                raise MappingError(f"{lines.top(key)}: {key} must be a string, got {doc[key]!r}")
        default_channel = _channel(doc.get("channel", "omni"), lines.top("channel"))
        bindings = []
        for source in SOURCES:
            entries = doc.get(source, [])
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise MappingError(f"{lines.top(source)}: {source} entries must be [[{source}]] tables")
            for i, entry in enumerate(entries):
                bindings.append(_binding(source, entry, default_channel, lines.entry(source, i)))
        return cls(tuple(bindings), doc.get("name", ""), doc.get("description", ""), path)

    def to_toml(self) -> str:
        out = ["# livecppn MIDI mapping; format: see livecppn/control/mapping.py or the README.",
               f"name = {_toml(self.name)}"]
        if self.description:
            out.append(f"description = {_toml(self.description)}")
        out.append('channel = "omni"  # entries below give their own channel where they have one')
        for b in sorted(self.bindings, key=lambda b: (SOURCES.index(b.source), b.number, b.channel or 0)):
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
        return "\n".join(out) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the mapping as TOML (atomically: a half-written file never replaces a good one)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_toml(), encoding="utf-8")
        tmp.replace(path)
        return path


class MidiLearn:
    """MIDI learn. `learn(name)` arms a parameter or trigger (any thread: render, OSC); the next
    CC or note-on that a MIDI thread `offer`s binds to it, replacing that control's old binding.
    `mapping` is replaced whole on each binding, so readers take it without a lock."""

    def __init__(self, mapping: Mapping | None = None):
        self.mapping = mapping if mapping is not None else Mapping()
        self.last: Binding | None = None  # the newest binding made here
        self._lock = threading.Lock()
        self._armed: Binding | None = None  # a template: target and options, no source yet

    @property
    def armed(self) -> str | None:
        armed = self._armed
        return armed.target if armed is not None else None

    def learn(self, name: str, mode: str = "", step: float = DEFAULT_STEP, value: object = None) -> None:
        """Arm `name` (a parameter or trigger in the registry). `mode`: a CC mode for a parameter
        ("" = absolute for a CC, momentary for a note); `value`: a trigger's argument."""
        is_param = name in _REGISTRY.specs
        if not is_param and name not in _REGISTRY.trigger_specs:
            raise ValueError(f"MIDI learn: unknown parameter or trigger {name!r} "
                             f"(known: {', '.join([*_REGISTRY.specs, *_REGISTRY.trigger_specs])})")
        template = Binding("cc", 0, None, name if is_param else None, None if is_param else name, mode, step,
                           None, value)
        # check the options now, not when the control arrives
        _check_binding(replace(template, source="note" if mode in NOTE_PARAM_MODES else "cc"), "MIDI learn")
        with self._lock:
            self._armed = template

    def cancel(self) -> None:
        with self._lock:
            self._armed = None

    def offer(self, source: str, channel: int, number: int) -> Binding | None:
        """A MIDI thread saw a CC or note-on (`channel` 1-16). Binds it if armed; returns the new binding."""
        if self._armed is None:  # the common case, without the lock
            return None
        with self._lock:
            template, self._armed = self._armed, None
            if template is None:
                return None
            mode = template.mode
            if template.param is not None and (mode in NOTE_PARAM_MODES) != (source == "note"):
                mode = ""  # a CC mode offered a note (or the reverse): use that kind's default
            step = template.step if mode in RELATIVE_MODES else DEFAULT_STEP
            binding = replace(template, source=source, number=number, channel=channel, mode=mode, step=step)
            try:
                self.mapping = self.mapping.bind(binding)
            except MappingError:
                return None  # the registry changed under us; stay safe in a MIDI thread
            self.last = binding
            return binding

    def save(self, path: str | Path) -> Path:
        return self.mapping.save(path)


# --- validation ----------------------------------------------------------------------------------

def _describe(b: Binding) -> str:
    channel = "any channel" if b.channel is None else f"channel {b.channel}"
    return f"{'CC' if b.source == 'cc' else 'note'} {b.number} on {channel}"


def _channel(value, where: str) -> int | None:
    if value == "omni":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 16:
        return value
    raise MappingError(f"{where}: channel must be 1-16 or \"omni\", got {value!r}")


def _binding(source: str, entry: dict, default_channel: int | None, lines: _EntryLines) -> Binding:
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
    b = Binding(source, number, channel, entry.get("param"), entry.get("trigger"), entry.get("mode", ""),
                float(step), rng, entry.get("value"), lines.header)
    _check_binding(b, lines.path, lines)
    return b


def _check_binding(b: Binding, where: str, lines: _EntryLines | None = None) -> None:
    """Raise MappingError (at the offending key's line when `lines` is given) unless `b` is usable."""
    def fail(key: str, message: str):
        at = lines.at(key) if lines is not None else f"{where}:{b.line}" if b.line else where
        raise MappingError(f"{at}: {message}")

    if b.param is not None:
        spec = _REGISTRY.specs.get(b.param)
        if spec is None:
            fail("param", f"unknown param {b.param!r} (known: {', '.join(_REGISTRY.specs)})")
        modes = CC_PARAM_MODES if b.source == "cc" else NOTE_PARAM_MODES
        if b.mode and b.mode not in modes:
            fail("mode", f"mode for a {b.source} → param must be one of {modes}, got {b.mode!r}")
        if b.mode in RELATIVE_MODES and not (math.isfinite(b.step) and 0 < b.step <= 1):
            fail("step", f"step is a fraction of the range per encoder tick, in (0, 1], got {b.step!r}")
        if b.mode not in RELATIVE_MODES and b.step != DEFAULT_STEP:
            fail("step", "step applies only to relative encoder modes " + ", ".join(RELATIVE_MODES))
        if b.range is not None:
            lo, hi = min(b.range), max(b.range)
            if not (math.isfinite(lo) and math.isfinite(hi) and spec.minimum <= lo and hi <= spec.maximum):
                fail("range", f"range {list(b.range)} must lie within {b.param}'s "
                              f"[{spec.minimum}, {spec.maximum}]")
        if b.value is not None:
            fail("value", "value is a trigger's argument; a param takes its value from the control")
    else:
        spec = _REGISTRY.trigger_specs.get(b.trigger)
        if spec is None:
            fail("trigger", f"unknown trigger {b.trigger!r} (known: {', '.join(_REGISTRY.trigger_specs)})")
        for key, bad in (("mode", b.mode), ("range", b.range), ("step", b.step != DEFAULT_STEP)):
            if bad:
                fail(key, f"{key} applies to params only; {b.trigger!r} is a trigger")
        if b.value is not None and not spec.argument:
            fail("value", f"trigger {b.trigger!r} takes no value")
        if b.value is not None and not isinstance(b.value, (int, float, str)):
            fail("value", f"trigger value must be a number or string, got {b.value!r}")


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
