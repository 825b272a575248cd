"""Banks of styles in numbered slots, and loading styles off the render thread.

A bank is a TOML file in presets/banks/:

    name = "default"
    [slots]
    1 = "styles/default.safetensors"      # the user's styles/ first, then the bank's presets/ folder's
    2 = "/abs/path/to/mine.safetensors"
    3 = { style = "styles/neon.safetensors", family = "geometric" }   # tagged for the autopilot

A slot's family (one of FAMILIES) tells the autopilot what kind of pattern it
holds; untagged slots are never picked by the autopilot.

Loading a style (reading, validating, building the network, and what the
decks' backend makes from it: the `prepare` hook) happens on the loader's own
thread; the render thread picks up finished loads between frames, so a load
never stalls the picture (DESIGN §7, §8).
"""

from __future__ import annotations

import logging
import queue
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..paths import preset_roots
from .cppn import CPPN
from .library import FAMILIES
from .style import Style, StyleError, load_style

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

    def resolve(self, ref: object) -> Path:
        """A slot number (int or digits) or a style name (a slot file's stem) → style path."""
        if isinstance(ref, float) and ref.is_integer():
            ref = int(ref)
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref.strip())
        if isinstance(ref, int):
            if ref not in self.slots:
                raise BankError(f"bank {self.name!r}: no slot {ref} (slots: {sorted(self.slots)})")
            return self.slots[ref]
        if isinstance(ref, str):
            for path in self.slots.values():
                if path.stem.lower() == ref.strip().lower():
                    return path
            raise BankError(f"bank {self.name!r}: no style named {ref!r} "
                            f"(styles: {', '.join(p.stem for p in self.slots.values())})")
        raise BankError(f"bank {self.name!r}: expected a slot number or a style name, got {ref!r}")


def load_bank(path: str | Path) -> Bank:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise BankError(f"bank file {path}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise BankError(f"bank file {path}: {e}") from None  # tomllib's message has the line and column
    unknown = set(data) - {"name", "slots"}
    if unknown:
        raise BankError(f"bank file {path}: unknown keys {sorted(unknown)}; expected 'name' and [slots]")
    slots, families = {}, {}
    for key, value in (data.get("slots") or {}).items():
        family = None
        if isinstance(value, dict):
            extra = set(value) - {"style", "family"}
            family = value.get("family")
            if extra or not isinstance(value.get("style"), str) or (family is not None and family not in FAMILIES):
                raise BankError(f"bank file {path}: slot {key!r} = {value!r}; expected "
                                f"{{ style = \"style path\", family = one of {', '.join(FAMILIES)} }}")
            value = value["style"]
        if not key.isdigit() or not isinstance(value, str):
            raise BankError(f"bank file {path}: slot {key!r} = {value!r}; expected a number = \"style path\"")
        style = Path(value)
        slots[int(key)] = style if style.is_absolute() else _relative_style(style, path)
        if family is not None:
            families[int(key)] = family
    if not slots:
        raise BankError(f"bank file {path}: no [slots]")
    return Bank(name=str(data.get("name") or path.stem), slots=slots, path=path, families=families)


def _relative_style(style: Path, bank_path: Path) -> Path:
    """A slot's relative style path: in the user's folder first (their style shadows a shipped one
    of the same name), then beside the bank (its presets/-like folder), then the shipped presets."""
    own = bank_path.parent.parent
    roots = [preset_roots()[0], own, *preset_roots()[1:]]
    for root in roots:
        if (root / style).is_file():
            return root / style
    return own / style  # missing everywhere: the load names it where the bank says it is


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
