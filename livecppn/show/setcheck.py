"""Check tonight's set before the show: everything `livecppn live` will load, in one pass.

`check_set(opts)` reads what a show's options name (the style, the bank and every slot's style
file, the MIDI mapping, each `--osc-*` entry, the `--midi`/`--midi-out` ports, the record path,
the extras an output or Link needs, the `--set` values) and returns every problem it finds, each
naming the file and line or the option. Nothing is opened for the show: no audio, no GL, no
sockets are bound. `livecppn check` prints the list; `livecppn live` says it at start (the log,
the HUD's banner, the report's warnings) and then goes on, falling back as it always does (DESIGN §8).

A problem is `blocking` when the show would run without what was asked for (a fallback style, a
deaf controller, no recording); a MIDI port that is not there is not blocking: controllers are
plugged in late, and the show connects them when they appear.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..control.osc_addresses import parse_allow, parse_target

PARTS = ("style", "bank", "mapping", "osc", "midi", "record", "extras", "set")
# The module each opt-in part needs (README: In a rig; the link extra).
EXTRAS = {"ndi": "NDIlib", "vcam": "pyvirtualcam", "syphon": "syphon", "spout": "SpoutGL"}
_FILE_LINE = re.compile(r"^(.+?:\d+(?::\d+)?): (.*)$", re.S)


@dataclass(frozen=True)
class Problem:
    where: str  # FILE:LINE, a file, or the option (`--osc-send`)
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        text = self.message if self.where in self.message else f"{self.where}: {self.message}"
        return text + ("" if self.blocking else " (warning)")


def check_set(opts, skip: frozenset[str] | set[str] = frozenset(), midi_ports=None) -> list[Problem]:
    """Every problem with what `opts` (LiveOptions) names, in the order of PARTS; empty: the set loads.
    `skip`: parts not to check (PARTS). `midi_ports`: () -> (inputs, outputs), for tests (default: rtmidi)."""
    checks = {"style": _style, "bank": _bank, "mapping": _mapping, "osc": _osc,
              "midi": lambda o: _midi(o, midi_ports or _list_midi), "record": _record, "extras": _extras,
              "set": _set_values}
    problems: list[Problem] = []
    for part in PARTS:
        if part not in skip:
            problems += checks[part](opts)
    return problems


def _from_message(text: str, default_where: str, blocking: bool = True) -> Problem:
    """'FILE:LINE: message' (the loaders' and check_* functions' form) -> Problem."""
    m = _FILE_LINE.match(text)
    return Problem(m.group(1), m.group(2), blocking) if m else Problem(default_where, text, blocking)


def _style(opts) -> list[Problem]:
    from ..model.style import StyleError, load_style

    if opts.style is None:
        return []
    path = paths.find_style(opts.style)  # a name: the user's styles first, then the shipped
    try:
        load_style(path)
    except StyleError as e:
        return [Problem("--style", f"{e}; the show would start on the default style")]
    return []


def _bank(opts) -> list[Problem]:
    from ..model.bank import check_bank

    path = paths.find_bank(opts.bank) if opts.bank else paths.default_bank_path()
    return [_from_message(p, str(path)) for p in check_bank(path)]  # the file's problems, then each slot's


def _mapping(opts) -> list[Problem]:
    from ..control import mapping_toml
    from ..control.registry import default_registry

    path = mapping_toml.resolve(opts.midi_map or "generic")
    return [_from_message(p, str(path)) for p in mapping_toml.check_mapping(path, default_registry())]


def _osc(opts) -> list[Problem]:
    """Parsed the way control/osc.py parses them; the show drops a bad entry and keeps OSC input on."""
    if opts.osc_port is None:
        return []
    problems = []
    if not 0 <= opts.osc_port <= 65535:
        problems.append(Problem("--osc-port", f"{opts.osc_port} is not a UDP port (0-65535); OSC would be off"))
    for entry in opts.osc_allow or []:
        try:
            parse_allow(entry)
        except ValueError as e:
            problems.append(Problem("--osc-allow", f"{e}; the show drops it"))
    if opts.osc_send:
        try:
            host, port = parse_target(opts.osc_send)
            socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except ValueError as e:
            problems.append(Problem("--osc-send", f"{e}; the show would not send the audio features"))
        except OSError as e:
            problems.append(Problem("--osc-send", f"cannot resolve {opts.osc_send!r} ({e.strerror or e}); "
                                                  "the show would not send the audio features"))
    return problems


def _list_midi() -> tuple[list[str], list[str]]:
    import rtmidi

    from ..control.midi_ports import CLIENT_NAME, is_own, list_ports, rtmidi_api

    scanner = rtmidi.MidiOut(rtapi=rtmidi_api(), name=f"{CLIENT_NAME}-check")
    try:
        outputs = [p for p in scanner.get_ports() if not is_own(p)]
    finally:
        scanner.delete()
    return list_ports(), outputs


def _midi(opts, list_midi) -> list[Problem]:
    """A port that is not there now is a warning: the show connects it when it appears."""
    if not opts.midi and not opts.midi_out:
        return []
    from ..control.midi_ports import match_port

    try:
        inputs, outputs = list_midi()
    except Exception as e:  # noqa: BLE001 - no MIDI system at all: said, and the rest is still checked
        return [Problem("--midi", f"cannot list MIDI ports ({e}); the show would run without MIDI until they can be",
                        blocking=False)]
    problems = []
    for option, names, available in (("--midi", opts.midi, inputs), ("--midi-out", opts.midi_out, outputs)):
        for name in names:
            if match_port(name, available) is None:
                problems.append(Problem(option, f"no MIDI port like {name!r} now (ports: {', '.join(available) or 'none'}); "
                                                "the show connects it when it appears", blocking=False))
    return problems


def _record(opts) -> list[Problem]:
    """The folder must be creatable and writable; an existing take is fine (takes never overwrite)."""
    from .recorder import free_take

    if opts.record is None:
        return []
    path = Path(opts.record)
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [Problem("--record", f"{existing} is not a folder; the show would not record")]
    try:  # a real write, not os.access: root, read-only mounts and /proc answer access() wrongly
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        made = "" if existing == folder else f" (to make {folder})"
        return [Problem("--record", f"cannot write in {existing}{made}: {e.strerror or e}; the show would not record")]
    take, n = free_take(path)
    if n > 1:
        return [Problem("--record", f"{path} exists; takes never overwrite: this take goes to {take}", blocking=False)]
    return []


def _extras(opts) -> list[Problem]:
    wanted = [(f"--{kind}", module) for kind, module in EXTRAS.items()
              if kind in opts.outputs and opts.outputs[kind].at_start]
    if opts.link:
        wanted.append(("--link", "link"))
    return [Problem(option, f"needs the Python module {module!r}, which is not installed "
                            f"(pip install 'livecppn[{'link' if module == 'link' else 'rig'}]'); the show would run without it")
            for option, module in wanted if importlib.util.find_spec(module) is None]


def _set_values(opts) -> list[Problem]:
    from ..control.registry import default_registry

    specs = {s.name: s for s in default_registry().params}
    problems = []
    for name, value in opts.initial.items():
        spec = specs.get(name)
        if spec is None:
            problems.append(Problem(f"--set {name}", "no such parameter (see the README's parameter table)"))
        elif spec.clamp(value) != value:
            problems.append(Problem(f"--set {name}", f"{value:g} is outside {spec.minimum:g}–{spec.maximum:g}; "
                                                     f"the show starts at {spec.clamp(value):g}", blocking=False))
    return problems
