"""Post effects: what the frame's parameters and audio ask of the compositor (DESIGN §1).

`Effects.update` runs once per frame on the render thread. It turns the
effect parameters and the frame's onset / beat / bar state into one frozen
`EffectFrame` of shader inputs: pulse envelopes, the spin angle, the hue
phase and the trail's feedback weight. Everything is timed in seconds and
beats, never in frames, so the look does not change with the frame rate.

Pulses follow onsets (0), beats (1) or bars (2) (`*_sync`). With no tempo
known, beats and bars fall back to onsets, and beat-timed lengths use
120 BPM. A tempo the show does not trust (control/beat_trust.py) fades to
that same no-tempo behaviour: the beat/bar-synced part of each pulse is
scaled by the trust weight and the rest follows onsets, and spin and hue
speed run at a tempo moved from the grid's toward 120 BPM by the same
weight. Onset-synced pulses are not affected (nor are the pulse lengths:
fx_decay and the strobe's eighth of a beat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..audio.smoothing import coefficient, retention
from ..control.beat_trust import BeatTrust

FALLBACK_BPM = 120.0
TRAILS_MAX_S = 2.0  # the trail's time constant at trails = 1
STROBE_BEATS = 0.125  # the strobe is on for the first eighth of a beat after its pulse
EASE_S = 0.25  # spin and hue speed at 0: how fast the picture eases back


@dataclass(frozen=True)
class EffectFrame:
    """One frame's shader inputs (shaders/transition.glsl compiled with EFFECTS); `active` False means
    the plain transition runs (free, and exact)."""

    active: bool = False
    trails: bool = False  # the trail is kept (the trail pass runs), even on a frame that starts it fresh
    kaleido: float = 0.0  # segments (0 off)
    swirl: float = 0.0
    angle: float = 0.0  # radians
    trail_keep: float = 0.0  # share of the previous trail kept this frame
    hue: float = 0.0  # turns
    contrast: float = 1.0
    flash: float = 0.0
    strobe: float = 0.0
    vignette: float = 0.0
    # Pulse effects turned up: their stages stay compiled in between pulses (at their neutral value),
    # so the shader does not change at every beat.
    pulsing: bool = False
    whitening: bool = False

    @property
    def white(self) -> float:
        """Flash and strobe together: each mixes toward white."""
        return 1.0 - (1.0 - self.flash) * (1.0 - self.strobe)

    def stages(self) -> frozenset:
        """The shader stages this frame needs (the defines of shaders/transition.glsl); empty when idle.
        `active` with no stage on still runs the effects variant, which then only mixes (tests use it)."""
        if not self.active:
            return frozenset()
        on = {"SPIN": self.angle != 0.0, "SWIRL": self.swirl != 0.0, "KALEIDO": self.kaleido >= 1,
              "TRAILS": self.trails, "HUE": self.hue != 0.0, "CONTRAST": self.contrast != 1.0 or self.pulsing,
              "WHITE": self.flash > 0.0 or self.strobe > 0.0 or self.whitening, "VIGNETTE": self.vignette > 0.0}
        return frozenset({name for name, used in on.items() if used} | {"EFFECTS"})

    @staticmethod
    def idle() -> "EffectFrame":
        return EffectFrame()


def _ease_to_turn(value: float, turn: float, dt: float) -> float:
    """Ease `value` toward the nearest multiple of `turn` (no spinning back the long way); snap when close."""
    target = round(value / turn) * turn
    value += (target - value) * coefficient(dt, EASE_S)
    return 0.0 if abs(value - target) < 1e-4 * turn else value


class Effects:
    """Pulse envelopes and the running spin and hue phase. Render thread; update() once per frame."""

    def __init__(self) -> None:
        self.since = {0: math.inf, 1: math.inf, 2: math.inf}  # seconds since the last onset / beat / bar
        self.angle = 0.0  # degrees
        self.hue_phase = 0.0  # turns
        self._beat_count = None
        self.trust = BeatTrust()  # the weight of the beat/bar-synced part (0: as with no tempo)
        self._trailing = False
        self.frame = EffectFrame.idle()

    def update(self, params, features, dt: float) -> EffectFrame:
        bpm = features.bpm if features is not None and features.bpm > 0 else 0.0
        weight = self.trust.update(features, dt)
        beat_s = 60.0 / (bpm or FALLBACK_BPM)  # pulse lengths (fx_decay, the strobe), as always
        # The tempo that spin and hue speed follow: the grid's, moved toward 120 BPM as trust fades.
        motion_beat_s = 60.0 / (FALLBACK_BPM + weight * (bpm - FALLBACK_BPM) if bpm else FALLBACK_BPM)
        bar_beats = features.beats_per_bar if bpm else 4
        self._events(features, bpm, dt)

        # Spin in degrees per beat; at 0 the picture eases back upright.
        if params.spin != 0.0:
            self.angle = (self.angle + params.spin * dt / motion_beat_s) % 360.0
        elif self.angle != 0.0:
            self.angle = _ease_to_turn(self.angle, 360.0, dt) % 360.0
        # Hue speed in turns per bar (of the meter's beats); at 0 it eases back to the hue parameter.
        if params.hue_speed != 0.0:
            self.hue_phase = (self.hue_phase + params.hue_speed * dt / (bar_beats * motion_beat_s)) % 1.0
        elif self.hue_phase != 0.0:
            self.hue_phase = _ease_to_turn(self.hue_phase, 1.0, dt) % 1.0

        decay_s = params.fx_decay * beat_s
        flash = params.flash * self._pulse(params.mode("flash_sync"), weight, self._envelope, decay_s)
        contrast = 1.0 + 1.5 * params.pulse * self._pulse(params.mode("pulse_sync"), weight, self._envelope, decay_s)
        strobe = params.strobe * self._pulse(params.mode("strobe_sync"), weight, self._gate, STROBE_BEATS * beat_s)
        # Trails: an exponential fade with time constant trails * TRAILS_MAX_S, whatever the frame rate.
        # The first frame after trails come on starts a fresh trail (the old one is stale).
        keep = retention(dt, params.trails * TRAILS_MAX_S) if params.trails > 0 else 0.0
        keep, self._trailing = (keep if self._trailing else 0.0), keep > 0
        hue = (params.hue + self.hue_phase) % 1.0
        kaleido = float(round(params.kaleido))
        angle = math.radians(self.angle)
        pulsing, whitening = params.pulse > 0.0, params.flash > 0.0 or params.strobe > 0.0
        active = (kaleido >= 1 or params.swirl != 0.0 or angle != 0.0 or self._trailing or hue != 0.0
                  or pulsing or whitening or params.vignette > 0.0)
        self.frame = EffectFrame(active, self._trailing, kaleido, params.swirl, angle, keep, hue, contrast, flash,
                                 strobe, params.vignette, pulsing, whitening)
        return self.frame

    def _events(self, features, bpm: float, dt: float) -> None:
        for k in self.since:
            self.since[k] += dt
        if features is None:
            return
        if features.onset:
            self.since[0] = 0.0
        if self._beat_count is not None and features.beat_count > self._beat_count and bpm > 0:
            self.since[1] = 0.0
            if int(features.bar_phase * features.beats_per_bar) == 0:  # the beat that starts a bar
                self.since[2] = 0.0
        self._beat_count = features.beat_count

    def _pulse(self, sync: int, weight: float, shape, length: float) -> float:
        """A pulse effect's amount (0..1) for its sync mode (the registry's choices: 0 onsets, 1 beats,
        2 bars): beats and bars weighted by the trust in the grid, onsets taking the rest (with no tempo,
        weight 0: beats and bars follow onsets)."""
        onsets = shape(self.since[0], length)
        if sync == 0 or weight <= 0.0:
            return onsets
        return weight * shape(self.since[sync], length) + (1.0 - weight) * onsets

    @staticmethod
    def _envelope(since: float, decay_s: float) -> float:
        """1 at the pulse, fading to ~5 % over decay_s."""
        return math.exp(-3.0 * since / decay_s) if math.isfinite(since) else 0.0

    @staticmethod
    def _gate(since: float, length: float) -> float:
        """1 for `length` seconds after the pulse (the strobe), else 0."""
        return 1.0 if since < length else 0.0

    def describe(self) -> str:
        """The active effects, for the HUD."""
        f = self.frame
        if not f.active:
            return "fx off"
        parts = [name for name, on in (("trails", f.trails), ("kaleido", f.kaleido >= 1),
                                       ("swirl", f.swirl != 0), ("spin", f.angle != 0), ("hue", f.hue != 0),
                                       ("pulse", f.contrast != 1), ("flash", f.flash > 0), ("strobe", f.strobe > 0),
                                       ("vignette", f.vignette > 0)) if on]
        return "fx " + " ".join(parts)
