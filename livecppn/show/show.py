"""One live show: everything `livecppn live` plays with, and one method per phase of a frame.

`livecppn/live.py` opens the window, the audio and the controllers and runs the
loop; `LiveShow` holds the rest — decks, compositor, HUD, analyser, the frame
step (control and render), triggers, autopilot, recorder, statistics — and
does each phase's work: input (keys, window), control, audio, render, status,
present, outputs. The render thread owns it (DESIGN §1).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from types import MappingProxyType

import moderngl
import torch

from .. import __version__, paths
from ..audio.analyzer import Analyzer
from ..audio.features import FEATURE_NAMES
from ..control.params import ParamBus
from ..model.bank import Bank, BankError, StyleLoader, load_bank
from ..model.style import Style, StyleError, load_style
from ..render.backends import GpuTimer, resolve_backend
from ..render.compositor import Compositor
from ..render.effects import Effects
from ..render.gl import gl_info
from ..render.hud import Hud
from ..render.live_decks import LiveDecks
from ..render.window import Window
from ..showlog import ShowLog
from .autopilot import Autopilot
from .controls import MappingSaver, publish
from .decks import Crossfade
from .frame import FrameStep, tempo_setup
from .outputs.tap import Picture
from .outputs.taps import Taps
from .recorder import Recorder
from .status import BANNER_S, FrameStats, ShowStatus, audio_status, changed_lines, controls_line, hud_lines, percentiles
from .triggers import Triggers

log = logging.getLogger("livecppn")


def open_bank(path: Path | None, showlog: ShowLog) -> Bank:
    """The bank for deck loads. A bad slot is said (once each, with its file and line) and left out,
    the others play; a bank file that cannot be used at all, or has no usable slot, is said and the
    default style is used."""
    try:
        bank = load_bank(paths.find_bank(path) if path else paths.default_bank_path())  # a name: user first
    except BankError as e:
        showlog.error(f"{e}; using the default style only")
        return Bank("fallback", {1: paths.default_style_path()})
    for problem in bank.problems:
        showlog.error(problem)
    if not bank.slots:
        showlog.error(f"bank file {bank.path}: no usable slot; using the default style only")
        return Bank("fallback", {1: paths.default_style_path()})
    return bank


class LiveShow:
    """Render thread only. Built once the GL context exists; `close()` at the end."""

    def __init__(self, opts, ctx: moderngl.Context, surface, style: Style, source, bus: ParamBus, controls: dict,
                 showlog: ShowLog, stop: threading.Event):
        self.opts, self.ctx, self.surface, self.source, self.bus = opts, ctx, surface, source, bus
        self.controls, self.showlog, self.stop = controls, showlog, stop
        self.style_a = style
        self.output = surface.framebuffer_size
        self.bank = bank = open_bank(opts.bank, showlog)
        self._slot_paths, self._slots = None, MappingProxyType({})  # _deck_slots' cache
        self._startup: tuple[str, ...] | None = None  # _banner's: the problems said before the first frame
        self._started = 0.0
        try:
            style_b = load_style(bank.resolve(2)) if 2 in bank.slots else style
        except (BankError, StyleError) as e:
            showlog.error(f"deck B: {e}; it starts on deck A's style")
            style_b = style
        # Decks A and B on the chosen backend at their internal resolution (render/live_decks.py: the
        # calibration, and the fallback to cpu when the glsl backend cannot compile a style).
        self.live = LiveDecks(ctx, resolve_backend(opts.backend, ctx), (style, style_b), self.output, showlog,
                              internal=opts.internal, render_scale=opts.render_scale)
        self.decks = self.live.decks
        self.loader = StyleLoader(bank, prepare=self.live.prepare)  # a deck change's tables, built on its thread
        self.compositor = Compositor(ctx, *self.output)
        self.hud = Hud(ctx)
        self.hud.visible, self.hud_page = opts.hud, 0
        self.analyzer = Analyzer(source.sample_rate)
        self.stats = FrameStats()
        self.effects = Effects()
        self.recorder = Recorder(ctx, opts.record, showlog, source.sample_rate, self._record_state,
                                 opts.record_options, opts.record_fps)
        # Output taps after the swap (DESIGN §6): the recorder, NDI, a virtual camera, Syphon, Spout.
        self.taps = Taps(ctx, showlog, opts.outputs, self.recorder, lambda: self.compositor.size, opts.extra_taps)
        self.saver = MappingSaver(showlog) if "midi" in controls else None
        self.crossfade = Crossfade()
        self.triggers = Triggers(bus.registry, self.analyzer, self.crossfade, self.loader, showlog, controls,
                                 self.saver, extra=self._show_handlers())
        assert not self.triggers.unhandled(), f"triggers without a handler: {self.triggers.unhandled()}"
        self.start = time.perf_counter()
        self.autopilot = Autopilot(bank, self.start)
        self.step = FrameStep(self.decks, self.compositor, self.effects, bus, self.triggers, self.crossfade,
                              self.autopilot)
        self.gpu_timer = GpuTimer(self.decks.backend.generator.device.type == "cuda")
        self.features = None
        self.listened_at = 0.0  # time.monotonic() of the frame's audio snapshot
        self.status: ShowStatus | None = None
        self.gl_errors: dict[str, int] = {}
        self._source_failure: str | None = None
        self._key_triggers: list[tuple[str, object]] = []
        self._key_actions = False

    def _show_handlers(self) -> dict:
        """The triggers the show itself answers: recording, and the window's keys."""
        def toggle_hud(*_):
            self.hud.visible = not self.hud.visible

        def hud_page(*_):
            self.hud.visible, self.hud_page = True, 1 - self.hud_page

        return {"record": lambda v, *_: self.recorder.record(v), **self.taps.handlers(),
                "fullscreen": lambda *_: self.surface.toggle_fullscreen(),
                "hud": toggle_hud, "hud_page": hud_page, "quit": lambda *_: self.stop.set()}

    # --- input -----------------------------------------------------------------------------------

    def input(self) -> bool:
        """Keys and window events; False when the show should end."""
        self._key_triggers, self._key_actions = [], False
        specs = self.bus.registry.trigger_specs
        for action in self.surface.poll():
            self._key_actions = True
            if action == "quit":
                return False
            if action in specs and not specs[action].key_only:
                self.bus.trigger(action)  # keys go through the same queue as MIDI and OSC
            else:
                self._key_triggers.append((action, None))  # the window's and the learn keys, this frame
        if self.surface.should_close() or self.stop.is_set():
            return False
        if self.surface.resized:
            self.surface.resized = False
            out_w, out_h = self.surface.framebuffer_size
            if out_w > 0 and out_h > 0:
                self.output = (out_w, out_h)
                self.compositor.resize(out_w, out_h)
                self.live.follow(out_w, out_h)
        return True

    # --- control and audio -----------------------------------------------------------------------

    def control(self, now: float, dt: float) -> None:
        failed = self.source.failed
        if bool(failed) != bool(self._source_failure):  # log each change once: lost, then back (DESIGN §8)
            if failed:
                self.showlog.error(f"audio source {self.source.name} stopped: {failed}; continuing in silence")
            else:
                self.showlog.warn(f"audio source {self.source.name} is back")
            self._source_failure = failed
        self.step.control(now, dt, self._key_triggers, self._key_actions)
        if "midi" in self.controls:  # learn commands that failed on the MIDI thread
            for msg in self.controls["midi"].take_errors():
                self.showlog.error(msg, "MIDI learn failed")
        for msg in self.bus.rejected:  # bad control input: logged once per kind, never stops the show
            self.showlog.warn(msg, msg.split(" = ")[0])
        self.bus.rejected.clear()

    def listen(self, dt: float):
        tempo_setup(self.analyzer, self.step.params)  # beat_lookahead and meter, live
        self.features = self.analyzer.update(self.source.ring, dt)  # never waits for audio
        self.listened_at = self.analyzer.updated_at
        return self.features

    # --- render, status, present, outputs ---------------------------------------------------------

    def render(self, dt: float) -> float:
        """The frame's picture into the compositor; returns the CPPN's milliseconds (on cuda: to queue it)."""
        t0 = time.perf_counter()
        self.gpu_timer.start()
        self.step.render(dt, self.features)
        self.gpu_timer.stop()
        for ms in self.gpu_timer.finished():
            self.stats.add_gpu(ms)
        return (time.perf_counter() - t0) * 1000

    def publish(self, frame: int, now: float) -> ShowStatus:
        """This frame's ShowStatus, handed to the controllers (feedback, relative encoders)."""
        ft, params = percentiles(self.stats.frame_ms), self.step.params
        registry = self.bus.registry
        self.status = ShowStatus(
            frame=frame, params=params, features=self.features,
            fps=1000.0 / ft["mean"] if ft["mean"] else 0.0, frame_p50=ft["p50"], frame_p99=ft["p99"],
            gpu_p50=percentiles(self.stats.gpu_ms)["p50"] if self.stats.gpu_ms else None,
            backend=self.decks.backend.name, internal=tuple(self.live.internal),
            decks=MappingProxyType(self.decks.styles()), source=self.source.name,
            audio=MappingProxyType(audio_status(self.source, self.analyzer, self.features)),
            effects=self.effects.describe(), autopilot=self.autopilot.status(now, params),
            recording=self.recorder.recording, recorded=self.recorder.frames, rec_dropped=self.recorder.dropped,
            outputs=self.taps.states(),
            controls=controls_line(self.controls), warning=self.showlog.last,
            changed=tuple((s.name, round(v, 4), s.unit) for s, v in registry.changed_from_defaults(params.values)),
            deck_slots=self._deck_slots(), startup=self._banner(now))
        publish(self.controls, self.status)
        return self.status

    def _banner(self, now: float) -> tuple[str, ...]:
        """The problems said before the first frame, while the start-up banner lasts (BANNER_S)."""
        if self._startup is None:
            self._startup, self._started = tuple(self.showlog.messages), now
        return self._startup if now - self._started < BANNER_S else ()

    def _deck_slots(self) -> MappingProxyType:
        """Deck -> the bank slot it holds (MIDI feedback's slot pads); looked up again only after a load."""
        paths = tuple((k, d.generator.style.path) for k, d in self.decks.decks.items())
        if paths != self._slot_paths:
            self._slot_paths = paths
            self._slots = MappingProxyType({k: self.bank.slot_of(path) for k, path in paths})
        return self._slots

    def present(self, status: ShowStatus) -> None:
        if isinstance(self.surface, Window):
            self.compositor.present(self.ctx.screen, self.output)
            if self.hud.visible:
                self.hud.update_text(hud_lines(status) if self.hud_page == 0 else changed_lines(status))
                levels = status.features.vector().copy()
                levels[FEATURE_NAMES.index("time")] = status.features.time % 1.0
                self.hud.draw(self.ctx.screen, self.output, levels)
        self.surface.swap()

    def outputs(self, frame: int) -> None:
        """After the swap: the recorder gets (audio span, events), every tap the picture; GL errors are counted."""
        t0 = time.perf_counter()
        self.recorder.frame(self.analyzer.span, self.step.events)
        # The picture is drawn by now (the frame is shown): no tap's readback makes the frame wait.
        self.taps.offer(Picture(self.compositor, t0 - self.start, frame))
        self.stats.add_outputs((time.perf_counter() - t0) * 1000)
        err = self.ctx.error
        if err != "GL_NO_ERROR":
            # Not fatal (a lost context fails loudly in the calls themselves): log each kind once, count them.
            self.gl_errors[err] = self.gl_errors.get(err, 0) + 1
            self.showlog.error(f"OpenGL error {err} in frame {frame}; continuing", f"OpenGL error {err}")

    def _record_state(self) -> dict:
        """The state a take starts from (its automation log's first line)."""
        bus = self.bus
        return {"values": bus.snapshot().as_dict(), "targets": {k: bus.target(k) for k in bus.specs},
                "decks": {k: str(d.generator.style.path) if d.generator.style.path else None
                          for k, d in self.decks.decks.items()},
                "size": self.compositor.size}

    # --- the end ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.taps.close_all()  # the recorder finishes its files; every other consumer is let go
        self.ctx.finish()
        self.loader.stop()
        if self.saver is not None:
            self.saver.stop()

    def report(self, frames: int, elapsed: float) -> dict:
        from ..jsonable import rounded
        from .status import controls_report

        s, stats, backend = self.status, self.stats, self.decks.backend
        params = s.params if s else self.bus.snapshot()
        return {
            "livecppn": __version__,
            "frames": frames,
            "seconds": round(elapsed, 3),
            "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
            "frame_ms": percentiles(stats.all_frame_ms),
            "cppn_ms": percentiles(stats.all_cppn_ms),
            "frames_per_second": stats.per_second,  # a timeline: when the show slowed down, if it did
            "backend": backend.name,
            "sink": backend.sink.name,
            "gpu_ms": percentiles(stats.all_gpu_ms) if self.gpu_timer.enabled else None,
            "gpu_memory_mb": _gpu_memory_mb(backend),
            "device": str(backend.generator.device),
            "dtype": str(backend.generator.dtype).replace("torch.", ""),
            "internal_resolution": list(self.live.internal),
            "output_resolution": list(self.output),
            "calibration": self.live.calibration,
            "style": self.decks.decks["a"].generator.style.name,
            "style_path": str(self.style_a.path) if self.style_a.path else None,
            "decks": {**self.decks.styles(), "crossfader": round(params.crossfader, 6), "bank": self.bank.name},
            "audio_source": self.source.name,
            "audio_seconds": round(self.source.position(), 3),
            "audio": audio_status(self.source, self.analyzer, self.features),
            "params": rounded(params.as_dict()),
            "features": rounded(self.features.as_dict()) if self.features else None,
            "changed": {name: value for name, value, _ in s.changed} if s else {},
            "gl": gl_info(self.ctx),
            "gl_errors": self.gl_errors,
            "controls": controls_report(self.controls),
            "effects": self.effects.describe(),
            "recording": self.recorder.report(),
            "outputs": {s.name: dataclasses.asdict(s) for s in self.taps.states()},
            "outputs_ms": percentiles(stats.all_outputs_ms),
            "autopilot": {"engaged": self.autopilot.engaged, "changes": self.autopilot.changes,
                          "handbacks": self.autopilot.handbacks, "character": vars(self.autopilot.character)},
            "torch_threads": torch.get_num_threads(),
            "warnings": self.showlog.messages,
            "startup_problems": list(self._startup or self.showlog.messages),  # said before the first frame
            "warnings_repeated": self.showlog.report()["repeated"],
        }


def _gpu_memory_mb(backend) -> float | None:
    if backend.generator.device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(backend.generator.device) / 2**20, 1)
