"""`livecppn render TRACK OUT.mp4`: a video of a track, frame-exact, under the offline clock (DESIGN §2).

The same analyser, decks, generator, effects and compositor as `livecppn live`
(show/frame.py runs one frame for both), driven by the frame clock instead
of the wall clock: frame n is shown at n / fps and sees exactly the audio up
to n / fps seconds of the file; dt is 1 / fps; the network's time is the sum
of dt × time_speed. No wall clock is read anywhere, and deck loads happen at
once on this thread, so the same track, style, size, fps and automation give
the same frames, at any resolution and frame rate.

With `automation` (a log written by `livecppn live --record`), the show's
control changes are replayed at the frames that see the same audio, against
the recording's audio (`OUT.wav`): a set played at 720p renders again at 4K.
Without it the autopilot plays, as it would in an untouched show.

Offline tools fail fast (DESIGN §8): a bad input raises RenderError with a
clear message; an encoder failure or Ctrl-C leaves the file playable up to
what was written (fragmented MP4, media/encode.py).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import moderngl
import numpy as np
import torch

from .. import paths
from ..audio.analyzer import Analyzer
from ..audio.base import AudioError
from ..audio.decode import decode_audio
from ..audio.frame_clock import frame_clock, frame_end
from ..control.params import ParamBus
from ..model.bank import BankError, Loaded, StyleLoader, load_bank
from ..model.default_style import make_default_style
from ..model.style import StyleError, load_style
from ..render.backends import CPU, BackendError, Choice, create_backends, resolve_backend
from ..render.compositor import Compositor
from ..render.decks import Decks
from ..render.effects import Effects
from ..render.gl import ShaderError
from ..show.autopilot import Autopilot
from ..show.decks import Crossfade, apply_loads
from ..show.frame import FrameStep, tempo_setup
from ..show.triggers import Triggers
from ..showlog import ShowLog
from ..media.automation import AutomationError, read_automation, replay
from ..media.encode import EncodeError, VideoWriter
from .render_options import RenderOptions

log = logging.getLogger("livecppn")


class RenderError(RuntimeError):
    """A render that cannot start or could not finish; the message says why (and what was written)."""


class RenderInterrupted(RenderError):
    pass


class SyncStyleLoader(StyleLoader):
    """Deck loads at once on the calling thread: frame n shows what was asked for at frame n. Also takes
    a style file's path (an automation log's `load`)."""

    def __init__(self, bank):  # no loader thread
        self.bank, self._cache, self._loaded = bank, {}, []

    def request(self, deck: str, ref: object) -> None:
        if isinstance(ref, Path):
            try:
                style, model = self._cached(ref)
                self._loaded.append(Loaded(deck, ref, style, model, None))
            except StyleError as e:
                self._loaded.append(Loaded(deck, ref, None, None, str(e), f"style file {ref}"))
        else:
            self._loaded.append(self._load(deck, ref))

    def poll(self) -> list[Loaded]:
        loaded, self._loaded = self._loaded, []
        return loaded

    def stop(self) -> None:
        pass


def offscreen_context() -> moderngl.Context:
    """A hidden GL context: the display's (GLX) where there is one, else EGL."""
    try:
        return moderngl.create_standalone_context(require=330)
    except Exception:  # noqa: BLE001 - no display: try EGL before giving up
        try:
            return moderngl.create_standalone_context(require=330, backend="egl")
        except Exception as e:  # noqa: BLE001
            raise RenderError(f"no OpenGL 3.3 context (neither a display nor EGL): {e}") from e


def _decks(opts: RenderOptions, ctx: moderngl.Context, choice: Choice, styles: dict, internal) -> Decks:
    """Decks A and B. When the glsl backend cannot compile a style (at start or at a deck load), a
    render that asked for glsl fails with the driver's message; under `auto` it goes on on cpu (the
    same picture, within the glsl backend's stated tolerance), said once."""
    def fall_back(error: ShaderError, styles: dict) -> dict:
        if opts.backend == "glsl":
            raise RenderError(str(error)) from error
        log.warning("%s; rendering on the cpu backend instead", error)
        return create_backends(CPU, ctx, styles, internal)

    try:
        backends = create_backends(choice, ctx, styles, internal)
    except ShaderError as e:
        backends = fall_back(e, styles)
    return Decks(backends["a"], backends["b"], fallback=fall_back)


def _style(path: Path | None):
    try:
        return load_style(paths.find_style(path) if path else paths.default_style_path())  # a name: user first
    except StyleError as e:
        if path is not None:
            raise RenderError(str(e)) from e
        return make_default_style()


def frame_count(opts: RenderOptions, samples: int, rate: int) -> int:
    """How many frames a render of `samples` audio samples at `rate` makes (the frame clock's)."""
    duration = samples / rate if opts.seconds is None else min(samples / rate, opts.seconds)
    return max(1, round(duration * opts.fps))


@torch.no_grad()  # inference only; scoped, so the caller keeps its own grad mode
def render_file(opts: RenderOptions, ctx: moderngl.Context | None = None, first: int = 0, last: int | None = None,
                audio: bool = True) -> dict:
    """Render opts.track to opts.out; returns a summary. Raises RenderError (RenderInterrupted on Ctrl-C).

    first, last: write only frames first..last-1 (a segment of a render cut up on a cluster,
    offline/cluster_render.py). The frames before `first` still run, so that frame `first` starts from
    the exact state the show had there: the automation replayed, the analyser fed, the network's time
    summed, the effects stepped; their pictures are skipped unless the trail carries them forward.
    audio=False: a silent video (the segments' joiner muxes the track once)."""
    if not opts.fps > 0:
        raise RenderError(f"--fps must be positive, got {opts.fps}")
    planar, rate = _track(opts.track)
    mono = planar.mean(axis=0, dtype=np.float32) if len(planar) > 1 else planar[0]  # as the ring mixes
    automation = None
    if opts.automation is not None:
        try:
            automation = read_automation(opts.automation)
        except AutomationError as e:
            raise RenderError(str(e)) from e
    try:
        bank = load_bank(paths.find_bank(opts.bank) if opts.bank else paths.default_bank_path())
    except BankError as e:
        raise RenderError(str(e)) from e
    if bank.problems:  # offline, a bad slot fails fast (DESIGN §8) rather than at its load mid-render
        raise RenderError("bank problems:\n  " + "\n  ".join(bank.problems))
    show = _OfflineShow(opts, ctx or offscreen_context(), bank, rate, automation)
    step, bus, loader, analyzer, events = show.step, show.bus, show.loader, show.analyzer, show.events
    w, h = opts.size

    n_frames = frame_count(opts, len(mono), rate)
    last = n_frames if last is None else min(last, n_frames)
    if not 0 <= first < last:
        raise RenderError(f"frames {first}..{last}: not a range within the render's {n_frames} frames")
    try:
        writer = VideoWriter(opts.out, (w, h), opts.fps, audio_rate=rate if audio else None,
                             audio_channels=len(planar), options=opts.encode)
    except EncodeError as e:
        raise RenderError(str(e)) from e
    progress = Progress(last - first, opts.fps, opts.progress)
    dt, pos, apos, n = 1.0 / opts.fps, 0, frame_end(first, opts.fps, rate, len(mono)), 0
    applied: list[dict] = []  # the control events each frame acted on (replayed, or the autopilot's)
    try:
        for n in range(last):
            now = frame_clock(n, opts.fps)
            if n in events:
                replay(events[n], bus, loader)
            step.control(now, dt)
            end = frame_end(n, opts.fps, rate, len(mono))  # frame n sees the audio up to n / fps
            tempo_setup(analyzer, step.params)  # beat_lookahead and meter, as live (and as automation set them)
            features = analyzer.process(mono[pos:end], dt)
            pos = end
            step.render(dt, features, draw=n >= first)
            if n < first:
                continue
            applied += [{**e, "frame": n, "t": round(now, 6)} for e in step.events]
            writer.write(show.compositor.read())
            aend = frame_end(n + 1, opts.fps, rate, len(mono))  # the sound while frame n is shown
            writer.write_audio(planar[:, apos:aend])
            apos = aend
            progress.update(n + 1 - first)
        writer.close()
    except KeyboardInterrupt:
        writer.abort()
        raise RenderInterrupted(f"interrupted at frame {n} of {last}: {opts.out} plays up to there") from None
    except EncodeError as e:
        writer.abort()
        kept = (f"{opts.out} plays up to the last complete second before it" if writer.frames and opts.out.exists()
                else "nothing was written")
        raise RenderError(f"{e}; {kept}") from e
    finally:
        progress.done()
    return {"out": str(opts.out), "frames": writer.frames, "size": list(writer.size), "fps": opts.fps,
            "codec": writer.codec, "seconds": round(progress.elapsed, 3),
            "render_fps": round(writer.frames / max(progress.elapsed, 1e-9), 3),
            "realtime": round(writer.frames / opts.fps / max(progress.elapsed, 1e-9), 4),
            "backend": show.decks.decks["a"].name, "internal": list(show.internal),
            "audio_seconds": round(apos / rate, 6),
            "events": applied}


def _track(path: Path):
    """The track's samples (at most two channels: AAC stereo) and rate."""
    try:
        planar, rate = decode_audio(path)
    except AudioError as e:
        raise RenderError(str(e)) from e
    return planar[:2], rate


class _OfflineShow:
    """What a render plays with: the decks, compositor, analyser, bus, loader and the frame step (the
    same as live's), set to the automation log's start state when there is one."""

    def __init__(self, opts: RenderOptions, ctx: moderngl.Context, bank, rate: int, automation):
        w, h = opts.size
        self.internal = opts.internal or (w, h)
        try:
            choice = resolve_backend(opts.backend, ctx)
        except BackendError as e:
            raise RenderError(str(e)) from e
        style_a = _style(opts.style)
        try:
            style_b = load_style(bank.resolve(2)) if 2 in bank.slots else style_a
        except (BankError, StyleError) as e:
            raise RenderError(f"deck B (bank slot 2): {e}") from e
        self.decks = _decks(opts, ctx, choice, {"a": style_a, "b": style_b}, self.internal)
        self.compositor = Compositor(ctx, w, h)
        self.analyzer = Analyzer(rate)
        self.bus = bus = ParamBus()
        self.loader = SyncStyleLoader(bank)
        crossfade, showlog = Crossfade(), ShowLog()
        triggers = Triggers(bus.registry, self.analyzer, crossfade, self.loader, showlog)
        self.step = FrameStep(self.decks, self.compositor, Effects(), bus, triggers, crossfade,
                              None if automation else Autopilot(bank, 0.0))
        self.events = {}
        if automation is not None:
            _start_state(automation.start, bus, self.loader, self.decks, showlog, opts.style is None)
            self.events = automation.frames(opts.fps)
        for name, value in opts.initial.items():
            bus.jump(name, value)


def _start_state(start: dict, bus: ParamBus, loader: SyncStyleLoader, decks: Decks, showlog: ShowLog,
                 own_styles: bool) -> None:
    """The state the recording began in: parameter values and targets, and the decks' styles."""
    for name, value in start.get("values", {}).items():
        if name in bus.specs:
            bus.jump(name, value)
    for name, target in start.get("targets", {}).items():
        if name in bus.specs and target != start.get("values", {}).get(name):
            bus.set(name, target)
    if own_styles:
        for deck, path in start.get("decks", {}).items():
            if path:
                loader.request(deck, Path(path))
        loads = loader.poll()
        for loaded in loads:
            if loaded.error:
                raise RenderError(f"automation log: deck {loaded.deck.upper()}: {loaded.error}")
        apply_loads(decks, loads, showlog)


class Progress:
    """A progress line on stderr: frames, render fps, × real time and ETA."""

    def __init__(self, total: int, fps: float, show: bool):
        self.total, self.fps, self.show = total, fps, show
        self.t0 = self._last = time.perf_counter()
        self.elapsed = 0.0
        self._tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        self.elapsed = now - self.t0
        if not self.show or (now - self._last < (0.25 if self._tty else 5.0) and done < self.total):
            return
        self._last = now
        rate = done / max(self.elapsed, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else math.inf
        bar = "#" * int(24 * done / self.total)
        line = (f"[{bar:<24}] {done}/{self.total} frames  {rate:.1f} fps  {rate / self.fps:.2f}x real time  "
                f"ETA {_clock(eta)}")
        print(("\r" + line) if self._tty else line, end="" if self._tty else "\n", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.show and self._tty:
            print(file=sys.stderr)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
