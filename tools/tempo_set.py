"""The rendered tempo set: music with exact ground truth, and non-music signals, for tools/eval_tempo.py.

Music: the arrangements of tempo_arrangements.py (what each one is and why is
there), written as MIDI with mido and rendered by the `fluidsynth` program
(`fluidsynth -ni -F out.wav -r 44100 -g 0.6 SF2 file.mid`, reverb and chorus
on) through a General MIDI soundfont: FluidR3_GM if installed (Debian
`fluid-soundfont-gm`), else TimGM6mb (`timgm6mb-soundfont`, small: what the
tests and CI use). Pink noise is mixed in at -45 dB relative to the music's
RMS and the mix normalised to a -1 dBFS peak. Nothing rendered is committed:
fluidsynth's output is cached (default ~/.cache/livecppn-tempo-set) under the
MIDI file's content hash and the soundfont, so a second run reads it back.

Ground truth (`Truth`): the grid's beat times (not the humanised hits), each
beat's position in its bar (1 = downbeat), beats per bar, and the tempo as a
function of time: the median inter-beat interval of the five beat intervals
around that time (exact on a steady track; follows a change within a beat).
fluidsynth sounds the notes a few ms after their MIDI time: aubio's hfc onsets
land a median 4-10 ms after the grid beats on these tracks (FluidR3 and
TimGM6mb; 10-17 ms on samba, whose surdo attacks slowly), far inside the
±70 ms beat window.

Non-music (NON_MUSIC; a tempo claimed on these is a false lock): white and pink
noise at -20 dBFS RMS, speech (espeak-ng sentences of varying speed and pitch
with pauses, if the program is installed; else a babble of formant-filtered
glottal pulses in syllables of random length), digital silence, and a -70 dBFS
hiss.

    render_track(name, cache=None, soundfont=None, seconds=None) -> (samples, rate, Truth)
    render_signal(name, seconds=40.0, cache=None) -> (samples, rate)
    python tools/tempo_set.py --out DIR [--only NAME] [--seconds S]   # writes NAME.wav/.beats/.bpm
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tempo_arrangements import ARRANGEMENTS, build  # noqa: E402

RATE = 44100
NAMES = list(ARRANGEMENTS)
NON_MUSIC = ["white_noise", "pink_noise", "speech", "silence", "hiss_-70dB"]
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
FLUIDSYNTH_ARGS = ["-ni", "-q", "-R", "1", "-C", "1", "-r", str(RATE), "-g", "0.6"]
NOISE_DB = -45.0  # pink noise under the music, relative to its RMS
PEAK = 10 ** (-1 / 20)


@dataclass
class Truth:
    """Annotated beats (seconds; may be empty), their positions in the bar (1 = downbeat; may be empty),
    beats per bar, and `bpm`: an annotated constant tempo, or None to take the local tempo from the beats."""

    beats: np.ndarray
    positions: np.ndarray
    beats_per_bar: int = 4
    bpm: float | None = None

    def tempo_at(self, t) -> np.ndarray:
        """Tempo (BPM) at each time in t: `bpm` if annotated, else 60 / the median of the five beat
        intervals around t."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if self.bpm is not None:
            return np.full(t.shape, float(self.bpm))
        ibi = np.diff(self.beats)
        if not len(ibi):
            return np.zeros(t.shape)
        first = np.clip(np.searchsorted(self.beats, t) - 3, 0, max(0, len(ibi) - 5))  # t in interval first + 2
        return np.array([60.0 / np.median(ibi[k:k + 5]) for k in first])

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[self.positions == 1] if len(self.positions) else np.zeros(0)

    def tempo(self) -> float:
        """One number: the annotated tempo, else 60 / the median beat interval."""
        return float(self.bpm) if self.bpm is not None else float(60.0 / np.median(np.diff(self.beats)))

    def beats_text(self) -> str:
        """The NAME.beats format: "time position" per line."""
        return "".join(f"{t:.4f}\t{p}\n" for t, p in zip(self.beats, self.positions))


def read_truth(audio: Path) -> Truth | None:
    """NAME.bpm (one number) and the optional NAME.beats ("time position" per line) beside an audio file."""
    bpm_file, beats_file = audio.with_suffix(".bpm"), audio.with_suffix(".beats")
    if not bpm_file.is_file():
        return None
    beats, positions = np.zeros(0), np.zeros(0, dtype=int)
    if beats_file.is_file():
        rows = [line.split() for line in beats_file.read_text().splitlines() if line.strip()]
        beats = np.array([float(r[0]) for r in rows])
        if all(len(r) > 1 for r in rows):
            positions = np.array([int(float(r[1])) for r in rows])
    bpb = int(positions.max()) if len(positions) else 4
    return Truth(beats, positions, bpb, float(bpm_file.read_text().split()[0]))


# --- music ----------------------------------------------------------------------------------------

def have_fluidsynth() -> bool:
    return shutil.which("fluidsynth") is not None


def find_soundfont(soundfont: str | os.PathLike | None = None) -> Path:
    """The soundfont asked for, else the first of SOUNDFONTS installed. Raises FileNotFoundError."""
    for candidate in [soundfont] if soundfont else SOUNDFONTS:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(f"no General MIDI soundfont: {soundfont or ' or '.join(SOUNDFONTS)} "
                            f"(apt-get install fluid-soundfont-gm or timgm6mb-soundfont)")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "livecppn-tempo-set"


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV as mono float32 (channel mean) and its rate."""
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit PCM, got {8 * width}-bit")
    x = np.frombuffer(data, dtype="<i2").reshape(-1, channels).astype(np.float32) / 32768.0
    return x.mean(axis=1), rate


def _cached(cache: Path, name: str, key_parts: list[bytes], make) -> Path:
    """cache/NAME-HASH.wav, made by make(path) unless already there (written to a temporary name first)."""
    key = hashlib.sha256(b"\0".join(key_parts)).hexdigest()[:16]
    path = cache / f"{name}-{key}.wav"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".wav", dir=cache)
        os.close(fd)
        try:
            make(Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS pink (1/f power) noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, len(spec)))
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return (x / max(np.sqrt(np.mean(x ** 2)), 1e-12)).astype(np.float32)


def render_track(name: str, cache: str | os.PathLike | None = None, soundfont: str | os.PathLike | None = None,
                 seconds: float | None = None) -> tuple[np.ndarray, int, Truth]:
    """Render an arrangement (one of NAMES) to (mono float32 samples, RATE, Truth); `seconds` keeps only
    the first seconds of music (fewer notes rendered). Needs the fluidsynth program and a soundfont."""
    if not have_fluidsynth():
        raise FileNotFoundError("the fluidsynth program is not installed (apt-get install fluidsynth)")
    song, sf = build(name), find_soundfont(soundfont)
    end = song.end if seconds is None else min(song.end, float(seconds))
    midi = song.midi(until=end)

    def make(path: Path):
        with tempfile.NamedTemporaryFile(suffix=".mid") as mid:
            mid.write(midi)
            mid.flush()
            subprocess.run(["fluidsynth", *FLUIDSYNTH_ARGS, "-F", str(path), str(sf), mid.name], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)

    wav = _cached(Path(cache) if cache else default_cache(), name,
                  [midi, sf.name.encode(), str(sf.stat().st_size).encode(), " ".join(FLUIDSYNTH_ARGS).encode()], make)
    x, rate = _read_wav(wav)
    n = int(round(end * rate))
    x = np.concatenate([x[:n], np.zeros(max(0, n - len(x)), np.float32)])
    fade = min(n, int(0.05 * rate))
    x[n - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    rms = float(np.sqrt(np.mean(x ** 2)))
    x = x + np.float32(rms * 10 ** (NOISE_DB / 20)) * pink_noise(len(x), np.random.default_rng(zlib.crc32(name.encode())))
    x *= np.float32(PEAK / max(float(np.abs(x).max()), 1e-9))
    keep = song.beats < end
    return x.astype(np.float32), rate, Truth(song.beats[keep], song.positions[keep], song.beats_per_bar)


# --- non-music ------------------------------------------------------------------------------------

SPEECH = [
    "The weather service expects light rain in the morning, clearing by the afternoon.",
    "Please remember that the library closes early on public holidays.",
    "In the first chapter, the author describes how the old harbour town changed over a century.",
    "Could you tell me where the nearest train station is, and whether the trains run on Sunday?",
    "Measurements were taken every hour, and the results were written down in a small notebook.",
    "Nobody expected the meeting to last so long, but there was a great deal to discuss.",
    "The recipe asks for two cups of flour, a pinch of salt, and some warm water.",
    "After the concert, the audience waited outside for a while, talking quietly.",
    "Turn left at the bakery, walk past the school, and the museum is on your right.",
    "It is important to check the numbers twice before sending the report.",
]


def _espeak(path: Path, seconds: float) -> None:
    """Sentences from SPEECH through espeak-ng at varying speed and pitch, with pauses, to `path` (RATE, 16-bit)."""
    from scipy.signal import resample_poly

    rng = np.random.default_rng(3)
    parts, total = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        while total < seconds * RATE:
            text = SPEECH[len(parts) // 2 % len(SPEECH)]
            out = Path(tmp) / "s.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(int(rng.integers(140, 190))), "-p",
                            str(int(rng.integers(30, 70))), "-w", str(out), text], check=True, capture_output=True)
            x, rate = _read_wav(out)
            g = np.gcd(rate, RATE)
            x = resample_poly(x, RATE // g, rate // g).astype(np.float32)
            parts += [x, np.zeros(int(rng.uniform(0.2, 0.9) * RATE), np.float32)]
            total += len(x) + len(parts[-1])
    _write_wav(path, np.concatenate(parts)[:int(seconds * RATE)])


def _write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def babble(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like sound without a speech synthesiser: glottal pulses (wandering pitch) through two formant
    resonators that change every syllable (80-300 ms), in phrases of 3-12 syllables between pauses."""
    from scipy.signal import lfilter

    out = []
    while sum(map(len, out)) < seconds * RATE:
        for _ in range(int(rng.integers(3, 13))):
            n = int(rng.uniform(0.08, 0.3) * RATE)
            f0 = rng.uniform(100, 200) * np.exp(np.cumsum(rng.normal(0, 0.0004, n)))
            phase = np.cumsum(f0 / RATE)
            src = np.diff(np.floor(phase), prepend=0.0)  # one impulse per period
            y = np.zeros(n)
            for f, bw in ((rng.uniform(300, 900), 80), (rng.uniform(900, 2500), 120)):
                r = np.exp(-np.pi * bw / RATE)
                y += lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / RATE), r * r], src)
            out.append(y * np.hanning(n))
        out.append(np.zeros(int(rng.uniform(0.15, 0.7) * RATE)))
    x = np.concatenate(out)[:int(seconds * RATE)]
    return (0.5 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def render_signal(name: str, seconds: float = 40.0, cache: str | os.PathLike | None = None) -> tuple[np.ndarray, int]:
    """A non-music signal (one of NON_MUSIC) as (mono float32 samples, RATE)."""
    rng = np.random.default_rng(NON_MUSIC.index(name) + 11)
    n = int(seconds * RATE)
    if name == "white_noise":
        return (0.1 * rng.standard_normal(n)).astype(np.float32), RATE
    if name == "pink_noise":
        return 0.1 * pink_noise(n, rng), RATE
    if name == "silence":
        return np.zeros(n, np.float32), RATE
    if name == "hiss_-70dB":
        return (10 ** (-70 / 20) * rng.standard_normal(n)).astype(np.float32), RATE
    if name == "speech":
        if shutil.which("espeak-ng") is None:
            return babble(seconds, rng), RATE
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
        wav = _cached(Path(cache) if cache else default_cache(), "speech",
                      ["\n".join(SPEECH).encode(), version.encode(), str(seconds).encode()],
                      lambda p: _espeak(p, seconds))
        x, _ = _read_wav(wav)
        return x * np.float32(PEAK / max(float(np.abs(x).max()), 1e-9)), RATE
    raise KeyError(f"no signal {name!r}; one of {', '.join(NON_MUSIC)}")


def main() -> int:
    ap = argparse.ArgumentParser(description="Render the tempo set to NAME.wav, NAME.beats and NAME.bpm.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", default="", help="the tracks whose name contains this")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--soundfont", default=None)
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        if args.only in name:
            x, rate, truth = render_track(name, args.cache, args.soundfont, args.seconds)
            _write_wav(args.out / f"{name}.wav", x)
            (args.out / f"{name}.beats").write_text(truth.beats_text())
            (args.out / f"{name}.bpm").write_text(f"{truth.tempo():.2f}\n")
            print(f"{name}: {len(x) / rate:.1f} s, {truth.tempo():.1f} BPM, {len(truth.beats)} beats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
