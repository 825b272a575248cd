"""Tempo and beat on music: livecppn's live analyser against aubio.tempo, on real and rendered music and on non-music.

Sets: the real recordings in --real (default ../shared/audio-eval: NAME.wav/
flac/mp3 with NAME.bpm and optional NAME.beats, "time position" per line), the
rendered set (tempo_set.py: General MIDI arrangements through fluidsynth, exact
beats, bar positions and tempo curve), and non-music (noise, speech, silence).

Ours runs exactly as `livecppn live` runs it: `Analyzer(rate).process(block,
1/60)` with blocks of rate/60 samples (lengths rounded so the total is exact);
per frame it reads bpm (0 = no tempo), tempo_source, beat_count, beat_phase,
bar_phase, audio_time, and, where the analyser has them, bpm_confidence and
beats_per_bar (else 4). A beat is recorded at each frame where beat_count went
up, at audio_time - beat_phase * 60 / bpm; it is a downbeat when the bar phase
wrapped there (the beat's place in the bar, floor(bar_phase * beats_per_bar),
is 0). aubio.tempo("default", 4 hop, hop, rate) gets the same audio in the
analyser's hops (256 samples at 44.1/48 kHz) and is read at the same 60 fps
frames: its get_bpm() unfolded, claimed from its first reported beat on, and
not while its last beat is more than CLAIM seconds old (it reports every beat
while it tracks; get_bpm() keeps its last value through silence, and says 40.5
on digital silence before any beat). Its get_confidence() is not used: it stays
0 for the first 3-6 s of tracks it already follows right. A beat is
get_last_s() of each hop that reports one.

Metrics, per track, then the mean over the tracks of each set:
- Acc1 / Acc2 (MIREX): share of the frames in the second half of the track
  whose tempo is within ±4 % of the true tempo at that time (Acc2 also of 1/3,
  1/2, 2 or 3 times it); frames with no tempo count as wrong. The true tempo
  is the annotated .bpm, or on the rendered set 60 / the median of the five
  beat intervals around the frame (it follows a tempo change within a beat).
- tempo: share of second-half frames with a tempo at all.
- lock: time to first lock, the first frame right by Acc2 from which on at
  least 90 % of the frames to the end are right by Acc2; "-" never (in a
  set's mean, never counts as the track's length).
- beat F: F-measure of the beats in the second half against the annotated
  beats there, ±70 ms (mir_eval.beat.f_measure).
- downbeat F: the same on downbeats (bar position 1); bar: share of
  second-half frames whose current beat is within 70 ms of a true beat and has
  that beat's position in the bar. Ours only (aubio has no bar).
- false lock (non-music): share of all frames where the tracker claims a tempo
  (ours: tempo_source == "tracker"; aubio: the claim rule above).
- ms/frame: time of each `Analyzer.process` call (features, onsets, tempo, clock),
  p99 and mean over all music frames; aubio's: its hops in that frame.

Prints the tables (--markdown: as Markdown) and writes JSON (--out).
Usage: python tools/eval_tempo.py [--real DIR] [--no-rendered] [--only NAME] [--seconds S] [--cache DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

import aubio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from benchio import save  # noqa: E402
from tempo_set import (NAMES, NON_MUSIC, Truth, find_soundfont, have_fluidsynth, read_truth,  # noqa: E402
                       render_signal, render_track)

from livecppn.audio.analyzer import Analyzer, hop_for_rate  # noqa: E402
from livecppn.audio.decode import load_audio  # noqa: E402

FPS = 60
TOL = 0.04  # MIREX tempo tolerance
OCTAVES = (1.0, 1 / 3, 1 / 2, 2.0, 3.0)  # Acc2's factors
WINDOW = 0.070  # beat and downbeat tolerance, seconds
HOLD = 0.9  # first lock: this share right from then on
CLAIM = 2.0  # aubio claims a tempo while its last beat is at most this old
AUDIO = (".wav", ".flac", ".mp3", ".ogg")


# --- metrics --------------------------------------------------------------------------------------

def tempo_ok(bpm, truth, octaves: bool = False, tol: float = TOL) -> np.ndarray:
    """Per frame: a tempo, within ±tol of truth (or, with octaves, of truth × 1/3, 1/2, 2 or 3)."""
    bpm = np.asarray(bpm, dtype=np.float64)
    truth = np.broadcast_to(np.asarray(truth, dtype=np.float64), bpm.shape)
    ok = np.zeros(bpm.shape, dtype=bool)
    for f in OCTAVES if octaves else (1.0,):
        ok |= np.abs(bpm - f * truth) <= tol * f * truth
    return ok & (bpm > 0)


def first_lock(times, ok, hold: float = HOLD) -> float | None:
    """The first time whose frame is ok and from which on at least `hold` of the frames are ok; None if none."""
    ok = np.asarray(ok, dtype=bool)
    if not len(ok):
        return None
    share = np.cumsum(ok[::-1])[::-1] / np.arange(len(ok), 0, -1)  # share ok from each frame to the end
    good = ok & (share >= hold - 1e-12)
    return float(np.asarray(times)[np.argmax(good)]) if good.any() else None


def f_measure(reference, estimated, window: float = WINDOW) -> float:
    """Beat F-measure (mir_eval.beat.f_measure): each reference beat matched to at most one estimate within
    ±window. No estimates: 0."""
    import mir_eval

    ref, est = np.unique(np.asarray(reference, float)), np.unique(np.asarray(estimated, float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty inputs warn; the answer (0) is what we want
        return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=window))


def bar_frames(cur_beat, in_bar, truth: Truth, window: float = WINDOW) -> np.ndarray:
    """Per frame: the current beat is within `window` of a true beat and has its position in the bar (1 = down)."""
    cur_beat = np.asarray(cur_beat, dtype=np.float64)
    if not len(truth.beats) or not len(truth.positions):
        return np.zeros(cur_beat.shape, dtype=bool)
    j = np.clip(np.searchsorted(truth.beats, cur_beat), 1, len(truth.beats) - 1)
    j = np.where(np.abs(truth.beats[j - 1] - cur_beat) <= np.abs(truth.beats[j] - cur_beat), j - 1, j)
    near = np.abs(truth.beats[j] - np.nan_to_num(cur_beat, nan=-1e9)) <= window
    return near & (np.asarray(in_bar) == truth.positions[j])


def score(run: dict, truth: Truth, duration: float) -> dict:
    t, bpm = run["times"], run["bpm"]
    late = t >= duration / 2
    truth_bpm = truth.tempo_at(t)
    ok2 = tempo_ok(bpm, truth_bpm, octaves=True)
    has = bpm[late] > 0
    out = {"acc1": float(np.mean(tempo_ok(bpm, truth_bpm)[late])), "acc2": float(np.mean(ok2[late])),
           "with_tempo": float(np.mean(has)), "lock_s": first_lock(t, ok2),
           "bpm_median": float(np.median(bpm[late][has])) if has.any() else None,
           "beat_f": None, "downbeat_f": None, "bar": None}
    half = duration / 2
    if len(truth.beats):
        out["beat_f"] = f_measure(truth.beats[truth.beats >= half], run["beats"][run["beats"] >= half])
    if len(truth.positions) and "downbeats" in run:
        down = truth.downbeats
        out["downbeat_f"] = f_measure(down[down >= half], run["downbeats"][run["downbeats"] >= half])
        out["bar"] = float(np.mean(bar_frames(run["cur_beat"][late], run["in_bar"][late], truth)))
    return out


# --- the trackers ---------------------------------------------------------------------------------

def frame_ends(n: int, rate: int) -> list[int]:
    """Sample index at the end of each 60 fps frame; the last is n (a shorter block if it falls there)."""
    ends = [round(k * rate / FPS) for k in range(1, int(n * FPS / rate) + 1)]
    return ends + [n] if not ends or ends[-1] < n else ends


def run_ours(x: np.ndarray, rate: int) -> dict:
    a = Analyzer(rate)
    rows, beats, downs, ms = [], [], [], []
    pos, count = 0, 0
    for end in frame_ends(len(x), rate):
        block = x[pos:end]
        t0 = time.perf_counter()
        f = a.process(block, 1.0 / FPS)
        ms.append(1000 * (time.perf_counter() - t0))
        pos = end
        bpb = int(getattr(f, "beats_per_bar", 4) or 4)
        place = int(np.floor(f.bar_phase * bpb + 1e-6)) % bpb  # 0 = the bar's first beat
        cur = f.audio_time - f.beat_phase * 60.0 / f.bpm if f.bpm > 0 else np.nan
        if f.beat_count > count and f.bpm > 0:
            beats.append(cur)
            if place == 0:
                downs.append(cur)
        count = f.beat_count
        conf = getattr(f, "bpm_confidence", None)
        rows.append((f.audio_time, f.bpm, f.tempo_source == "tracker", cur, place + 1,
                     np.nan if conf is None else conf))
    r = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return {"times": r[:, 0], "bpm": r[:, 1], "claims": r[:, 2] > 0, "cur_beat": r[:, 3],
            "in_bar": r[:, 4].astype(int), "confidence": r[:, 5], "beats": np.array(beats),
            "downbeats": np.array(downs), "ms": np.array(ms)}


def run_aubio(x: np.ndarray, rate: int) -> dict:
    hop = hop_for_rate(rate)
    tr = aubio.tempo("default", 4 * hop, hop, rate)
    buf = np.zeros(hop, np.float32)
    rows, beats, ms, fed = [], [], [], 0
    for end in frame_ends(len(x), rate):
        t0 = time.perf_counter()
        while fed + hop <= end:
            buf[:] = x[fed:fed + hop]
            if tr(buf)[0]:
                beats.append(tr.get_last_s())
            fed += hop
        claims = bool(beats) and end / rate - beats[-1] <= CLAIM
        ms.append(1000 * (time.perf_counter() - t0))
        rows.append((end / rate, tr.get_bpm() if claims else 0.0, claims))
    r = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return {"times": r[:, 0], "bpm": r[:, 1], "claims": r[:, 2] > 0, "beats": np.array(beats), "ms": np.array(ms)}


def curve(run: dict) -> list:
    """The tempo every half second (for plots)."""
    step = FPS // 2
    return [round(float(b), 2) for b in run["bpm"][step - 1::step]]


# --- sets -----------------------------------------------------------------------------------------

def default_real() -> Path:
    """shared/audio-eval in the repository's folder, or one further up (a git worktree under wt/)."""
    for up in (ROOT, ROOT.parent, ROOT.parent.parent):
        if (up / "shared" / "audio-eval").is_dir():
            return up / "shared" / "audio-eval"
    return ROOT.parent / "shared" / "audio-eval"


def real_tracks(folder: Path):
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix.lower() in AUDIO and (truth := read_truth(path)) is not None:
            yield path.stem, lambda p=path, tr=truth: (*load_audio(p), tr)


def evaluate(name: str, group: str, x: np.ndarray, rate: int, truth: Truth | None, timing: dict) -> dict:
    duration = len(x) / rate
    ours, theirs = run_ours(x, rate), run_aubio(x, rate)
    timing["ours"].append(ours["ms"])
    timing["aubio"].append(theirs["ms"])
    row = {"set": group, "name": name, "seconds": round(duration, 2),
           "p99_ms": round(float(np.percentile(ours["ms"], 99)), 3)}
    if truth is None:
        for key, r in (("ours", ours), ("aubio", theirs)):
            row[key] = {"false_lock": float(np.mean(r["claims"])), "with_tempo": float(np.mean(r["bpm"] > 0)),
                        "bpm_median": float(np.median(r["bpm"][r["bpm"] > 0])) if (r["bpm"] > 0).any() else None}
        return row
    curve_true = truth.tempo_at(ours["times"])
    row.update(truth_bpm=round(truth.tempo(), 2), truth_bpm_range=[round(float(curve_true.min()), 2),
               round(float(curve_true.max()), 2)], beats_per_bar=truth.beats_per_bar)
    for key, r in (("ours", ours), ("aubio", theirs)):
        row[key] = {**score(r, truth, duration), "bpm_every_0.5s": curve(r)}
    row["aubio"].update(downbeat_f=None, bar=None)
    if not np.isnan(ours["confidence"]).all():
        row["ours"]["confidence_median"] = float(np.nanmedian(ours["confidence"]))
    return row


def mean_row(rows: list[dict], group: str) -> dict:
    out = {"set": group, "name": f"mean ({len(rows)})"}
    for key in ("ours", "aubio"):
        out[key] = {}
        for m in ("acc1", "acc2", "with_tempo", "beat_f", "downbeat_f", "bar", "false_lock"):
            vals = [r[key][m] for r in rows if r[key].get(m) is not None]
            out[key][m] = float(np.mean(vals)) if vals else None
        if rows and "lock_s" in rows[0][key]:
            out[key]["lock_s"] = float(np.mean([r["seconds"] if r[key]["lock_s"] is None else r[key]["lock_s"]
                                                for r in rows]))
    return out


# --- output ---------------------------------------------------------------------------------------

def fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def true_bpm(row: dict) -> str:
    lo, hi = row.get("truth_bpm_range") or (None, None)
    return f"{lo:.0f}-{hi:.0f}" if lo and hi > 1.01 * lo else fmt(row.get("truth_bpm"), 1)


def pair(row: dict, key: str, digits: int = 2) -> str:
    return f"{fmt(row['ours'].get(key), digits)} / {fmt(row['aubio'].get(key), digits)}"


def table(rows: list[dict], columns: list[tuple[str, callable]], markdown: bool) -> str:
    cells = [[name for name, _ in columns]] + [[get(r) for _, get in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join([lines[0], "|" + "|".join(" --- " for _ in columns) + "|", *lines[1:]])
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


MUSIC_COLUMNS = [("set", lambda r: r["set"]), ("track", lambda r: r["name"]),
                 ("BPM", lambda r: true_bpm(r)),
                 ("BPM heard", lambda r: pair(r, "bpm_median", 1)), ("Acc1", lambda r: pair(r, "acc1")),
                 ("Acc2", lambda r: pair(r, "acc2")), ("tempo", lambda r: pair(r, "with_tempo")),
                 ("lock s", lambda r: pair(r, "lock_s", 1)), ("beat F", lambda r: pair(r, "beat_f")),
                 ("downbeat F", lambda r: fmt(r["ours"].get("downbeat_f"))),
                 ("bar", lambda r: fmt(r["ours"].get("bar")))]
NOISE_COLUMNS = [("signal", lambda r: r["name"]), ("false lock", lambda r: pair(r, "false_lock")),
                 ("tempo", lambda r: pair(r, "with_tempo")), ("BPM claimed", lambda r: pair(r, "bpm_median", 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=default_real(), help="real recordings (default: shared/audio-eval "
                    "beside the repository, or beside the folder holding its worktree)")
    ap.add_argument("--no-rendered", action="store_true", help="skip the rendered music")
    ap.add_argument("--only", default="", help="run the tracks and signals whose name contains this")
    ap.add_argument("--seconds", type=float, default=None, help="trim rendered tracks and signals (default: whole)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="rendered audio cache (default ~/.cache/livecppn-tempo-set)")
    ap.add_argument("--soundfont", default=None)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "eval_tempo.json")
    args = ap.parse_args()

    start = time.perf_counter()
    timing = {"ours": [], "aubio": []}
    music, noise = [], []
    jobs = [("real", n, load) for n, load in real_tracks(args.real)]
    if not jobs:
        print(f"eval_tempo: no real recordings with NAME.bpm in {args.real}", file=sys.stderr)
    soundfont = None
    if not args.no_rendered:
        if have_fluidsynth():
            soundfont = str(find_soundfont(args.soundfont))
            jobs += [("rendered", n, lambda n=n: render_track(n, args.cache, soundfont, args.seconds)) for n in NAMES]
        else:
            print("eval_tempo: fluidsynth not installed; no rendered set", file=sys.stderr)
    for group, name, load in jobs:
        if args.only in name:
            x, rate, truth = load()
            music.append(evaluate(name, group, x, rate, truth, timing))
            print(f"  {group} {name}: done", file=sys.stderr)
    for name in NON_MUSIC:
        if args.only in name:
            x, rate = render_signal(name, args.seconds or 40.0, args.cache)
            noise.append(evaluate(name, "non-music", x, rate, None, timing))
            print(f"  non-music {name}: done", file=sys.stderr)

    groups = [(g, [r for r in music if r["set"] == g]) for g in ("real", "rendered")]
    means = [mean_row(rows, g) for g, rows in groups if rows]
    if all(rows for _, rows in groups):
        means.append(mean_row(music, "all"))
    ours_ms = np.concatenate(timing["ours"]) if timing["ours"] else np.zeros(1)
    aubio_ms = np.concatenate(timing["aubio"]) if timing["aubio"] else np.zeros(1)
    frame_ms = {"ours_p99": float(np.percentile(ours_ms, 99)), "ours_mean": float(np.mean(ours_ms)),
                "aubio_p99": float(np.percentile(aubio_ms, 99)), "aubio_mean": float(np.mean(aubio_ms))}

    print("Music: ours / aubio. Second half of each track: Acc1, Acc2 (±4 %; Acc2 forgives x1/3 x1/2 x2 x3), "
          "tempo = share of frames with one, beat F (±70 ms); lock = time to first lock (Acc2, then 90 % right); "
          "downbeat F and bar: ours only.\n")
    if music:
        print(table(music + means, MUSIC_COLUMNS, args.markdown))
    if noise:
        print("\nNon-music: share of frames where the tracker claims a tempo (ours / aubio)\n")
        print(table(noise + ([mean_row(noise, "non-music")] if len(noise) > 1 else []), NOISE_COLUMNS,
                    args.markdown))
    print(f"\nAnalyzer.process per 60 fps frame: p99 {frame_ms['ours_p99']:.2f} ms, "
          f"mean {frame_ms['ours_mean']:.2f} ms "
          f"(aubio.tempo alone: p99 {frame_ms['aubio_p99']:.2f} ms)")
    wall = time.perf_counter() - start
    print(f"run took {wall:.0f} s")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    save(args.out, {"commit": commit, "fps": FPS, "tolerance": TOL, "beat_window_s": WINDOW, "lock_hold": HOLD,
                    "soundfont": soundfont, "seconds": args.seconds, "real": str(args.real), "frame_ms": frame_ms,
                    "wall_s": round(wall, 1), "music": music, "means": means, "non_music": noise})
    return 0


if __name__ == "__main__":
    sys.exit(main())
