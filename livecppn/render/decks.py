"""Decks A and B on the GPU: each a backend (a generator and its texture sink) holding one style.

Only the decks that are visible are rendered: at crossfader 0 or 1 the other
deck costs nothing. The `go` fade and deck loads are the show's
(show/decks.py). When the glsl backend cannot compile a loaded style's shader, both decks move
to the backends the `fallback` hook builds (its owner decides which and says
so; DESIGN §8). Render thread only.
"""

from __future__ import annotations

import logging
from typing import Callable

from ..control.params import Params
from ..model.style import Style
from .backends import Backend
from .gl import ShaderError

log = logging.getLogger("livecppn.render")


# Given the error and the style each deck should now hold, backends for both decks (or raise).
Fallback = Callable[[ShaderError, dict[str, Style]], dict[str, Backend]]


class Decks:
    def __init__(self, a: Backend, b: Backend, fallback: Fallback | None = None):
        self.decks = {"a": a, "b": b}
        self.fallback = fallback

    def set_style(self, deck: str, style: Style, model=None) -> None:
        """Put a style (loaded off-thread: `model` built there) into a deck, between frames."""
        try:
            self.decks[deck].generator.set_style(style, model)
        except ShaderError as e:  # the glsl backend: this style's program does not compile here
            if self.fallback is None:
                raise
            styles = {k: d.generator.style for k, d in self.decks.items()} | {deck: style}
            self.replace(self.fallback(e, styles))

    def replace(self, backends: dict[str, Backend]) -> None:
        """Both decks onto new backends (the old ones are released); the crossfade goes on."""
        old, self.decks = self.decks, dict(backends)
        for deck in old.values():
            deck.sink.release()

    @property
    def backend(self) -> Backend:
        """Deck A's backend: both decks always run on the same one."""
        return self.decks["a"]

    def resize(self, width: int, height: int) -> None:
        for deck in self.decks.values():
            deck.generator.resize(width, height)
            deck.sink.resize(width, height)

    def render(self, t: float, audio, params: Params):
        """Render the visible decks; returns (texture A or None, texture B or None)."""
        x = params.crossfader
        out = []
        for name, visible in (("a", x < 1.0 - 1e-4), ("b", x > 1e-4)):
            deck = self.decks[name]
            if visible:
                deck.sink.upload(deck.generator.render(t, audio, zoom=params.zoom, rotation=params.rotation))
                out.append(deck.sink.texture)
            else:
                out.append(None)
        return tuple(out)

    def styles(self) -> dict[str, str]:
        return {k: d.generator.style.name for k, d in self.decks.items()}


