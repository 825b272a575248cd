"""The show's output taps: opened at start (`--ndi`, `--vcam`, `--syphon`, `--spout`) or while playing
(the `ndi`, `vcam`, `syphon`, `spout` triggers), offered every frame's picture after the swap, and
closed with one warning when they fail (DESIGN §6, §8). The recorder is one tap among them; its own
`record` trigger starts and stops its takes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

from ..recorder import wanted
from .tap import Picture, Tap, TapState

log = logging.getLogger("livecppn")

KINDS = ("ndi", "vcam", "syphon", "spout")  # the taps a trigger or an option opens by name
CLOSE_WAIT_S = 1.0  # at the end of the show, each consumer gets this long to finish
# A kind opens at most once in this long: a flood of `ndi 1` / `ndi 0` starts one sender process every
# MIN_OPEN_S, not hundreds (each is a Python process starting up, on the CPU the show needs). An open
# asked for sooner waits for its moment, and is dropped if a close comes first.
MIN_OPEN_S = 2.0


@dataclass(frozen=True)
class TapConfig:
    """How a tap of one kind opens: `target` is the NDI source name, the Syphon or Spout sender's
    name, or the camera device (None: the default); `size` None: the show's; `fps` 0: every frame."""

    target: str | None = None
    size: tuple[int, int] | None = None
    fps: float = 0.0
    at_start: bool = True  # open when the show starts (else only when its trigger asks)


def make_tap(kind: str, ctx, config: TapConfig, show_size: tuple[int, int]) -> Tap:
    """A started tap of `kind`. Raises (ImportError's message, the platform) when it cannot exist here."""
    if kind in ("ndi", "vcam"):
        from .sender import ProcessTap
        from .vcam import DEFAULT_FPS, DEFAULT_SIZE

        if kind == "ndi":  # the show's size and pace unless told
            return ProcessTap(ctx, "ndi", {"name": config.target}, config.size or show_size, config.fps).start()
        return ProcessTap(ctx, "vcam", {"device": config.target}, config.size or DEFAULT_SIZE,
                          config.fps or DEFAULT_FPS).start()
    if kind in ("syphon", "spout"):
        from .share import SpoutTap, SyphonTap

        return (SyphonTap if kind == "syphon" else SpoutTap)(ctx, config.target or "livecppn").start()
    raise ValueError(f"no output tap named {kind!r} (there are: {', '.join(KINDS)})")


class Taps:
    """Render thread only. `configs`: how each kind opens (those `at_start` open now); `recorder`: the
    show's recorder (always there; idle until it records); `show_size()`: the output's size now;
    `extra`: more taps, made from the GL context (tools and tests)."""

    def __init__(self, ctx, showlog, configs: dict[str, TapConfig], recorder, show_size: Callable[[], tuple],
                 extra: tuple[Callable[[object], Tap], ...] = ()):
        self.ctx, self.showlog, self.configs = ctx, showlog, dict(configs)
        self.show_size = show_size  # the output's size now: a tap of a fixed size takes it when it opens
        self.open_taps: dict[str, Tap] = {"record": recorder}
        self.closed: dict[str, TapState] = {}  # the last state of each tap closed since the start
        self.wanted: dict[str, bool] = {}  # kind -> what its latest trigger asked, not carried out yet
        self._last_open: dict[str, float] = {}  # kind -> when it last opened (monotonic s)
        for kind, config in configs.items():
            if config.at_start:
                self.open(kind)
        for factory in extra:
            tap = factory(ctx)
            self.open_taps[tap.name] = tap

    def handlers(self) -> dict:
        """A trigger handler per kind: 1 opens, 0 closes, none toggles."""
        return {kind: (lambda value, *_, kind=kind: self.set(kind, value)) for kind in KINDS}

    def set(self, kind: str, value) -> None:
        self.wanted[kind] = wanted(value, self.wanted.get(kind, kind in self.open_taps))
        self._carry_out(kind)

    def _carry_out(self, kind: str) -> None:
        """Open or close `kind` as wanted; an open within MIN_OPEN_S of the last one waits (offer() retries)."""
        want = self.wanted[kind]
        if want and kind not in self.open_taps:
            if time.monotonic() - self._last_open.get(kind, -math.inf) < MIN_OPEN_S:
                return
            self.open(kind)
        elif not want and kind in self.open_taps:
            self.close(kind)
        del self.wanted[kind]

    def open(self, kind: str) -> None:
        self._last_open[kind] = time.monotonic()
        try:
            tap = make_tap(kind, self.ctx, self.configs.get(kind, TapConfig()), self.show_size())
        except Exception as e:  # noqa: BLE001 - a missing library, the wrong OS: said once, the show goes on
            self.closed[kind] = TapState(kind, "failed", detail=str(e))
            self.showlog.error(f"output {kind} not opened: {e}", f"output {kind} failed")
            return
        self.open_taps[kind] = tap
        self.closed.pop(kind, None)
        log.info("output %s opening", kind)

    def close(self, name: str, reason: str | None = None, wait: float = 0.0) -> None:
        tap = self.open_taps.pop(name)
        try:
            tap.close(wait)
        except Exception as e:  # noqa: BLE001 - a tap that cannot even close is forgotten all the same
            reason = reason or f"{name}: closing: {e}"
        state = tap.state()
        if reason:
            state = dataclasses.replace(state, state="failed", detail=reason)
            self.showlog.error(f"output {name} closed: {reason}; the show goes on", f"output {name} failed")
        else:
            state = dataclasses.replace(state, state="off")
            log.info("output %s closed (%d sent, %d dropped)", name, state.sent, state.dropped)
        self.closed[name] = state

    def offer(self, picture: Picture) -> None:
        """After the swap: every open tap takes the picture (or drops it); a failed or stalled one is closed."""
        for kind in list(self.wanted):  # opens that waited for their moment
            self._carry_out(kind)
        for name, tap in list(self.open_taps.items()):
            try:
                tap.offer(picture)
                reason = tap.failure()
            except Exception as e:  # noqa: BLE001 - a tap's bug must not end the show
                reason = f"{name}: {e!r}"
            if reason:
                self.close(name, reason)

    def states(self) -> tuple[TapState, ...]:
        """Every tap open now, then the ones closed since the start (the HUD's and the report's)."""
        return tuple(tap.state() for tap in self.open_taps.values()) + tuple(self.closed.values())

    def close_all(self) -> None:
        """End of show: each consumer gets CLOSE_WAIT_S to finish (the recorder finishes its files)."""
        for name in list(self.open_taps):
            self.close(name, wait=CLOSE_WAIT_S)

