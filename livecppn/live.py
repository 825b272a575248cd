"""`livecppn live`: open the window, the audio and the controllers, run the show's frame loop, write the report.

The render thread (this one) owns the GL context; the show's parts and each
phase's work are in show/show.py (`LiveShow`). Each frame it takes one
snapshot of audio features (from the newest audio window) and one of the
parameters, renders the CPPN through the chosen backend, composites, draws the
HUD and swaps. Nothing is queued between stages: every frame uses the newest
audio, so latency cannot build up.

The show must go on (DESIGN §8): a bad style file falls back to the default
style, a missing input device to the synthetic beat, a dying audio source to
silence. Only a broken GL context or a quit ends the loop.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import moderngl
import torch

from . import paths
from .audio.sources import open_source
from .control.params import ParamBus
from .control.registry import default_registry
from .live_options import LiveOptions
from .model.default_style import make_default_style
from .model.style import Style, StyleError, load_style
from .render.gl import gl_info
from .render.window import OffscreenSurface, Window, WindowError
from .show.controls import start_controls
from .show.setcheck import check_set
from .show.show import LiveShow
from .showlog import ShowLog

log = logging.getLogger("livecppn")

def load_style_or_default(path: Path | None, showlog: ShowLog) -> Style:
    """The asked-for style, else the shipped default, else the default built in memory."""
    asked = paths.find_style(path) if path else None  # a name: the user's styles first, then the shipped
    for candidate in ([asked] if asked else []) + [paths.default_style_path()]:
        try:
            return load_style(candidate)
        except StyleError as e:
            showlog.error(f"{e}; {'using the default style' if candidate == asked else 'building it in memory'}")
    return make_default_style()


def open_surface(opts: LiveOptions, showlog: ShowLog, keys: dict[str, str]):
    """A glfw window (hidden when headless); headless with no display falls back to EGL."""
    try:
        return Window(opts.size, fullscreen=opts.fullscreen, monitor=opts.monitor,
                      visible=not opts.headless, vsync=opts.vsync and not opts.headless, keys=keys), None
    except WindowError as e:
        if not opts.headless:
            raise
        showlog.warn(f"no window ({e}); rendering headless through EGL")
        ctx = moderngl.create_standalone_context(require=330, backend="egl")
        return OffscreenSurface(opts.size), ctx


@contextmanager
def quit_on_signals(stop: threading.Event):
    """Ctrl-C and SIGTERM end the show like Q does: the loop finishes the frame,
    the report is written, audio and window are closed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_live(opts: LiveOptions) -> dict:
    """Run the show until quit (or opts.frames); return the report (also written to opts.report)."""
    showlog = ShowLog()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    with torch.no_grad():  # inference only; scoped, so a caller (a test, a tool) keeps its own grad mode
        return _run_live(opts, showlog)


# Parts of the set check the show's own openers say at start anyway (with what they fall back to).
SAID_BY_OPENERS = frozenset({"style", "osc", "set"})


def say_set_problems(opts: LiveOptions, showlog: ShowLog) -> None:
    """`livecppn check`'s pass, at start (no audio, no GL): each problem in the log, the HUD's start-up
    banner and the report's warnings. The show then goes on, falling back as it always does."""
    # The mapping: start_controls (open_mapping) loads and checks it whenever --midi or --midi-map is given.
    skip = SAID_BY_OPENERS | {"mapping"}
    for problem in check_set(opts, skip=skip):
        (showlog.error if problem.blocking else showlog.warn)(str(problem).removesuffix(" (warning)"))


def _run_live(opts: LiveOptions, showlog: ShowLog) -> dict:
    say_set_problems(opts, showlog)
    style = load_style_or_default(opts.style, showlog)
    # falls back to the synthetic beat when there is no input at all
    source = open_source(opts.audio, mute=opts.mute, block=opts.audio_block)
    if getattr(source, "fallback", None):  # said in the log, the HUD and the report's warnings
        showlog.warn(source.fallback)
    registry = default_registry()
    surface, ctx = open_surface(opts, showlog, registry.keys)
    stop = threading.Event()
    bus = ParamBus(registry)
    for name, value in opts.initial.items():
        if name not in bus.specs:
            raise ValueError(f"--set {name}: no such parameter (see the README's parameter table)")
        spec = bus.specs[name]
        if spec.clamp(value) != value:  # said, not silently clamped
            showlog.warn(f"--set {name}={value:g} is outside {spec.minimum:g}–{spec.maximum:g}; "
                         f"starting at {spec.clamp(value):g}")
        bus.jump(name, value)
    controls = start_controls(opts, bus, showlog)
    try:
        ctx = ctx or moderngl.create_context(require=330)
        with quit_on_signals(stop):
            show = LiveShow(opts, ctx, surface, style, source, bus, controls, showlog, stop)
            source.start()
            log.info("livecppn live: style %r, audio %s, backend %s (%s), internal %dx%d, output %dx%d, GL %s",
                     style.name, source.name, show.decks.backend.name, show.decks.backend.sink.name,
                     *show.live.internal, *show.output, gl_info(ctx)["renderer"])
            report = _loop(opts, show)
    finally:
        gc.unfreeze()  # _loop froze the start-up heap for the show
        for control in controls.values():
            control.stop()
        source.stop()
        surface.close()
    if opts.report:
        opts.report.parent.mkdir(parents=True, exist_ok=True)
        opts.report.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _loop(opts: LiveOptions, show: LiveShow) -> dict:
    """The frame loop: each frame reads input, steps control, takes one audio snapshot, renders,
    publishes the frame's status, presents it and feeds the outputs; never waits for audio."""
    # Everything made so far (torch, moderngl, the decks) lives for the whole show: out of the collector's
    # sight, a full collection walks only what the show makes later, not ~200k objects (75 ms: a hitch).
    gc.collect()
    gc.freeze()
    frames = 0
    start = last = time.perf_counter()
    while opts.frames is None or frames < opts.frames:
        now = time.perf_counter()
        dt = min(max(now - last, 1e-4), 0.25)  # a stall must not make smoothing or time jump
        last = now
        # input: keys (the window's own at once, the rest onto the control queue), resize, quit
        if not show.input():
            break
        # control: the controllers' events, the go fade, triggers, the autopilot, deck loads
        show.control(now, dt)
        # audio: one snapshot of the newest window
        show.listen(dt)
        # render: effects, the CPPN on the visible decks, the transition + effects pass
        cppn_ms = show.render(dt)
        # status: one frozen ShowStatus for the HUD, the report and the controllers' feedback
        status = show.publish(frames, now)
        # present: the picture and the HUD, then swap
        show.present(status)
        # outputs: the recorder gets (audio span, events, picture); GL errors are counted
        show.outputs(frames)
        # stats
        frames += 1
        end = time.perf_counter()
        show.stats.add((end - now) * 1000, cppn_ms, int(end - start))
        if opts.on_frame is not None:
            opts.on_frame(frames, now, end, status.params, frozenset(show.bus.changed))
        if opts.on_status is not None:
            opts.on_status(status, show.listened_at)
    elapsed = time.perf_counter() - start
    show.close()
    return show.report(frames, elapsed)
