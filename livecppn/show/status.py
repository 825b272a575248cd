"""What the show says about itself: one frozen `ShowStatus` per frame (DESIGN §1).

The render thread builds it once per frame from its own objects; the HUD, the
JSON report and the controllers' feedback read only it, never live objects.
Frame-time statistics (`FrameStats`) are kept here too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..control.params import Params
from .outputs.tap import taps_line

STATS_FRAMES = 600  # frame times kept for the HUD's percentiles
BANNER_S = 8.0  # seconds the HUD shows the problems found at start-up above everything else
BANNER_LINES = 3  # start-up problems listed on the banner (the report has them all)


def percentiles(values) -> dict[str, float]:
    if not len(values):
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    a = np.asarray(values, dtype=np.float64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": round(float(a.mean()), 3), "p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(a.max()), 3)}


@dataclass
class FrameStats:
    frame_ms: deque = field(default_factory=lambda: deque(maxlen=STATS_FRAMES))
    cppn_ms: deque = field(default_factory=lambda: deque(maxlen=STATS_FRAMES))
    all_frame_ms: list = field(default_factory=list)
    all_cppn_ms: list = field(default_factory=list)
    per_second: list = field(default_factory=list)  # frames finished in each wall-clock second of the show
    gpu_ms: deque = field(default_factory=lambda: deque(maxlen=STATS_FRAMES))  # CUDA events, cuda backend
    all_gpu_ms: list = field(default_factory=list)
    all_outputs_ms: list = field(default_factory=list)  # the output taps' time on the render thread

    def add_outputs(self, ms: float) -> None:
        self.all_outputs_ms.append(ms)

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


def audio_status(source, analyzer, features) -> dict:
    """The audio side's health and tempo."""
    return {
        "status": getattr(source, "status", "ok") if not source.failed else f"lost: {source.failed}",
        "overflows": int(getattr(source, "overflows", 0)),
        "reconnects": int(getattr(source, "reconnects", 0)),
        "skipped_frames": analyzer.skipped_frames,
        "onsets": len(analyzer.onsets),
        "bpm": round(features.bpm, 2) if features else 0.0,
        "bpm_confidence": round(features.bpm_confidence, 3) if features else 0.0,
        "beats_per_bar": features.beats_per_bar if features else 4,
        "tempo_source": features.tempo_source if features else "none",
        "beat_count": features.beat_count if features else 0,
    }


@dataclass(frozen=True)
class ShowStatus:
    """One frame of the show, as the render thread saw it. Immutable: safe for any reader."""

    frame: int
    params: Params
    features: object  # AudioFeatures, or None before the first
    fps: float
    frame_p50: float
    frame_p99: float
    gpu_p50: float | None
    backend: str
    internal: tuple[int, int]
    decks: MappingProxyType  # deck -> style name
    source: str
    audio: MappingProxyType  # audio_status()
    effects: str
    autopilot: str
    recording: bool
    recorded: int  # pictures recorded, all takes
    rec_dropped: int
    outputs: tuple  # TapState of each output tap (show/outputs/tap.py), the recorder's first
    controls: tuple[str, ...]  # one HUD line on the controllers, or none
    warning: str | None  # the newest warning
    changed: tuple[tuple[str, float, str], ...]  # parameters away from their default: (name, value, unit)
    deck_slots: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # deck -> the bank slot it holds (None: not the bank's)
    startup: tuple[str, ...] = ()  # the problems said at start-up, during the first BANNER_S seconds only


def controls_line(controls: dict) -> tuple[str, ...]:
    """The controllers on one HUD line: OSC port and traffic, MIDI ports, clock and learn."""
    parts = []
    if "osc" in controls:
        osc = controls["osc"]
        parts.append(f"osc :{osc.port} {osc.stats.get('dispatched', 0)} msgs")
    if "midi" in controls:
        midi = controls["midi"].status  # frozen, published by the MIDI thread
        ports = ", ".join(f"{name} {st.state}" for name, st in midi.ports.items())
        parts.append(f"midi {ports}" + (f" clock {midi.clock.bpm:.1f}" if midi.clock.running else ""))
        if midi.armed:
            parts.append(f"LEARN {midi.armed} (L next, Shift+L back, Backspace cancel, S save)")
    if "link" in controls:
        link = controls["link"].state  # frozen, published by the Link thread
        parts.append(f"link {link.peers} peer{'' if link.peers == 1 else 's'}"
                     + (f" {link.bpm:.1f}" if link.bpm else "") if link.enabled else "link off")
    return ("  ".join(parts),) if parts else ()


def controls_report(controls: dict) -> dict:
    """For the report: each controller's message counts; MIDI also its ports (reconnects) and clock."""
    out = {name: dict(control.stats) for name, control in controls.items()}
    if "midi" in controls:
        midi = controls["midi"].status
        out["midi_ports"] = {name: {"state": st.state, "port": st.port, "connects": st.connects}
                             for name, st in midi.ports.items()}
        out["midi_outputs"] = {name: {"state": st.state, "port": st.port, "connects": st.connects}
                               for name, st in midi.outputs.items()}  # feedback
        out["midi_clock"] = {"running": midi.clock.running,
                             "bpm": round(midi.clock.bpm, 3) if midi.clock.bpm else None,
                             "source": midi.clock.source}
        out["midi_learned"] = [{"source": b.source, "number": b.number, "channel": b.channel,
                                "target": b.param or b.trigger} for b in midi.learned]
    if "link" in controls:
        link = controls["link"].state
        out["link_session"] = {"enabled": link.enabled, "peers": link.peers, "quantum": link.quantum,
                               "bpm": round(link.bpm, 3) if link.bpm else None}
    return out


def tempo_text(audio, features) -> str:
    """The HUD's tempo: BPM, its source (the tracker with its confidence) and the beat in the bar."""
    bar = audio.get("beats_per_bar", 4)
    beat_in_bar = min(bar, int(features.bar_phase * bar) + 1) if features else 0
    source = audio["tempo_source"]
    if source == "tracker":
        source = f"tracker {audio.get('bpm_confidence', 0.0):.2f}"
    return f"{audio['bpm']:5.1f} BPM ({source})  beat {beat_in_bar}/{bar}"


def banner_lines(problems: tuple[str, ...]) -> list[str]:
    """The start-up banner: how many problems, and the first BANNER_LINES of them."""
    n = len(problems)
    lines = [f"!! {n} problem{'s' if n > 1 else ''} at start (report: warnings)"]
    lines += [f"! {p[:52]}" for p in problems[:BANNER_LINES]]
    if n > BANNER_LINES:
        lines.append(f"  ... and {n - BANNER_LINES} more")
    return lines


def hud_lines(s: ShowStatus) -> list[str]:
    """The HUD's status page; for the first seconds, the start-up problems' banner above it."""
    audio = s.audio
    tempo = tempo_text(audio, s.features) if audio["bpm"] > 0 else "tempo: listening"
    health = audio["status"] + (f"  overflows {audio['overflows']}" if audio["overflows"] else "")
    rec = (f"   REC {s.recorded} frames" + (f" ({s.rec_dropped} dropped)" if s.rec_dropped else "")
           if s.recording else "")
    lines = [
        f"{s.fps:5.1f} fps   frame p50 {s.frame_p50:.1f} ms  p99 {s.frame_p99:.1f} ms"
        + (f"  gpu p50 {s.gpu_p50:.2f} ms" if s.gpu_p50 is not None else "") + rec,
        f"backend {s.backend} {s.internal[0]}x{s.internal[1]}   {s.effects}",
        "A {a}  B {b}   x {x:.2f}".format(**s.decks, x=s.params.crossfader) + f"   {s.autopilot}",
        f"audio {s.source}",
        f"  {health}   {tempo}",
    ]
    outputs = taps_line(s.outputs)
    if outputs:
        lines.append(outputs)
    if s.warning:
        lines.append(f"! {s.warning[:52]}")
    return (banner_lines(s.startup) if s.startup else []) + lines + list(s.controls)


def changed_lines(s: ShowStatus) -> list[str]:
    """The HUD's second page: every parameter away from its default (Shift+H)."""
    if not s.changed:
        return ["all parameters at their defaults"]
    lines, line = ["changed from default (Shift+H: back)"], ""
    for name, value, unit in s.changed:
        item = f"{name} {value:.3g}{unit if unit in ('×', '°', 's', 'ms') else ''}"
        if line and len(line) + len(item) > 46:
            lines.append(line)
            line = ""
        line = f"{line}  {item}" if line else item
    return lines + [line]
