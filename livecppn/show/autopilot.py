"""The autopilot: when nobody plays the controls, livecppn picks and changes styles itself.

Driven from the frame loop once per frame (render thread) with the frame's
AudioFeatures. It listens to the music's character over the last few
seconds — energy (how loud it really is, and how many onsets per second) and
brightness (spectral centroid) — and maps it to a pattern family, as the
designed generator did:

    high energy → geometric,  bright → fractal,  medium → flowing,  calm → organic

Every `autopilot_bars` bars (a phrase: 8, 16, 32 …; bars follow the tempo's
bar phase, or a 120 BPM clock of 4-beat bars when no tempo is known or the
tracker's confidence is below `GRID_MIN`, control/beat_trust.py) it cues a style of that
family from the bank (slots tagged with a family) into the deck that is not on
air — never the style on air, and not the one it picked last time when there
is another — one beat before the phrase's bar line, and once it has loaded
fires `go`, which starts on the next beat (or bar: `go_quantize`), so the
change starts on the bar line. Its proposals are ordinary triggers handed to
the same trigger handling as the controllers'.

It engages after `autopilot_idle` seconds without manual control, or at once
when the `autopilot` parameter is set to 1; any manual control (a parameter
or trigger from MIDI, OSC or a key) hands control back at once, and the idle
time starts again. What counts as manual is the registry's (`Registry.is_manual`:
its parameters' and triggers' `manual` trait).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..audio.smoothing import coefficient
from ..control.beat_trust import grid_trusted
from ..model.bank import Bank
from ..model.library import FAMILIES

CHARACTER_S = 6.0  # the music's character is averaged over about this long
FALLBACK_BPM = 120.0
LOAD_TIMEOUT_S = 5.0  # a cued style that never arrives (a bad file) is given up on
# Character → family thresholds.
HIGH_ENERGY = 0.65
MEDIUM_ENERGY = 0.4
BRIGHT = 0.6
ONSETS_FULL = 3.0  # onsets per second that count as fully busy (a kick on every beat at 120 BPM is 2)


@dataclass(frozen=True)
class Character:
    energy: float  # 0..1: level and onset density
    brightness: float  # 0..1: spectral centroid (log-frequency position)

    def family(self) -> str:
        if self.energy >= HIGH_ENERGY:
            return "geometric"
        if self.brightness >= BRIGHT:
            return "fractal"
        if self.energy >= MEDIUM_ENERGY:
            return "flowing"
        return "organic"


class Autopilot:
    """Render thread only. `touched()` on manual input; `update()` once per frame returns triggers to fire."""

    def __init__(self, bank: Bank, now: float):
        self.bank = bank
        self.engaged = False
        self.start = self.last_touch = now
        self._level = self._onset_rate = self._brightness = 0.0
        self._bar, self._phase = 0, 0.0  # bars counted, and the position in the current bar (0..1)
        self._beats = 4  # beats in the current bar (the meter; 4 on the 120 BPM clock)
        self._next_change = 0  # the bar line the next change starts on
        self._pending: tuple[int, float] | None = None  # (slot cued, when)
        self.last_slot: int | None = None
        self.changes: list[dict] = []  # what it did, for the report (times in seconds since the start)
        self.handbacks: list[float] = []  # when manual control took over from it

    # --- who is playing -------------------------------------------------------------------------

    def touched(self, now: float) -> None:
        """Manual control: hand back at once."""
        self.last_touch = now
        if self.engaged:
            self.handbacks.append(round(now - self.start, 3))
        self.engaged = False
        self._pending = None

    def engage(self) -> None:
        """Take over now; the first change comes at the next bar line."""
        if not self.engaged:
            self.engaged = True
            self._next_change = self._bar + 1
            self._pending = None

    # --- listening -----------------------------------------------------------------------------

    def listen(self, features, dt: float) -> None:
        """Follow the bars and the music's character. Every frame, engaged or not."""
        if grid_trusted(features):  # the tempo's bar phase: a new bar when it wraps
            if features.bar_phase < self._phase - 0.5:
                self._bar += 1
            self._phase, self._beats = features.bar_phase, features.beats_per_bar
        else:  # no tempo, or one not trusted: a 120 BPM clock, going on from where the bar stood
            self._phase += dt * FALLBACK_BPM / 240.0
            self._bar, self._phase, self._beats = self._bar + int(self._phase), self._phase % 1.0, 4
        a = coefficient(dt, CHARACTER_S)
        self._level += a * (features.level - self._level)
        self._onset_rate += a * ((1.0 / dt if features.onset else 0.0) - self._onset_rate)
        self._brightness += a * (features.centroid - self._brightness)

    @property
    def character(self) -> Character:
        energy = 0.5 * self._level + 0.5 * min(self._onset_rate / ONSETS_FULL, 1.0)
        return Character(round(energy, 4), round(self._brightness, 4))

    # --- driving -------------------------------------------------------------------------------

    def update(self, now: float, dt: float, features, params, on_air: Path | None,
               off_air: Path | None) -> list[tuple[str, object]]:
        """This frame's proposals: [("load", slot)] at a phrase boundary, [("go", None)] once it has loaded.
        on_air / off_air: the paths of the styles in the deck on air and the other one."""
        self.listen(features, dt)
        if params.autopilot < 0.5:
            self.engaged = False
            return []
        if not self.engaged and now - self.last_touch >= params.autopilot_idle:
            self.engage()
        if not self.engaged:
            return []
        if self._pending is not None:
            slot, since = self._pending
            if off_air is not None and _same(off_air, self.bank.slots[slot]):
                self._pending = None
                return [("go", None)]
            if now - since > LOAD_TIMEOUT_S:
                self._pending = None
            return []
        if self._bar + self._phase < self._next_change - 1.0 / self._beats:  # cue one beat before the bar line
            return []
        self._next_change = max(self._next_change, self._bar + 1) + max(1, round(params.autopilot_bars))
        character = self.character
        slot = self.pick(character.family(), on_air)
        if slot is None:
            return []
        self.last_slot = slot
        self._pending = (slot, now)
        self.changes.append({"time": round(now - self.start, 3), "slot": slot, "style": self.bank.slots[slot].stem,
                             "family": self.bank.families[slot], "energy": character.energy,
                             "brightness": character.brightness})
        return [("load", slot)]

    def pick(self, family: str, on_air: Path | None) -> int | None:
        """A slot of `family` that is not on air, and not the last pick when there is another;
        the nearest family in FAMILIES order when this one has none to offer."""
        order = sorted(FAMILIES, key=lambda f: (f != family, abs(FAMILIES.index(f) - FAMILIES.index(family))))
        for fam in order:
            slots = [s for s in self.bank.family_slots(fam) if on_air is None or not _same(self.bank.slots[s], on_air)]
            fresh = [s for s in slots if s != self.last_slot]
            if fresh or slots:
                choices = fresh or slots
                # deterministic but varied: step through the family's slots with the number of changes made
                return choices[len(self.changes) % len(choices)]
        return None

    def status(self, now: float, params) -> str:
        """One HUD line."""
        if params.autopilot < 0.5:
            return "auto off"
        if not self.engaged:
            return f"auto in {max(0.0, params.autopilot_idle - (now - self.last_touch)):.0f}s"
        bars = max(0.0, self._next_change - self._bar - self._phase)
        return f"AUTO {self.character.family()} +{bars:.0f} bars"


def _same(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
