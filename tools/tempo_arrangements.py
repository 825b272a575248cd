"""The rendered tempo set's music: General MIDI arrangements written in code, with exact ground truth.

Each arrangement is a `Song`: a beat grid (the tempo as a function of the beat
number, so changes and ramps are exact) and notes placed on it by beat. The
grid times are the ground truth; the notes are humanised around them (timing
jitter of a few ms, gaussian and clipped at ±6 ms for drums and ±10 ms for
pitched parts; velocity ±7), so the truth is the grid a drummer plays to, not
the jittered hits. The MIDI file holds absolute times (a fixed 120 BPM file
tempo, 1920 ticks a beat: 0.26 ms a tick), so what fluidsynth plays is the
grid exactly. tempo_set.py renders them and adds the non-music signals.

The arrangements, and what each one tests:

- house: four-on-the-floor house, 124 BPM. Kick on every beat, clap on 2 and
  4, off-beat hats, off-beat bass, chord stabs, pad: the easy case.
- breakbeat: 132 BPM, syncopated kick (1, the "and" of 1, the "and" of 3),
  snare on 2 and 4 with ghost notes, organ stabs: the beat is the pattern, not
  one drum.
- hiphop: half-time hip-hop, 85 BPM: kick around 1, snare only on 3, 8th
  hats, 808-style bass, Rhodes chords. Half-time feel invites 42.5 or 170.
- jazz: swing at 140, triplet ride ("ding, ding-a-ding"), hi-hat on 2 and 4,
  feathered kick, walking bass, Charleston piano comping on ii-V-I-VI.
- country: shuffle at 110: kick 1 and 3, snare 2 and 4, triplet long-short hats,
  boom-chick bass (root, fifth), steel guitar strums on the shuffle.
- samba: 100 BPM (a 4/4 bar is two 2/4 samba bars): surdo muted on 1, open on
  2; syncopated tamborim, clave, ganza 16ths; samba bass with anticipations,
  partido-alto nylon guitar. The loudest drum is on the off-beat of each pair.
- waltz: 3/4 at 90, bass on 1, chords on 2 and 3, a violin melody, soft kick on
  1 and hats on 2 and 3. Three beats a bar: the bar phase must find the 1.
- ballad: 70 BPM piano arpeggios, strings, bass; soft drums (side stick on 2
  and 4) from bar 3. Below the usual tracker range; mostly pitched onsets.
- dnb: drum and bass at 174: kick 1 and the "and" of 3, snare 2 and 4, ghost
  snares, 8th hats, reese bass, pad; two bars of hats and pad first.
- change_abrupt: pop-rock, 118 BPM for 12 bars, then 128 at once.
- change_gradual: disco, 118 for 8 bars, a linear ramp to 128 over 8 bars, 128.
- breakdown: 126 BPM trance, 10 bars full, 8 bars with no drums (pads,
  half-note bass, an arpeggio), drums back for 8 bars: the tempo must hold
  through, or come back fast.
"""

from __future__ import annotations

import hashlib
import io
import re

import mido
import numpy as np

DRUMS = 9  # General MIDI drum channel (0-based)
TICKS = 1920  # per beat of the file's fixed 120 BPM: 0.26 ms per tick
FILE_TEMPO = 500000  # µs per beat
TAIL = 1.5  # seconds of silence after the last note, for release and reverb
VEL = {"X": 115, "x": 92, "o": 68, "g": 42}
# GM drum keys
KICK, STICK, SNARE, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
LOW_TOM, TAMB, SHAKER, TIMBALE, CLAVE, TRIANGLE = 41, 54, 70, 65, 75, 81

_NOTE = {"C": 0, "C#": 1, "Db": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7, "Ab": 8, "A": 9,
         "Bb": 10, "B": 11}
_QUALITY = {"": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11),
            "m9": (0, 3, 7, 10, 14)}


def chord(name: str, low: int = 55) -> list[int]:
    """MIDI pitches of a chord symbol ("Am7", "Bbmaj7", "G"), its root the first pitch at or above `low`."""
    m = re.fullmatch(r"([A-G][b#]?)(.*)", name)
    root = low + (_NOTE[m[1]] - low) % 12
    return [root + i for i in _QUALITY[m[2]]]


def root(name: str, low: int = 33) -> int:
    return chord(name, low)[0]


class Song:
    """A beat grid (`tempo`: BPM, or a function of the beat number) of `bars` bars, and notes placed by beat."""

    def __init__(self, name: str, tempo, bars: int, beats_per_bar: int = 4, lead: float = 0.3):
        self.name, self.bars, self.beats_per_bar = name, bars, beats_per_bar
        self.rng = np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little"))
        n = bars * beats_per_bar
        bpm = np.array([tempo(k) if callable(tempo) else tempo for k in range(n)], dtype=np.float64)
        self.grid = lead + np.concatenate(([0.0], np.cumsum(60.0 / bpm)))  # beat k starts at grid[k]; n + 1 times
        self.notes: list[tuple[float, float, int, int, int]] = []  # (on, off, channel, pitch, velocity)
        self.programs: dict[int, int] = {}

    def time(self, beat: float) -> float:
        k = min(int(np.floor(beat)), len(self.grid) - 2)
        return float(self.grid[k] + (beat - k) * (self.grid[k + 1] - self.grid[k]))

    def add(self, ch: int, pitch: int, beat: float, length: float, vel: float, jitter: float | None = None) -> None:
        """One note, `length` in beats (drums: a fixed 0.1 s), humanised in time and velocity."""
        jitter = (0.006 if ch == DRUMS else 0.010) if jitter is None else jitter
        dt = float(np.clip(self.rng.normal(0.0, jitter / 2), -jitter, jitter))
        on = max(0.0, self.time(beat) + dt)
        off = on + 0.1 if ch == DRUMS else max(on + 0.03, self.time(beat + length) + dt - 0.01)
        v = int(np.clip(round(vel + self.rng.normal(0.0, 7.0)), 1, 127))
        self.notes.append((on, off, ch, int(pitch), v))

    def steps(self, pitch: int, patterns, bars, ch: int = DRUMS, length: float = 0.2, scale: float = 1.0) -> None:
        """A step pattern per bar ("x...x..." over the bar; X x o g loud to ghost); a list cycles over bars."""
        patterns = [patterns] if isinstance(patterns, str) else patterns
        for bar in bars:
            p = patterns[bar % len(patterns)].replace(" ", "")
            step = self.beats_per_bar / len(p)
            for i, c in enumerate(p):
                if c in VEL:
                    self.add(ch, pitch, bar * self.beats_per_bar + i * step, length, VEL[c] * scale)

    def part(self, ch: int, program: int, bars, notes) -> None:
        """A pitched part: `notes(bar)` yields (beat in bar, length in beats, pitch or pitches, velocity)."""
        self.programs[ch] = program
        for bar in bars:
            for beat, length, pitches, vel in notes(bar):
                for p in [pitches] if isinstance(pitches, int) else pitches:
                    self.add(ch, p, bar * self.beats_per_bar + beat, length, vel)

    @property
    def beats(self) -> np.ndarray:
        return self.grid[:-1]

    @property
    def positions(self) -> np.ndarray:
        """Each beat's position in its bar, 1 = downbeat."""
        return np.arange(len(self.beats)) % self.beats_per_bar + 1

    @property
    def end(self) -> float:
        """Where the music ends: the downbeat after the last bar."""
        return float(self.grid[-1])

    def midi(self, until: float | None = None) -> bytes:
        """A type-0 MIDI file of the notes that start before `until` (all by default)."""
        tick = 0.5 / TICKS  # seconds per tick at FILE_TEMPO

        def at(t):
            return int(round(t / tick))

        events = [(0, 0, mido.Message("program_change", channel=ch, program=p))
                  for ch, p in sorted(self.programs.items())]
        last = 0.0
        for on, off, ch, pitch, vel in sorted(self.notes):
            if until is not None and on >= until:
                continue
            off = off if until is None else min(off, until)
            last = max(last, off)
            events.append((at(on), 2, mido.Message("note_on", channel=ch, note=pitch, velocity=vel)))
            events.append((at(off), 1, mido.Message("note_off", channel=ch, note=pitch, velocity=0)))
        events.sort(key=lambda e: (e[0], e[1], e[2].channel, getattr(e[2], "note", 0)))
        track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=FILE_TEMPO, time=0)])
        now = 0
        for t, _, msg in events:
            track.append(msg.copy(time=t - now))
            now = t
        track.append(mido.MetaMessage("end_of_track", time=max(0, at(last + TAIL) - now)))
        f = mido.MidiFile(type=0, ticks_per_beat=TICKS)
        f.tracks.append(track)
        buf = io.BytesIO()
        f.save(file=buf)
        return buf.getvalue()


def _every(prog: list[str], per: int = 1):
    return lambda bar: prog[bar // per % len(prog)]


# --- the arrangements -----------------------------------------------------------------------------

def house() -> Song:
    s = Song("house", 124.0, 24)
    ch = _every(["Am7", "Fmaj7", "Cmaj7", "G"], 2)
    s.steps(KICK, "X...x...x...x...", range(24))
    s.steps(HAT, "..x...x...x...x.", range(24))
    s.steps(CLAP, "....x.......x...", range(4, 24))
    s.steps(SHAKER, "gogogogogogogogo", range(8, 24))
    s.steps(OPEN, "..o...o...o...o.", range(12, 20))
    s.steps(CRASH, "x...............", [8, 16])
    s.part(0, 38, range(4, 24), lambda b: [(x, 0.4, root(ch(b)) + o, 95) for x, o in ((0.5, 0), (1.5, 12), (2.5, 0),
                                                                                     (3.5, 12), (3.75, 0))])
    s.part(1, 4, range(8, 24), lambda b: [(0.75, 0.25, chord(ch(b), 60), 75), (2.5, 0.5, chord(ch(b), 60), 80)])
    s.part(2, 89, range(24), lambda b: [(0, 4, chord(ch(b), 52), 45)] if b % 2 == 0 else [])
    return s


def breakbeat() -> Song:
    s = Song("breakbeat", 132.0, 26)
    ch = _every(["Em7", "Em7", "A7", "A7"])
    s.steps(KICK, ["X.x.......x.....", "X.x.......x..x.."], range(26))
    s.steps(SNARE, ["....X..g.g..X..g", "....X..g.g..X.o."], range(26))
    s.steps(HAT, "x.o.x.o.x.o.x.o.", range(26))
    s.steps(CRASH, "x...............", range(0, 26, 8))
    s.part(0, 34, range(2, 26), lambda b: [(0, 0.4, root(ch(b)), 100), (0.5, 0.3, root(ch(b)) + 12, 80),
                                           (2.5, 0.4, root(ch(b)) + 7, 90), (3.25, 0.5, root(ch(b)) + 10, 85)])
    s.part(1, 16, range(4, 26), lambda b: [(1.5, 0.3, chord(ch(b), 60), 80), (3.5, 0.4, chord(ch(b), 60), 75)])
    return s


def hiphop() -> Song:
    s = Song("hiphop", 85.0, 17)
    ch = _every(["Dm7", "Gm7", "Bbmaj7", "A7"])
    s.steps(KICK, ["X......x..x.....", "X......x..x..x.."], range(17))
    s.steps(SNARE, "........X.......", range(1, 17))
    s.steps(HAT, ["x.o.x.o.x.o.x.o.", "x.o.x.o.x.o.xgog"], range(17))
    s.part(0, 38, range(1, 17), lambda b: [(0, 1.5, root(ch(b), 28), 105), (1.75, 0.6, root(ch(b), 28), 90),
                                           (2.5, 1.0, root(ch(b), 28) + 7, 85)])
    s.part(1, 4, range(17), lambda b: [(0, 3.8, chord(ch(b), 57), 60)])
    s.part(2, 49, range(9, 17), lambda b: [(0, 4, chord(ch(b), 64), 40)])
    return s


def jazz() -> Song:
    s = Song("jazz", 140.0, 28)
    prog = ["Cm7", "F7", "Bbmaj7", "G7"]
    s.steps(RIDE, "x..X.xx..X.x", range(28))
    s.steps(PEDAL, "...x.....x..", range(28))
    s.steps(KICK, "g..g..g..g..", range(28), scale=0.8)
    s.steps(SNARE, ["............", ".....g......", "...........g", "........g..o"], range(28))

    def walk(b):
        here, nxt = chord(prog[b % 4], 36), root(prog[(b + 1) % 4], 36)
        return [(0, 0.9, here[0], 95), (1, 0.9, here[1], 85), (2, 0.9, here[2], 88), (3, 0.9, nxt + 1, 85)]

    s.part(0, 32, range(28), walk)
    s.part(1, 0, range(2, 28), lambda b: [(0, 0.5, chord(prog[b % 4], 58), 62),
                                          (5 / 3, 0.4, chord(prog[b % 4], 58), 70)])
    return s


def country() -> Song:
    s = Song("country", 110.0, 22)
    ch = _every(["G", "G", "C", "D"])
    s.steps(KICK, "X.....x.....", range(22))
    s.steps(SNARE, "...X.....X..", range(22))
    s.steps(HAT, "x.ox.ox.ox.o", range(22))
    s.part(0, 34, range(22), lambda b: [(0, 0.9, root(ch(b), 40), 100), (2, 0.9, root(ch(b), 40) - 5, 92)])
    s.part(1, 25, range(22), lambda b: [(1, 0.5, chord(ch(b)), 85), (5 / 3, 0.3, chord(ch(b)), 60),
                                        (3, 0.5, chord(ch(b)), 85), (11 / 3, 0.3, chord(ch(b)), 60)])
    s.part(2, 110, range(8, 22), lambda b: [(0, 2, chord(ch(b), 67)[b % 3], 70), (2, 2, chord(ch(b), 67)[1], 65)])
    return s


def samba() -> Song:
    s = Song("samba", 100.0, 20)
    ch = _every(["Dm7", "G7", "Cmaj7", "A7"])
    s.steps(LOW_TOM, "o...X...o...X...", range(20))
    s.steps(TIMBALE, "x.xx.x.x.x.xx.x.", range(2, 20), scale=0.8)
    s.steps(CLAVE, "x..x..x...x.x...", range(20), scale=0.8)
    s.steps(SHAKER, "xogoxogoxogoxogo", range(20), scale=0.8)
    s.part(0, 32, range(20), lambda b: [(0, 0.7, root(ch(b), 36), 100), (0.75, 0.25, root(ch(b), 36) + 7, 80),
                                        (1, 0.9, root(ch(b), 36) + 7, 95), (2, 0.7, root(ch(b), 36), 100),
                                        (2.75, 0.25, root(ch(b), 36) + 7, 80), (3, 0.9, root(ch(b), 36) + 7, 95)])
    s.part(1, 24, range(4, 20), lambda b: [(x, 0.25, chord(ch(b), 55), 80) for x in (0.5, 1.0, 1.75, 2.5, 3.0, 3.75)])
    return s


def waltz() -> Song:
    s = Song("waltz", 90.0, 24, beats_per_bar=3)
    ch = _every(["C", "G7", "G7", "C", "F", "C", "G7", "C"])
    s.steps(KICK, "o...........", range(24))
    s.steps(HAT, "....o...o...", range(24))
    s.steps(TRIANGLE, "g...........", range(0, 24, 2))
    s.part(0, 32, range(24), lambda b: [(0, 0.9, root(ch(b), 36), 100)])
    s.part(1, 0, range(24), lambda b: [(1, 0.6, chord(ch(b), 55), 72), (2, 0.6, chord(ch(b), 55), 66)])
    s.part(2, 48, range(4, 24), lambda b: [(0, 3, chord(ch(b), 60), 40)])
    s.part(3, 40, range(8, 24), lambda b: [(0, 1.5, chord(ch(b), 72)[b % 3], 80), (1.5, 0.5, chord(ch(b), 72)[1], 70),
                                           (2, 1, chord(ch(b), 72)[(b + 2) % 3], 75)])
    return s


def ballad() -> Song:
    s = Song("ballad", 70.0, 14)
    ch = _every(["C", "G", "Am", "F"])
    s.steps(KICK, "o.......o.o.....", range(2, 14))
    s.steps(STICK, "....o.......o...", range(2, 14))
    s.steps(HAT, "g.g.g.g.g.g.g.g.", range(2, 14))
    s.part(0, 0, range(14), lambda b: [(i * 0.5, 0.5, (chord(ch(b), 48) + chord(ch(b), 60))[i % 6], 60 + 10 * (i == 0))
                                       for i in range(8)])
    s.part(1, 48, range(14), lambda b: [(0, 4, chord(ch(b), 60), 45)])
    s.part(2, 33, range(1, 14), lambda b: [(0, 2, root(ch(b), 36), 85), (2, 2, root(ch(b), 36), 75)])
    return s


def dnb() -> Song:
    s = Song("dnb", 174.0, 36)
    ch = _every(["Fm", "Db", "Ab", "Eb"], 2)
    s.steps(HAT, ["x.o.x.o.x.o.x.o.", "x.o.x.o.x.o.xgxg"], range(36))
    s.steps(KICK, ["X.........x.....", "X.x.......x....."], range(2, 36))
    s.steps(SNARE, "....X..g....X..g", range(2, 36))
    s.steps(CRASH, "x...............", range(2, 36, 8))
    s.part(0, 39, range(2, 36), lambda b: [(0, 2.5, root(ch(b), 29), 100), (2.5, 1.5, root(ch(b), 29) + 12, 90)])
    s.part(1, 89, range(36), lambda b: [(0, 8, chord(ch(b), 53), 50)] if b % 2 == 0 else [])
    return s


def _pop_rock(s: Song, prog) -> Song:
    bars = range(s.bars)
    s.steps(KICK, ["X.....x.x.......", "X.....x.x.....x."], bars)
    s.steps(SNARE, "....X.......X...", bars)
    s.steps(HAT, "x.o.x.o.x.o.x.o.", bars)
    s.steps(CRASH, "x...............", range(0, s.bars, 4))
    s.part(0, 33, bars, lambda b: [(i * 0.5, 0.45, root(prog(b), 28), 90 + 10 * (i % 4 == 0)) for i in range(8)])
    s.part(1, 29, bars, lambda b: [(0, 1.9, chord(prog(b), 52)[:3:2], 80), (2, 1.9, chord(prog(b), 52)[:3:2], 75)])
    s.part(2, 1, range(4, s.bars), lambda b: [(x, 0.4, chord(prog(b), 64), 70) for x in (0.5, 1.5, 2.5, 3.5)])
    return s


def change_abrupt() -> Song:
    return _pop_rock(Song("change_abrupt", lambda k: 118.0 if k < 48 else 128.0, 24), _every(["E", "C#m", "A", "B"]))


def change_gradual() -> Song:
    s = Song("change_gradual", lambda k: 118.0 + 10.0 * min(max((k - 32) / 32, 0.0), 1.0), 24)
    ch = _every(["Am7", "D7", "Gmaj7", "Cmaj7"])
    s.steps(KICK, "X...x...x...x...", range(24))
    s.steps(SNARE, "....X.......X...", range(24))
    s.steps(OPEN, "..o...o...o...o.", range(24))
    s.steps(HAT, "g.g.g.g.g.g.g.g.", range(24))
    s.part(0, 33, range(24), lambda b: [(i * 0.5, 0.4, root(ch(b), 33) + 12 * (i % 2), 95) for i in range(8)])
    s.part(1, 48, range(24), lambda b: [(1.5, 0.3, chord(ch(b), 64), 80), (3.5, 0.3, chord(ch(b), 64), 75)])
    return s


def breakdown() -> Song:
    s = Song("breakdown", 126.0, 26)
    ch = _every(["Am", "F", "C", "G"], 2)
    drums = [*range(10), *range(18, 26)]
    s.steps(KICK, "X...x...x...x...", drums)
    s.steps(HAT, "..x...x...x...x.", drums)
    s.steps(CLAP, "....x.......x...", drums)
    s.steps(CRASH, "x...............", [0, 8, 18])
    full = lambda b: [(x, 0.3, root(ch(b), 33), 95) for x in (0.5, 1.5, 2.5, 3.5)]  # noqa: E731
    s.part(0, 38, range(26), lambda b: full(b) if not 10 <= b < 18 else [(0, 1.9, root(ch(b), 33), 85),
                                                                        (2, 1.9, root(ch(b), 33), 80)])
    s.part(1, 89, range(26), lambda b: [(0, 8, chord(ch(b), 55), 55)] if b % 2 == 0 else [])
    s.part(2, 81, range(12, 18), lambda b: [(i * 0.5, 0.45, chord(ch(b), 67)[i % 3], 60) for i in range(8)])
    return s


ARRANGEMENTS = {f.__name__: f for f in (house, breakbeat, hiphop, jazz, country, samba, waltz, ballad, dnb,
                                        change_abrupt, change_gradual, breakdown)}


def build(name: str) -> Song:
    if name not in ARRANGEMENTS:
        raise KeyError(f"no arrangement {name!r}; one of {', '.join(ARRANGEMENTS)}")
    return ARRANGEMENTS[name]()
