"""`livecppn live`: the frame loop (DESIGN §1), wiring audio, control, model and render.

The render thread (this one) owns the GL context. Each frame it takes one
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
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import moderngl
import numpy as np
import torch

from . import paths
from .jsonable import rounded
from .audio.analyzer import Analyzer
from .audio.features import FEATURE_NAMES
from .audio.sources import open_source
from .autopilot import Autopilot
from .control.params import ParamBus
from .model.default_style import make_default_style
from .model.style import Style, StyleError, load_style
from .model.bank import Bank, BankError, StyleLoader, load_bank
from .render.backends import GpuTimer, resolve_backend
from .render.decks import Decks
from .render.live_decks import LiveDecks
from .render.compositor import Compositor
from .render.effects import Effects
from .render.frame import FrameStep
from .render.recorder import LIVE_ENCODE, RECORD_FPS, Recorder
from .offline.encode import EncodeOptions
from .render.gl import gl_info
from .render.hud import Hud
from .render.window import OffscreenSurface, Window, WindowError
from .showcontrol import Triggers, control_lines, controls_report, log_rejected, start_controls
from .showlog import ShowLog

log = logging.getLogger("livecppn")

STATS_FRAMES = 600  # frame times kept for the HUD's percentiles


@dataclass
class LiveOptions:
    style: Path | None = None  # deck A's style (default: the shipped default)
    bank: Path | None = None  # default: presets/banks/default.toml; deck B starts on its slot 2
    audio: str | None = None
    mute: bool = False  # a file source is analysed without playing it
    audio_block: int = 256  # device capture block (samples)
    size: tuple[int, int] = (1280, 720)
    fullscreen: bool = False
    monitor: int = 0
    headless: bool = False
    frames: int | None = None  # stop after this many frames (None: until quit)
    report: Path | None = None
    backend: str = "auto"
    internal: tuple[int, int] | None = None  # None: output × render_scale, or chosen by calibration
    render_scale: float | None = None  # internal = output × this (default: 1 on cuda, calibrated on cpu and glsl)
    vsync: bool = True
    hud: bool = True
    threads: int | None = None
    osc_port: int | None = 9000  # None: no OSC server
    osc_host: str = "127.0.0.1"  # listening on the network is opt-in
    osc_allow: list[str] | None = None  # source addresses accepted (default: any that can reach the port)
    osc_send: str | None = None  # HOST:PORT that receives the audio features
    midi: list[str] = field(default_factory=list)  # MIDI input names (exact, then substring)
    midi_map: Path | None = None  # default: presets/mappings/generic.toml
    initial: dict[str, float] = field(default_factory=dict)  # parameter values to start from (--set NAME=VALUE)
    record: Path | None = None  # record the output, the audio and the automation log here from the start
    record_options: EncodeOptions = LIVE_ENCODE
    record_fps: float = RECORD_FPS  # pictures a second in the recording (0: every frame shown)
    # Called after each frame is shown with (frame index, frame start, frame shown, params, the parameters
    # a controller set in it), perf_counter seconds; for measurements (tools/bench_osc.py). Render thread.
    on_frame: Callable[[int, float, float, object, frozenset], None] | None = None


@dataclass
class FrameStats:
    frame_ms: deque = field(default_factory=lambda: deque(maxlen=STATS_FRAMES))
    cppn_ms: deque = field(default_factory=lambda: deque(maxlen=STATS_FRAMES))
    all_frame_ms: list = field(default_factory=list)
    all_cppn_ms: list = field(default_factory=list)
    per_second: list = field(default_factory=list)  # frames finished in each wall-clock second of the show
    gpu_ms: deque = field(default_factory=lambda: deque(maxlen=STATS_FRAMES))  # CUDA events, cuda backend
    all_gpu_ms: list = field(default_factory=list)

    def add_gpu(self, ms: float) -> None:
        self.gpu_ms.append(ms)
        self.all_gpu_ms.append(ms)

    def add(self, frame_ms: float, cppn_ms: float, second: int) -> None:
        while len(self.per_second) <= second:
            self.per_second.append(0)
        self.per_second[second] += 1
        self.frame_ms.append(frame_ms)
        self.cppn_ms.append(cppn_ms)
        self.all_frame_ms.append(frame_ms)
        self.all_cppn_ms.append(cppn_ms)


def percentiles(values) -> dict[str, float]:
    if not len(values):
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    a = np.asarray(values, dtype=np.float64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": round(float(a.mean()), 3), "p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(a.max()), 3)}


def load_style_or_default(path: Path | None, showlog: ShowLog) -> Style:
    """The asked-for style, else the shipped default, else the default built in memory."""
    for candidate in ([path] if path else []) + [paths.default_style_path()]:
        try:
            return load_style(candidate)
        except StyleError as e:
            showlog.error(f"{e}; {'using the default style' if candidate == path else 'building it in memory'}")
    return make_default_style()


def open_surface(opts: LiveOptions, showlog: ShowLog):
    """A glfw window (hidden when headless); headless with no display falls back to EGL."""
    try:
        return Window(opts.size, fullscreen=opts.fullscreen, monitor=opts.monitor,
                      visible=not opts.headless, vsync=opts.vsync and not opts.headless), None
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


def _run_live(opts: LiveOptions, showlog: ShowLog) -> dict:
    style = load_style_or_default(opts.style, showlog)
    # falls back to the synthetic beat when there is no input at all
    source = open_source(opts.audio, mute=opts.mute, block=opts.audio_block)
    surface, ctx = open_surface(opts, showlog)
    stop = threading.Event()
    bus = ParamBus()
    for name, value in opts.initial.items():
        if name not in bus.specs:
            raise ValueError(f"--set {name}: no such parameter (see the README's parameter table)")
        bus.jump(name, value)
    controls = start_controls(opts, bus, showlog)
    try:
        ctx = ctx or moderngl.create_context(require=330)
        with quit_on_signals(stop):
            report = _loop(opts, ctx, surface, style, source, bus, controls, showlog, stop)
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


def open_bank(path: Path | None, showlog: ShowLog) -> Bank:
    """The bank for deck loads; a bad bank file is reported and the shipped styles are used."""
    try:
        return load_bank(path or paths.default_bank_path())
    except BankError as e:
        showlog.error(f"{e}; using the default style only")
        return Bank("fallback", {1: paths.default_style_path()})


def _loop(opts: LiveOptions, ctx: moderngl.Context, surface, style: Style, source, bus: ParamBus,
          controls: dict, showlog: ShowLog, stop: threading.Event) -> dict:
    out_w, out_h = surface.framebuffer_size
    bank = open_bank(opts.bank, showlog)
    try:
        style_b = load_style(bank.resolve(2)) if 2 in bank.slots else style
    except (BankError, StyleError) as e:
        showlog.error(f"deck B: {e}; it starts on deck A's style")
        style_b = style

    # Decks A and B on the chosen backend at their internal resolution (render/live_decks.py: the
    # calibration, and the fallback to cpu when the glsl backend cannot compile a style).
    live = LiveDecks(ctx, resolve_backend(opts.backend, ctx), (style, style_b), (out_w, out_h), showlog,
                     internal=opts.internal, render_scale=opts.render_scale)
    decks = live.decks
    loader = StyleLoader(bank, prepare=live.prepare)  # builds what a deck change needs on its own thread

    compositor = Compositor(ctx, out_w, out_h)
    hud = Hud(ctx)
    hud.visible = opts.hud
    analyzer = Analyzer(source.sample_rate)
    stats = FrameStats()
    triggers = Triggers(analyzer, decks, loader, controls, showlog)
    effects = Effects()
    recorder = Recorder(ctx, opts.record, showlog, opts.record_options, opts.record_fps)
    source.start()
    gpu_timer = GpuTimer(decks.backend.generator.device.type == "cuda")
    log.info("livecppn live: style %r, audio %s, backend %s (%s), internal %dx%d, output %dx%d, GL %s",
             style.name, source.name, decks.backend.name, decks.backend.sink.name, *live.internal, out_w, out_h,
             gl_info(ctx)["renderer"])

    source_failure: str | None = None
    gl_errors: dict[str, int] = {}
    frames = 0
    features = None
    params = bus.snapshot()
    start = last = time.perf_counter()
    autopilot = Autopilot(bank, start)
    step = FrameStep(decks, compositor, effects, bus, triggers, autopilot)
    # Everything made so far (torch, moderngl, the decks) lives for the whole show: out of the
    # collector's sight, a full collection walks only what the show makes later, not ~200k objects
    # (75 ms of CPU, 100-160 ms on a busy 2-core machine: a hitch whenever one falls).
    gc.collect()
    gc.freeze()
    while opts.frames is None or frames < opts.frames:
        now = time.perf_counter()
        dt = min(max(now - last, 1e-4), 0.25)  # a stall must not make smoothing or time jump
        last = now

        key_triggers = []
        key_actions = False
        for action in surface.poll():
            key_actions = True
            if action == "quit":
                surface_quit = True
                break
            if action == "fullscreen":
                surface.toggle_fullscreen()
            elif action == "hud":
                hud.visible = not hud.visible
            elif action in ("tap", "tap_clear", "record"):
                bus.trigger(action)  # keys go through the same queue as MIDI and OSC
            else:
                key_triggers.append((action, None))  # the learn keys
        else:
            surface_quit = False
        if surface_quit or surface.should_close() or stop.is_set():
            break

        if surface.resized:
            surface.resized = False
            out_w, out_h = surface.framebuffer_size
            if out_w > 0 and out_h > 0:
                compositor.resize(out_w, out_h)
                live.follow(out_w, out_h)

        failed = source.failed
        if bool(failed) != bool(source_failure):  # log each change once: lost, then back (DESIGN §8)
            if failed:
                showlog.error(f"audio source {source.name} stopped: {failed}; continuing in silence")
            else:
                showlog.warn(f"audio source {source.name} is back")
            source_failure = failed

        # One snapshot of parameters and one of audio features per frame (render/frame.py: shared
        # with the offline renderer).
        params = step.control(now, dt, key_triggers, key_actions)
        if bus.rejected:
            log_rejected(bus.rejected, showlog)
        features = analyzer.update(source.ring, dt)  # never waits for audio
        t0 = time.perf_counter()
        gpu_timer.start()
        step.render(now, dt, features)  # autopilot, effects, the visible decks, the compositor pass
        gpu_timer.stop()
        cppn_ms = (time.perf_counter() - t0) * 1000  # on cuda: the time to queue the work
        for ms in gpu_timer.finished():
            stats.add_gpu(ms)
        if "osc" in controls:
            controls["osc"].publish(params, features)  # feedback and --osc-send; never blocks
        # --record: start/stop, the automation log and the audio heard (the picture after the swap)
        recorder.frame(analyzer, source.ring, compositor, bus, decks, step.events)
        if isinstance(surface, Window):
            compositor.present(ctx.screen, (out_w, out_h))
            if hud.visible:
                lines = _hud_lines(stats, decks.backend.name, decks, params, source, analyzer, features,
                                   live.internal, showlog)
                lines[1] += f"   {effects.describe()}"
                lines[2] += f"   {autopilot.status(now, params)}"
                if recorder.recording:
                    lines[0] += f"   REC {recorder.frames} frames" + (f" ({recorder.dropped} dropped)"
                                                                       if recorder.dropped else "")
                hud.update_text(lines + control_lines(controls))
                levels = features.vector().copy()
                levels[FEATURE_NAMES.index("time")] = features.time % 1.0
                hud.draw(ctx.screen, (out_w, out_h), levels)
        surface.swap()
        recorder.capture(compositor)  # after the swap: the picture is drawn, the readback never waits
        err = ctx.error
        if err != "GL_NO_ERROR":
            # Not fatal (a lost context fails loudly in the calls themselves):
            # log each kind once, count them, keep playing.
            gl_errors[err] = gl_errors.get(err, 0) + 1
            showlog.error(f"OpenGL error {err} in frame {frames}; continuing", f"OpenGL error {err}")
        frames += 1
        end = time.perf_counter()
        stats.add((end - now) * 1000, cppn_ms, int(end - start))
        if opts.on_frame is not None:
            opts.on_frame(frames, now, end, params, frozenset(bus.changed))

    elapsed = time.perf_counter() - start
    recorder.stop()
    ctx.finish()
    loader.stop()
    triggers.stop()
    return {
        "frames": frames,
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
        "frame_ms": percentiles(stats.all_frame_ms),
        "cppn_ms": percentiles(stats.all_cppn_ms),
        "frames_per_second": stats.per_second,  # a timeline: when the show slowed down, if it did
        "backend": decks.backend.name,
        "sink": decks.backend.sink.name,
        "gpu_ms": percentiles(stats.all_gpu_ms) if gpu_timer.enabled else None,
        "gpu_memory_mb": _gpu_memory_mb(decks.backend),
        "device": str(decks.backend.generator.device),
        "dtype": str(decks.backend.generator.dtype).replace("torch.", ""),
        "internal_resolution": list(live.internal),
        "output_resolution": [out_w, out_h],
        "calibration": live.calibration,
        "style": decks.decks["a"].generator.style.name,
        "style_path": str(style.path) if style.path else None,
        "decks": {**decks.styles(), "crossfader": round(params.crossfader, 6), "bank": bank.name},
        "audio_source": source.name,
        "audio_seconds": round(source.position(), 3),
        "audio": audio_status(source, analyzer, features),
        "params": rounded(params.as_dict()),
        "features": rounded(features.as_dict()) if features else None,
        "gl": gl_info(ctx),
        "gl_errors": gl_errors,
        "controls": controls_report(controls),
        "effects": effects.describe(),
        "recording": recorder.report(),
        "autopilot": {"engaged": autopilot.engaged, "changes": autopilot.changes,
                      "handbacks": autopilot.handbacks, "character": vars(autopilot.character)},
        "torch_threads": torch.get_num_threads(),
        "warnings": showlog.messages,
        "warnings_repeated": showlog.report()["repeated"],
    }


def _gpu_memory_mb(backend) -> float | None:
    if backend.generator.device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(backend.generator.device) / 2**20, 1)


def audio_status(source, analyzer: Analyzer, features) -> dict:
    """The audio side's health and tempo, for the report and the HUD."""
    return {
        "status": getattr(source, "status", "ok") if not source.failed else f"lost: {source.failed}",
        "overflows": int(getattr(source, "overflows", 0)),
        "reconnects": int(getattr(source, "reconnects", 0)),
        "skipped_frames": analyzer.skipped_frames,
        "onsets": len(analyzer.onsets),
        "bpm": round(features.bpm, 2) if features else 0.0,
        "tempo_source": features.tempo_source if features else "none",
        "beat_count": features.beat_count if features else 0,
    }


def _hud_lines(stats: FrameStats, backend: str, decks: Decks, params, source, analyzer: Analyzer, features,
               internal, showlog: ShowLog) -> list[str]:
    ft = percentiles(stats.frame_ms)
    fps = 1000.0 / ft["mean"] if ft["mean"] else 0.0
    audio = audio_status(source, analyzer, features)
    beat_in_bar = int(features.bar_phase * 4) + 1 if features else 0
    tempo = (f"{audio['bpm']:5.1f} BPM ({audio['tempo_source']})  beat {beat_in_bar}/4"
             if audio["bpm"] > 0 else "tempo: listening")
    health = audio["status"] + (f"  overflows {audio['overflows']}" if audio["overflows"] else "")
    lines = [
        f"{fps:5.1f} fps   frame p50 {ft['p50']:.1f} ms  p99 {ft['p99']:.1f} ms"
        + (f"  gpu p50 {percentiles(stats.gpu_ms)['p50']:.2f} ms" if stats.gpu_ms else ""),
        f"backend {backend} {internal[0]}x{internal[1]}",
        "A {a}  B {b}   x {x:.2f}".format(**decks.styles(), x=params.crossfader),
        f"audio {source.name}",
        f"  {health}   {tempo}",
    ]
    if showlog.last:
        lines.append(f"! {showlog.last[:52]}")
    return lines
