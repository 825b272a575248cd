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
from .cuda_interop import InteropError
from .gl import ShaderError
from .sinks import TextureSink

log = logging.getLogger("livecppn.render")


# Given the error and the style each deck should now hold, backends for both decks (or raise).
Fallback = Callable[[ShaderError, dict[str, Style]], dict[str, Backend]]
# Given a deck and the CUDA-GL interop error its sink raised, a sink to use instead (the PBO upload).
SinkFallback = Callable[[str, InteropError], TextureSink]


class Decks:
    def __init__(self, a: Backend, b: Backend, fallback: Fallback | None = None,
                 sink_fallback: SinkFallback | None = None):
        self.decks = {"a": a, "b": b}
        self.fallback = fallback
        self.sink_fallback = sink_fallback

    def _to_sink(self, name: str, call: Callable[[TextureSink], None]) -> None:
        """`call(sink)` on a deck's sink. CUDA-GL interop failing there (register on resize, map or copy
        on upload: a driver fault, a GPU switch) moves that deck to the sink `sink_fallback` gives, and
        the call is made again on it: the frame still shows, the other deck is untouched."""
        deck = self.decks[name]
        try:
            call(deck.sink)
        except InteropError as e:
            if self.sink_fallback is None:
                raise
            old, deck.sink = deck.sink, self.sink_fallback(name, e)
            try:
                old.release()
            except Exception as release_error:  # noqa: BLE001 - a broken context may refuse even that
                log.warning("deck %s: releasing the failed sink: %s", name, release_error)
            call(deck.sink)

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
        for name, deck in self.decks.items():
            deck.generator.resize(width, height)
            self._to_sink(name, lambda sink: sink.resize(width, height))

    def render(self, t: float, audio, params: Params):
        """Render the visible decks; returns (texture A or None, texture B or None)."""
        x = params.crossfader
        out = []
        for name, visible in (("a", x < 1.0 - 1e-4), ("b", x > 1e-4)):
            deck = self.decks[name]
            if visible:
                frame = deck.generator.render(t, audio, zoom=params.zoom, rotation=params.rotation)
                self._to_sink(name, lambda sink: sink.upload(frame))  # noqa: B023 - called at once
                out.append(deck.sink.texture)
            else:
                out.append(None)
        return tuple(out)

    def styles(self) -> dict[str, str]:
        return {k: d.generator.style.name for k, d in self.decks.items()}


