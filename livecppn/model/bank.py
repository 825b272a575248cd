"""Banks of styles in numbered slots, and loading styles off the render thread.

A bank is a TOML file (presets/banks/, the user's banks/, or anywhere):

    name = "default"
    [slots]
    1 = "styles/default.safetensors"
    2 = "/abs/path/to/mine.safetensors"
    3 = { style = "styles/neon.safetensors", family = "geometric" }   # tagged for the autopilot
    4 = "moss"                                                         # a name: the styles folders

A relative slot path is looked for, in this order, under: the bank file's own
folder; the user's folder (paths.user_data_dir(), laid out like presets/, so
a user's style shadows a shipped one of the same name); the folder above the
bank's (a presets/-like layout: banks/ beside styles/); the shipped presets/.
A bare name ("moss" or "moss.safetensors") is also looked up in the styles
folders, the user's first. The first file that exists is the slot's.

A slot's family (one of FAMILIES) tells the autopilot what kind of pattern it
holds; untagged slots are never picked by the autopilot.

Partial, not total, fallback (DESIGN §8): `load_bank` raises BankError only
when the file itself cannot be used (missing, unreadable, not TOML: file and
line). A bad slot (unknown key or family, a style file found nowhere, a file
that is not a livecppn style) is left out and listed in `Bank.problems` as
"FILE:LINE: slot N: …", naming the path(s) it tried; the other slots play.
`check_bank` also loads every slot's style in full, for `livecppn check`.

Loading a style (reading, validating, building the network, and what the
decks' backend makes from it: the `prepare` hook) happens on the loader's own
thread; the render thread picks up finished loads between frames, so a load
never stalls the picture (DESIGN §7, §8).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..paths import preset_roots, styles_dirs
from .cppn import CPPN
from .library import FAMILIES
from .style import Style, StyleError, load_style, read_style_name

log = logging.getLogger("livecppn.model")


def take_all(requests: queue.SimpleQueue) -> list:
    """Wait for one item, then take every item already queued behind it (worker threads that only
    act on the newest request: a flood of requests costs one piece of work, not a backlog)."""
    items = [requests.get()]
    while True:
        try:
            items.append(requests.get_nowait())
        except queue.Empty:
            return items


class BankError(ValueError):
    """A bank file that cannot be used; names the file (and line) and the problem."""


@dataclass
class Bank:
    name: str
    slots: dict[int, Path]
    path: Path | None = None
    families: dict[int, str] = field(default_factory=dict)  # slot → family, for the slots that have one
    names: dict[int, str] = field(default_factory=dict)  # slot → the style's own name (its metadata)
    lines: dict[int, int] = field(default_factory=dict)  # slot → its line in the bank file
    problems: tuple[str, ...] = ()  # "FILE:LINE: slot N: …" for each slot (or key) left out
    disabled: dict[int, str] = field(default_factory=dict)  # slot number → why it is off

    def family_slots(self, family: str) -> list[int]:
        return sorted(slot for slot, f in self.families.items() if f == family)

    def slot_of(self, path: Path | None) -> int | None:
        """The slot holding the style file at `path` (None: no slot does)."""
        if path is None:
            return None
        for slot, p in self.slots.items():
            if p == path or p.resolve() == Path(path).resolve():
                return slot
        return None

    def where(self, slot: int) -> str:
        """FILE:LINE of a slot (the file alone when its line is unknown)."""
        line = self.lines.get(slot)
        return f"{self.path}:{line}" if line else str(self.path or f"bank {self.name!r}")

    def resolve(self, ref: object) -> Path:
        """A slot number (int or digits) or a style name → style path. A name matches a slot's file
        name (its stem) first, then the style's own name (its metadata); case is ignored."""
        if isinstance(ref, float) and ref.is_integer():
            ref = int(ref)
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref.strip())
        if isinstance(ref, int):
            if ref in self.disabled:
                raise BankError(f"bank {self.name!r}: slot {ref} is off ({self.disabled[ref]})")
            if ref not in self.slots:
                raise BankError(f"bank {self.name!r}: no slot {ref} (slots: {sorted(self.slots)})")
            return self.slots[ref]
        if isinstance(ref, str):
            wanted = ref.strip().lower()
            for slot in sorted(self.slots):
                if self.slots[slot].stem.lower() == wanted:
                    return self.slots[slot]
            for slot in sorted(self.slots):
                if self.names.get(slot, "").strip().lower() == wanted:
                    return self.slots[slot]
            raise BankError(f"bank {self.name!r}: no style named {ref!r} "
                            f"(styles: {', '.join(p.stem for p in self.slots.values())})")
        raise BankError(f"bank {self.name!r}: expected a slot number or a style name, got {ref!r}")


def load_bank(path: str | Path) -> Bank:
    """Read a bank. BankError only when the file cannot be used; bad slots are left out and listed in
    `Bank.problems` ("FILE:LINE: slot N: …"), so one bad slot never costs the rest of the bank."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BankError(f"bank file {path}: cannot read ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise BankError(f"{where}: bank file is not valid TOML: {e}") from None  # e has the line and column
    lines = _key_lines(text)

    def at(table: str | None, key: str) -> str:
        line = lines.get((table, key))
        return f"{path}:{line}" if line else str(path)

    problems: list[str] = []
    for key in data:
        if key not in ("name", "slots"):
            problems.append(f"{at(None, key)}: unknown key {key!r}, left out (a bank has `name` and [slots])")
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        problems.append(f"{at(None, 'name')}: name must be a string, got {name!r}; using {path.stem!r}")
        name = path.stem
    table = data.get("slots")
    if not isinstance(table, dict) or not table:
        problems.append(f"{at(None, 'slots') if 'slots' in data else path}: no [slots]; expected "
                        "[slots] with lines like 1 = \"styles/default.safetensors\"")
        table = {}
    bank = Bank(name=name or path.stem, slots={}, path=path)
    for key, value in table.items():
        where = at("slots", key)
        if not key.strip().isdigit():
            problems.append(f"{where}: slot {key!r} = {value!r}, left out; expected a number = \"style path\"")
            continue
        slot = int(key)
        bank.lines[slot] = lines.get(("slots", key), 0)
        try:
            if slot in bank.slots:
                raise ValueError("a second slot with this number")
            style, family = _slot_style(value, path)
            bank.names[slot] = read_style_name(style)  # reads the header only: not a style file → left out
        except (ValueError, StyleError) as e:
            bank.disabled[slot] = f"{where}: {e}"
            problems.append(f"{where}: slot {slot}: {e}; the slot is off")
            continue
        bank.slots[slot] = style
        if family is not None:
            bank.families[slot] = family
    bank.problems = tuple(problems)
    return bank


def check_bank(path: str | Path) -> list[str]:
    """Every problem with a bank file, the file's own and each slot's, each slot's style loaded in full
    (load_style's validation); empty: the bank is fine. No side effects (for `livecppn check`)."""
    try:
        bank = load_bank(path)
    except BankError as e:
        return [str(e)]
    problems = list(bank.problems)
    for slot in sorted(bank.slots):
        try:
            load_style(bank.slots[slot])
        except StyleError as e:
            problems.append(f"{bank.where(slot)}: slot {slot}: {e}")
    return problems


def _slot_style(value: object, bank_path: Path) -> tuple[Path, str | None]:
    """A slot's value → (style file, family). ValueError says what is wrong and which paths were tried."""
    family = None
    if isinstance(value, dict):
        extra = set(value) - {"style", "family"}
        family = value.get("family")
        if extra or not isinstance(value.get("style"), str) or (family is not None and family not in FAMILIES):
            raise ValueError(f"{value!r}; expected {{ style = \"style path\", family = one of "
                             f"{', '.join(FAMILIES)} }}")
        value = value["style"]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r}; expected a number = \"style path\"")
    tried = style_candidates(value, bank_path)
    for candidate in tried:
        if candidate.is_file():
            return candidate, family
    raise ValueError(f"style file {value!r} not found (tried {', '.join(map(str, tried))})")


def style_candidates(value: str, bank_path: Path) -> list[Path]:
    """Where a slot's style path may be, in the order they are tried (see the module's docstring)."""
    style = Path(value).expanduser()
    if style.is_absolute():
        return [style]
    folder = bank_path.parent
    roots = [folder, preset_roots()[0], folder.parent, *preset_roots()[1:]]
    found = [root / style for root in roots]
    if style.parent == Path("."):  # a bare name: also by name in the styles folders
        file = style.name if style.suffix == ".safetensors" else f"{style.name}.safetensors"
        found += [d / file for d in styles_dirs()]
    return list(dict.fromkeys(found))  # each once, in order


_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-]+)\s*=""")


def _key_lines(text: str) -> dict[tuple[str | None, str], int]:
    """(table, key) → the 1-based line where the key (or its [table.key] header) is written; table None
    is the top level. tomllib keeps no positions; this scan knows the forms a bank is written in."""
    found: dict[tuple[str | None, str], int] = {}
    table = None
    for n, line in enumerate(text.splitlines(), 1):
        m = _TABLE.match(line)
        if m and not line.lstrip().startswith("[["):
            parts = [p.strip().strip("\"'") for p in m.group(1).split(".")]
            found.setdefault((None, parts[0]), n)
            if len(parts) == 2:
                found.setdefault((parts[0], parts[1]), n)
            table = ".".join(parts)  # keys under [slots.3] belong to "slots.3", not the top level
            continue
        m = _KEY.match(line)
        if m:
            parts = [p.strip().strip("\"'") for p in m.group(1).split(".")]
            if table is None and len(parts) == 2:
                found.setdefault((parts[0], parts[1]), n)
                found.setdefault((None, parts[0]), n)
            else:
                found.setdefault((table, parts[0]), n)
    return found


@dataclass
class Loaded:
    deck: str
    ref: object
    style: Style | None
    model: CPPN | None
    error: str | None
    error_kind: str | None = None  # what went wrong, without the particulars (a log line per kind)


class StyleLoader:
    """Loads styles on its own thread. `request()` from any thread; `poll()` on the render thread.

    `prepare(style, model)`, when given, runs on the loader's thread after each load (a cached one
    too): the decks' backend makes there what its set_style would otherwise make on the render
    thread (tables, grids, packed weights). It must be safe off the render thread and touch no GL;
    if it fails the load still goes through (the render thread then makes those itself)."""

    CACHE_SIZE = 32  # styles kept loaded: flipping between a bank's slots all night reads each file once

    def __init__(self, bank: Bank, prepare: Callable[[Style, CPPN], None] | None = None):
        self.bank = bank
        self.prepare = prepare
        self._cache: dict[Path, tuple[tuple[int, int], Style, CPPN]] = {}  # loader thread only
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="livecppn-style-loader", daemon=True)
        self._thread.start()

    def request(self, deck: str, ref: object) -> None:
        self._requests.put((deck, ref))

    def poll(self) -> list[Loaded]:
        """Finished loads; of several for one deck only the newest (the older would be replaced at once)."""
        newest: dict[str, Loaded] = {}
        while True:
            try:
                loaded = self._done.get_nowait()
            except queue.Empty:
                return list(newest.values())
            newest.pop(loaded.deck, None)
            newest[loaded.deck] = loaded

    def stop(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5)

    def _take(self) -> tuple[list[tuple[str, object]], bool]:
        """Wait for requests, then take all that are queued: only the newest per deck is loaded
        (a pad mashed or a flood of loads costs one load, not a backlog). Returns (requests, stop)."""
        items = take_all(self._requests)
        newest = {item[0]: item for item in items if item is not None}
        return list(newest.values()), None in items

    def _run(self) -> None:
        while True:
            requests, stop = self._take()
            for deck, ref in requests:
                self._done.put(self._load(deck, ref))
            if stop:
                return

    def _cached(self, path: Path) -> tuple[Style, CPPN]:
        """The style and its network, read again only when the file changed (size or mtime).
        The network is shared by whoever loads it; the live path only reads it."""
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None  # load_style names the file and the problem
        hit = self._cache.get(path)
        if hit is not None and stamp is not None and hit[0] == stamp:
            return hit[1], hit[2]
        style = load_style(path)
        model = style.build_model()  # the expensive part, here and not on the render thread
        if stamp is not None:
            self._cache.pop(path, None)
            self._cache[path] = (stamp, style, model)
            while len(self._cache) > self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
        return style, model

    def _load(self, deck: str, ref: object) -> Loaded:
        try:
            path = self.bank.resolve(ref)
        except BankError as e:
            return Loaded(deck, ref, None, None, str(e), "no such bank slot or style")
        try:
            style, model = self._cached(path)
        except StyleError as e:
            return Loaded(deck, ref, None, None, str(e), f"style file {path}")
        except Exception as e:  # noqa: BLE001 - a bad load must never take the show down
            log.exception("loading %r into deck %s", ref, deck)
            return Loaded(deck, ref, None, None, f"loading {ref!r}: {e}", "loading a style failed")
        if self.prepare is not None:
            try:
                self.prepare(style, model)
            except Exception:  # noqa: BLE001 - only an optimisation: set_style makes what is missing
                log.exception("preparing %s for the decks (the render thread will make it)", path)
        return Loaded(deck, ref, style, model, None)
