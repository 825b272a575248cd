"""The registry: every controllable value and every trigger, declared once (DESIGN §3, §7).

A parameter has a name, range, default, unit, smoothing time (seconds),
description and, for a "mode" parameter, the names of its choices. A trigger
(an action with no value of its own, such as a tap) has its traits: whether
MIDI learn may bind it, whether a render replays it from an automation log,
whether firing it counts as a person playing (the autopilot hands back), the
keys that fire it, and whether only a key may fire it (fullscreen, quit).

Everything else derives from a `Registry`: the OSC addresses, the MIDI learn
targets and mapping checks, the key help, the HUD's page of changed values,
automation replay, the autopilot's "is someone playing" test, the trigger
dispatch of the show, and the README's tables. A `Registry` is passed in to
whatever needs it (`default_registry()` builds the shipped one); no module
reads a global table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    choices: tuple[str, ...] = ()  # a mode parameter: the name of each value 0, 1, 2 …
    manual: bool = True  # a controller setting it is a person playing (the autopilot hands back)

    def clamp(self, value: float) -> float:
        return min(self.maximum, max(self.minimum, value))

    def mode(self, value: float) -> int:
        """A mode parameter's value as the index of its choice (rounded, within the choices)."""
        if not self.choices:
            raise ValueError(f"parameter {self.name!r} is not a mode (it has no choices)")
        return min(len(self.choices) - 1, max(0, int(round(value))))

    def choice(self, value: float) -> str:
        """A mode parameter's value as the name of its choice."""
        return self.choices[self.mode(value)]


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    argument: str  # "" when the trigger takes no value; else what the value means
    description: str
    learnable: bool = True  # MIDI learn may bind a control to it
    replayed: bool = True  # a render replays it from the automation log
    manual: bool = True  # firing it is a person playing (the autopilot hands back)
    keys: tuple[str, ...] = ()  # keys that fire it: "F", "Esc", "Shift+T" …
    key_only: bool = False  # only a key fires it (not OSC, not MIDI)


_SYNC = ("onsets", "beats", "bars")

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("brightness", 0.0, 2.0, 1.0, "×", 0.05, "Master brightness applied by the display shader."),
    ParamSpec("audio_gain", 0.0, 4.0, 1.0, "×", 0.10, "Reactivity: scales the audio features fed to the network."),
    ParamSpec("time_speed", 0.0, 4.0, 1.0, "×", 0.25, "How fast the network's time input advances."),
    ParamSpec("blackout", 0.0, 1.0, 0.0, "", 0.05, "Fade the output to black (1 = black)."),
    ParamSpec("crossfader", 0.0, 1.0, 0.0, "", 0.05, "Mix of deck A (0) and deck B (1) through the transition."),
    ParamSpec("transition", 0.0, 2.0, 0.0, "mode", 0.0,
              "Transition between the decks: 0 mix, 1 additive, 2 luma wipe.", ("mix", "additive", "luma wipe")),
    ParamSpec("transition_time", 0.0, 30.0, 2.0, "s", 0.0, "How long a `go` takes to fade to the other deck."),
    ParamSpec("go_quantize", 0.0, 2.0, 1.0, "mode", 0.0,
              "When a `go` starts: 0 at once, 1 on the next beat, 2 on the next bar.", ("now", "beat", "bar")),
    ParamSpec("zoom", 0.1, 8.0, 1.0, "×", 0.15, "Scale of the coordinate field (above 1 shows more of it)."),
    ParamSpec("rotation", -180.0, 180.0, 0.0, "°", 0.15, "Rotation of the coordinate field."),
    # Post effects (the compositor's pass, shaders/composite.glsl): each at 0 leaves the picture untouched.
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
    ParamSpec("flash_sync", 0.0, 2.0, 0.0, "mode", 0.0, "What flashes follow: 0 onsets, 1 beats, 2 bars.", _SYNC),
    ParamSpec("pulse", 0.0, 1.0, 0.0, "", 0.0, "Contrast punch on each pulse (pulse_sync), fading over fx_decay."),
    ParamSpec("pulse_sync", 0.0, 2.0, 1.0, "mode", 0.0, "What contrast pulses follow: 0 onsets, 1 beats, 2 bars.",
              _SYNC),
    ParamSpec("fx_decay", 0.05, 4.0, 0.5, "beats", 0.0,
              "How long a flash or contrast pulse takes to fade (120 BPM if no tempo is known)."),
    ParamSpec("strobe", 0.0, 1.0, 0.0, "", 0.0, "Strobe: white for the first eighth of each pulse (strobe_sync)."),
    ParamSpec("strobe_sync", 0.0, 2.0, 1.0, "mode", 0.0, "What the strobe follows: 0 onsets, 1 beats, 2 bars.",
              _SYNC),
    ParamSpec("vignette", 0.0, 1.0, 0.0, "", 0.1, "Darken the edges and corners."),
    # Tempo setup: the show hands these to the analyser every frame (show/frame.py, `tempo_setup`). Setup, not
    # look: setting them is not "playing" (the autopilot stays engaged), and the autopilot never sets them.
    ParamSpec("beat_lookahead", 0.0, 250.0, 0.0, "ms", 0.0,
              "Fire beat-synced events (flash, pulse and strobe on beats and bars, `go` on the beat or bar, the "
              "autopilot's phrase changes) this much early, so they land on the beat after the projector's "
              "latency (measure it with a clap test: README, The beat).", manual=False),
    ParamSpec("meter", 0.0, 2.0, 0.0, "mode", 0.0,
              "Beats in a bar: 0 auto (the meter heard in the audio), 1 three (a waltz), 2 four; for bar-synced "
              "pulses, `go` on the bar, hue_speed and the autopilot's phrases.", ("auto", "3", "4"), manual=False),
    # Autopilot (livecppn/show/autopilot.py). Setting these is not "playing": the autopilot stays engaged.
    ParamSpec("autopilot", 0.0, 1.0, 1.0, "on/off", 0.0,
              "Autopilot: pick and change styles from the music after autopilot_idle s untouched (setting it "
              "to 1 engages it at once).", ("off", "on"), manual=False),
    ParamSpec("autopilot_idle", 5.0, 600.0, 60.0, "s", 0.0,
              "Seconds without manual control before the autopilot engages.", manual=False),
    ParamSpec("autopilot_bars", 4.0, 64.0, 16.0, "bars", 0.0,
              "Phrase length: the autopilot changes style every this many bars (8, 16, 32 …).", manual=False),
)

TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec("tap", "", "Tap tempo: two or more taps set the BPM (and the Link session's, with Link on) and put the beat on the last tap (holds until tap_clear).",
                keys=("T",)),
    TriggerSpec("tap_clear", "", "Hand the tempo back to the beat tracker.", keys=("Shift+T",)),
    TriggerSpec("go", "", "Fade to the other deck over transition_time, starting as go_quantize says."),
    TriggerSpec("deck_a", "slot number or style name", "Load a style from the bank into deck A.", replayed=False),
    TriggerSpec("deck_b", "slot number or style name", "Load a style from the bank into deck B.", replayed=False),
    TriggerSpec("load", "slot number or style name", "Load a style into the deck that is not on air (cue it).",
                replayed=False),
    TriggerSpec("clock", "(bpm, beat wall time, beat)", "External clock (MIDI clock in): overrides the audio tempo.",
                learnable=False, replayed=False, manual=False),
    TriggerSpec("clock_stop", "", "The external clock stopped: tempo goes back to tap or the tracker.",
                learnable=False, replayed=False, manual=False),
    TriggerSpec("bpm", "tempo in BPM (20–999)",
                "Set the tempo: held like a tapped one (tap_clear lets go), going on from the beat shown; with "
                "Link on, the session's tempo too.", learnable=False, manual=False),
    TriggerSpec("link", "1 join, 0 leave (none: toggle)",
                "Join or leave the Ableton Link session (Link starts with --link).", replayed=False, manual=False),
    TriggerSpec("link_beat", "(bpm, beat wall time, beat, quantum, peers)",
                "Ableton Link's session (from the Link thread): overrides every other tempo source while peers "
                "are present.", learnable=False, replayed=False, manual=False),
    TriggerSpec("link_gone", "", "No other Link peer (or Link is off): the next tempo source takes over, "
                "without a jump in the beat.", learnable=False, replayed=False, manual=False),
    TriggerSpec("learn", "parameter or trigger name", "MIDI learn: the next CC or note binds to this target.",
                learnable=False, replayed=False),
    TriggerSpec("learn_next", "", "MIDI learn: arm the next parameter or trigger (shown on the HUD); the next CC or note moved binds to it.",
                learnable=False, replayed=False, keys=("L",), key_only=True),
    TriggerSpec("learn_prev", "", "MIDI learn: arm the previous parameter or trigger.",
                learnable=False, replayed=False, keys=("Shift+L",), key_only=True),
    TriggerSpec("learn_cancel", "", "Cancel MIDI learn.", learnable=False, replayed=False, keys=("Backspace",),
                key_only=True),
    TriggerSpec("learn_save", "file name (optional)", "Save the MIDI mapping with what was learned (default name: learned.toml, in the user's mappings folder; `livecppn paths`).",
                learnable=False, replayed=False, keys=("S",)),
    TriggerSpec("record", "1 start, 0 stop (none: toggle)",
                "Start or stop recording the output, the audio and the automation log (to --record OUT.mp4, later "
                "takes OUT-2.mp4 …; without it livecppn-DATE-TIME.mp4 in the recordings folder (`livecppn paths`); "
                "an existing file is never overwritten; at most one new take a second).",
                replayed=False, manual=False, keys=("R",)),
    TriggerSpec("ndi", "1 open, 0 close (none: toggle)",
                "Send the output as an NDI source on the network (named as --ndi says; default livecppn).",
                replayed=False, manual=False),
    TriggerSpec("vcam", "1 open, 0 close (none: toggle)",
                "Send the output to a virtual camera (v4l2loopback on Linux, OBS's on Windows and macOS).",
                replayed=False, manual=False),
    TriggerSpec("syphon", "1 open, 0 close (none: toggle)", "Share the output over Syphon (macOS; untested).",
                replayed=False, manual=False),
    TriggerSpec("spout", "1 open, 0 close (none: toggle)", "Share the output over Spout (Windows; untested).",
                replayed=False, manual=False),
    TriggerSpec("fullscreen", "", "Toggle fullscreen (on --monitor N, at that monitor's native mode).",
                learnable=False, replayed=False, keys=("F",), key_only=True),
    TriggerSpec("hud", "", "Show or hide the HUD; Shift+H shows the page of values changed from their defaults.",
                learnable=False, replayed=False, keys=("H",), key_only=True),
    TriggerSpec("hud_page", "", "Switch the HUD between the status page and the changed values.",
                learnable=False, replayed=False, keys=("Shift+H",), key_only=True),
    TriggerSpec("quit", "", "Quit (Ctrl-C and SIGTERM quit the same way: the report is written, audio and window closed).",
                learnable=False, replayed=False, keys=("Esc", "Q"), key_only=True),
)


@dataclass(frozen=True)
class Registry:
    """The declarations, and every set derived from them."""

    params: tuple[ParamSpec, ...] = PARAMS
    triggers: tuple[TriggerSpec, ...] = TRIGGERS
    specs: MappingProxyType = field(init=False, repr=False, compare=False)
    trigger_specs: MappingProxyType = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for kind, names in (("parameter", [s.name for s in self.params]), ("trigger", [t.name for t in self.triggers])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"registry: {kind} declared twice: {', '.join(dupes)}")
        for s in self.params:
            if s.unit == "mode" and len(s.choices) != int(s.maximum - s.minimum) + 1:
                raise ValueError(f"registry: mode parameter {s.name!r} needs one choice per value")
        object.__setattr__(self, "specs", MappingProxyType({s.name: s for s in self.params}))
        object.__setattr__(self, "trigger_specs", MappingProxyType({t.name: t for t in self.triggers}))

    @property
    def controller_triggers(self) -> tuple[TriggerSpec, ...]:
        """What a controller (OSC, MIDI) may fire: every trigger that is not key-only."""
        return tuple(t for t in self.triggers if not t.key_only)

    @property
    def learn_targets(self) -> list[str]:
        """What the learn key steps through: every parameter, then every learnable trigger."""
        return [s.name for s in self.params] + [t.name for t in self.triggers if t.learnable and not t.key_only]

    @property
    def not_replayed(self) -> frozenset[str]:
        """Triggers a render does not replay from an automation log (loads are replayed as loads)."""
        return frozenset(t.name for t in self.triggers if not t.replayed)

    @property
    def automatic(self) -> tuple[frozenset[str], frozenset[str]]:
        """(parameters, triggers) that a controller may change without it counting as playing."""
        return (frozenset(s.name for s in self.params if not s.manual),
                frozenset(t.name for t in self.triggers if not t.manual))

    def is_manual(self, changed, triggers) -> bool:
        """Whether a frame's controller input is a person playing (not automatic settings or clocks)."""
        params, trigs = self.automatic
        return bool(set(changed) - params) or any(name not in trigs for name, _ in triggers)

    @property
    def keys(self) -> dict[str, str]:
        """Key label ("T", "Shift+T", "Esc") -> the trigger it fires."""
        return {key: t.name for t in self.triggers for key in t.keys}

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, what they do) for each trigger with keys, in declaration order."""
        return [(", ".join(t.keys), t.description) for t in self.triggers if t.keys]

    def changed_from_defaults(self, values) -> list[tuple[ParamSpec, float]]:
        """The parameters whose value differs from the default (the HUD's second page)."""
        return [(s, values[s.name]) for s in self.params if abs(values[s.name] - s.default) > 1e-3 * (
            s.maximum - s.minimum)]


def default_registry() -> Registry:
    """The shipped declarations."""
    return Registry()
