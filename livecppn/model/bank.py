"""Banks of styles in numbered slots, and loading styles off the render thread.

A bank is a TOML file in presets/banks/:

    name = "default"
    [slots]
    1 = "styles/default.safetensors"      # relative to the bank file's presets/ folder
    2 = "/abs/path/to/mine.safetensors"

Loading a style (reading, validating, building the network) happens on the
loader's own thread; the render thread picks up finished loads between
frames, so a load never stalls the picture (DESIGN §7, §8).
"""

from __future__ import annotations

import logging
import queue
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .cppn import CPPN
from .style import Style, StyleError, load_style

log = logging.getLogger("livecppn.model")


class BankError(ValueError):
    """A bank file that cannot be used; names the file (and line) and the problem."""


@dataclass
class Bank:
    name: str
    slots: dict[int, Path]
    path: Path | None = None

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
    slots = {}
    for key, value in (data.get("slots") or {}).items():
        if not key.isdigit() or not isinstance(value, str):
            raise BankError(f"bank file {path}: slot {key!r} = {value!r}; expected a number = \"style path\"")
        style = Path(value)
        slots[int(key)] = style if style.is_absolute() else (path.parent.parent / style)
    if not slots:
        raise BankError(f"bank file {path}: no [slots]")
    return Bank(name=str(data.get("name") or path.stem), slots=slots, path=path)


@dataclass
class Loaded:
    deck: str
    ref: object
    style: Style | None
    model: CPPN | None
    error: str | None


class StyleLoader:
    """Loads styles on its own thread. `request()` from any thread; `poll()` on the render thread."""

    def __init__(self, bank: Bank):
        self.bank = bank
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="livecppn-style-loader", daemon=True)
        self._thread.start()

    def request(self, deck: str, ref: object) -> None:
        self._requests.put((deck, ref))

    def poll(self) -> list[Loaded]:
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            deck, ref = item
            try:
                style = load_style(self.bank.resolve(ref))
                model = style.build_model()  # the expensive part, here and not on the render thread
                self._done.put(Loaded(deck, ref, style, model, None))
            except (BankError, StyleError) as e:
                self._done.put(Loaded(deck, ref, None, None, str(e)))
            except Exception as e:  # noqa: BLE001 - a bad load must never take the show down
                log.exception("loading %r into deck %s", ref, deck)
                self._done.put(Loaded(deck, ref, None, None, f"loading {ref!r}: {e}"))
