"""The parameter registry and bus (DESIGN §7).

Each controllable value is declared once here: name, range, default, unit,
smoothing time and description; so is each trigger (an action with no value
of its own, such as a tap). Controllers (keys, MIDI, OSC) put events on one
control queue from any thread; the render thread drains it once per frame in
`ParamBus.step(dt)`, gets one frozen `Params` snapshot, with each value slewed
toward its target over its smoothing time (in seconds, so the feel does not
change with the frame rate), and takes the frame's triggers with
`take_triggers()`.
"""

from __future__ import annotations

import math
import queue
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ParamSpec:
    name: str
    minimum: float
    maximum: float
    default: float
    unit: str
    smoothing: float  # seconds; 0 = jump
    description: str

    def clamp(self, value: float) -> float:
        return min(self.maximum, max(self.minimum, value))


REGISTRY: tuple[ParamSpec, ...] = (
    ParamSpec("brightness", 0.0, 2.0, 1.0, "×", 0.05, "Master brightness applied by the display shader."),
    ParamSpec("audio_gain", 0.0, 4.0, 1.0, "×", 0.10, "Reactivity: scales the audio features fed to the network."),
    ParamSpec("time_speed", 0.0, 4.0, 1.0, "×", 0.25, "How fast the network's time input advances."),
    ParamSpec("blackout", 0.0, 1.0, 0.0, "", 0.05, "Fade the output to black (1 = black)."),
    ParamSpec("crossfader", 0.0, 1.0, 0.0, "", 0.05, "Mix of deck A (0) and deck B (1) through the transition."),
    ParamSpec("transition", 0.0, 2.0, 0.0, "mode", 0.0,
              "Transition between the decks: 0 mix, 1 additive, 2 luma wipe."),
    ParamSpec("transition_time", 0.0, 30.0, 2.0, "s", 0.0, "How long a `go` takes to fade to the other deck."),
    ParamSpec("go_quantize", 0.0, 2.0, 1.0, "mode", 0.0,
              "When a `go` starts: 0 at once, 1 on the next beat, 2 on the next bar."),
    ParamSpec("zoom", 0.1, 8.0, 1.0, "×", 0.15, "Scale of the coordinate field (above 1 shows more of it)."),
    ParamSpec("rotation", -180.0, 180.0, 0.0, "°", 0.15, "Rotation of the coordinate field."),
    # Post effects (shaders/effects.glsl): each at 0 leaves the picture untouched.
    ParamSpec("trails", 0.0, 1.0, 0.0, "", 0.1,
              "Feedback trails: earlier frames linger and fade (1 = about 2 s of trail)."),
    ParamSpec("kaleido", 0.0, 16.0, 0.0, "segments", 0.0,
              "Kaleidoscope on the output: 0 off, 1 mirror left-right, 2 four-way mirror, 3+ that many wedge pairs."),
    ParamSpec("swirl", -1.0, 1.0, 0.0, "", 0.1, "Twist the picture around its centre (negative: the other way)."),
    ParamSpec("spin", -90.0, 90.0, 0.0, "°/beat", 0.1,
              "Rotate the output with the tempo (120 BPM if none is known); at 0 it eases back upright."),
    ParamSpec("hue", -0.5, 0.5, 0.0, "turns", 0.1, "Hue rotation of the output (±0.5: complementary colours)."),
    ParamSpec("hue_speed", -1.0, 1.0, 0.0, "turns/bar", 0.1,
              "Hue keeps turning with the tempo; at 0 it eases back to `hue`."),
    ParamSpec("flash", 0.0, 1.0, 0.0, "", 0.0, "Flash to white on each pulse (flash_sync), fading over fx_decay."),
    ParamSpec("flash_sync", 0.0, 2.0, 0.0, "mode", 0.0, "What flashes follow: 0 onsets, 1 beats, 2 bars."),
    ParamSpec("pulse", 0.0, 1.0, 0.0, "", 0.0, "Contrast punch on each pulse (pulse_sync), fading over fx_decay."),
    ParamSpec("pulse_sync", 0.0, 2.0, 1.0, "mode", 0.0, "What contrast pulses follow: 0 onsets, 1 beats, 2 bars."),
    ParamSpec("fx_decay", 0.05, 4.0, 0.5, "beats", 0.0,
              "How long a flash or contrast pulse takes to fade (120 BPM if no tempo is known)."),
    ParamSpec("strobe", 0.0, 1.0, 0.0, "", 0.0, "Strobe: white for the first eighth of each pulse (strobe_sync)."),
    ParamSpec("strobe_sync", 0.0, 2.0, 1.0, "mode", 0.0, "What the strobe follows: 0 onsets, 1 beats, 2 bars."),
    ParamSpec("vignette", 0.0, 1.0, 0.0, "", 0.1, "Darken the edges and corners."),
    # Autopilot (livecppn/autopilot.py).
    ParamSpec("autopilot", 0.0, 1.0, 1.0, "on/off", 0.0,
              "Autopilot: pick and change styles from the music after autopilot_idle s untouched (setting it "
              "to 1 engages it at once)."),
    ParamSpec("autopilot_idle", 5.0, 600.0, 60.0, "s", 0.0, "Seconds without manual control before the autopilot engages."),
    ParamSpec("autopilot_bars", 4.0, 64.0, 16.0, "bars", 0.0,
              "Phrase length: the autopilot changes style every this many bars (8, 16, 32 …)."),
)
SPECS = MappingProxyType({s.name: s for s in REGISTRY})


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    argument: str  # "" when the trigger takes no value; else what the value means
    description: str


TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec("tap", "", "Tap tempo: two or more taps set the BPM and put the beat on the last tap."),
    TriggerSpec("tap_clear", "", "Hand the tempo back to the beat tracker."),
    TriggerSpec("go", "", "Fade to the other deck over transition_time, starting as go_quantize says."),
    TriggerSpec("deck_a", "slot number or style name", "Load a style from the bank into deck A."),
    TriggerSpec("deck_b", "slot number or style name", "Load a style from the bank into deck B."),
    TriggerSpec("load", "slot number or style name", "Load a style into the deck that is not on air (cue it)."),
    TriggerSpec("clock", "(bpm, beat wall time, beat)", "External clock (MIDI clock in): overrides the audio tempo."),
    TriggerSpec("clock_stop", "", "The external clock stopped: tempo goes back to tap or the tracker."),
    TriggerSpec("learn", "parameter or trigger name", "MIDI learn: the next CC or note binds to this target."),
    TriggerSpec("learn_save", "file name (optional)", "Save the MIDI mapping with what was learned."),
    TriggerSpec("record", "1 start, 0 stop (none: toggle)",
                "Start or stop recording the output, the audio and the automation log (key R; the file: --record)."),
)
TRIGGER_SPECS = MappingProxyType({t.name: t for t in TRIGGERS})


@dataclass(frozen=True)
class Params:
    """One frame's parameter values (immutable; safe to hand to any stage)."""

    values: MappingProxyType

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, float]:
        return dict(self.values)


class ParamBus:
    """Control queue + slewed values. `set()` is safe from any thread; `step()` is render-thread only."""

    def __init__(self, specs: tuple[ParamSpec, ...] = REGISTRY):
        self.specs = {s.name: s for s in specs}
        self._queue: queue.SimpleQueue[tuple[str, str, object]] = queue.SimpleQueue()
        self._triggers: list[tuple[str, object]] = []
        self._target = {s.name: s.default for s in specs}
        self._value = dict(self._target)
        self.rejected: list[str] = []  # messages for the HUD/log; the show goes on
        self.changed: set[str] = set()  # the parameters a controller set in the last step()

    def set(self, name: str, value: float) -> None:
        """Ask for a new value (clamped to its range; slewed). Any thread."""
        self._queue.put(("set", name, value))

    def trigger(self, name: str, value: object = None) -> None:
        """Fire a trigger on the next frame. Any thread."""
        self._queue.put(("trigger", name, value))

    def jump(self, name: str, value: float) -> None:
        """Set a value now, without slew (the render thread's own automation, e.g. a `go` fade)."""
        spec = self.specs[name]
        self._target[name] = self._value[name] = spec.clamp(float(value))

    def target(self, name: str) -> float:
        """The value `name` is slewing toward (what a controller last asked for). Render thread."""
        return self._target[name]

    def take_triggers(self) -> list[tuple[str, object]]:
        """The triggers drained by the last step(), in arrival order. Render thread, once per frame."""
        triggers, self._triggers = self._triggers, []
        return triggers

    def step(self, dt: float) -> Params:
        """Drain the queue, slew toward targets, return this frame's snapshot. Once per frame."""
        self.changed.clear()
        while True:
            try:
                kind, name, value = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "trigger":
                if name in TRIGGER_SPECS:
                    self._triggers.append((name, value))
                else:
                    self.rejected.append(f"ignored unknown trigger {name!r}")
                continue
            spec = self.specs.get(name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            if spec is None or not math.isfinite(value):
                self.rejected.append(f"ignored control {name!r} = {value!r}")
                continue
            self._target[name] = spec.clamp(value)
            self.changed.add(name)
        for name, spec in self.specs.items():
            target, current = self._target[name], self._value[name]
            if spec.smoothing <= 0 or dt <= 0:
                self._value[name] = target if spec.smoothing <= 0 else current
            else:
                a = 1.0 - math.exp(-dt / spec.smoothing)
                self._value[name] = current + (target - current) * a
        return Params(MappingProxyType(dict(self._value)))

    def snapshot(self) -> Params:
        return Params(MappingProxyType(dict(self._value)))
