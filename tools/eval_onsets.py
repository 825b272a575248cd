"""Measure onset detectors and tempo trackers on the same signals, and keep the better one.

Onsets: aubio's onset detector (methods specflux, hfc, complex, energy; one
256-sample hop at a time at 48 kHz, through analyzer.OnsetDetector: aubio's
delay compensation, our silence gate) against the seed's hand-written
kick-band detector (spectrum.KickOnsets inside FeatureExtractor.snapshot, once
per 60 fps frame as the seed ran it, and once per hop). A detection counts
within ±20 ms of a true onset (each truth matched once). Reported: precision,
recall, F, mean and max timing error of the matches, latency (when the
detector reported it minus when the sound began: what a pulse on the onset
flag lags by), onsets per second on white noise, and CPU per 256-sample hop of
audio (the per-frame detector's cost is spread over the hops of its frame).

Tempo on clicks and the synthetic beat (music: tools/eval_tempo.py): livecppn's
tracker (tracker.py, through `Analyzer.process` in 800-sample blocks: a 60 fps
loop) against `aubio.tempo` (same hops, its BPM folded into 80-180, its last
beat extended by its period as a beat clock would).
Per 60 fps frame after 6 s: worst BPM error, beat-phase error (the clock's
current beat against the nearest true beat; median and p90), the time from
which BPM stays within ±1 and the phase within 30 ms, and for the tempo change,
how long after it that held again. On noise, the share of frames claiming a
tempo. CPU per hop: ours is the onset function (odf.py) + tracker (+ a clock
read per frame); aubio's is aubio.tempo.

What it showed (and what livecppn keeps): aubio `hfc` for onsets (F = 1.0 on
every click track and on the synthetic beat, timing within ±4 ms, ~20 ms
latency, one onset on white noise: where it starts; the kick-band detector
misses clicks that are not kicks, fires ~1/s on white noise and, once per
frame, is quantised to the frame), and livecppn's tracker for tempo (see
tracker.py's docstring).

Prints tables and writes JSON. Usage: python tools/eval_onsets.py [--only NAME] [--out out/eval_onsets.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import aubio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.audio.analyzer import Analyzer, OnsetDetector, hop_for_rate  # noqa: E402
from livecppn.audio.odf import BandFlux  # noqa: E402
from livecppn.audio.features import FeatureExtractor  # noqa: E402
from livecppn.audio.frame_clock import window_ending_at  # noqa: E402
from livecppn.audio.synth import synthetic_beat  # noqa: E402
from livecppn.audio.beatclock import BeatClock  # noqa: E402
from livecppn.audio.tracker import TempoTracker  # noqa: E402

RATE = 48000
FPS = 60
TOL = 0.020


# --- signals: (audio, true onset times, true beat times or None, true bpm or None) -----------------

def click_track(bpm: float, seconds: float, change_at: float | None = None, bpm2: float | None = None):
    """2 ms decaying noise bursts, accented downbeats (as the loopback test plays them)."""
    rng = np.random.default_rng(1)
    burst = rng.uniform(-1, 1, int(0.002 * RATE)) * np.exp(-np.linspace(0, 5, int(0.002 * RATE)))
    x = np.zeros(int(seconds * RATE), np.float32)
    times, t = [], 0.25
    while t < seconds + 2.0:  # beats past the end stay in the truth grid, for the clock's last frames
        times.append(t)
        t += 60.0 / (bpm2 if change_at is not None and t >= change_at - 1e-9 else bpm)
    for i, t in enumerate(times):
        start = int(round(t * RATE))
        if start + len(burst) <= len(x) and t < seconds - 0.1:
            x[start:start + len(burst)] += (0.8 if i % 4 == 0 else 0.5) * burst
    times = np.array(times)
    return x, times[times < seconds - 0.1], times


def signals(seconds: float) -> dict:
    rng = np.random.default_rng(7)
    out = {}
    for bpm in (90, 120, 128, 174):
        x, onsets, beats = click_track(bpm, seconds)
        out[f"clicks {bpm}"] = (x, onsets, beats, bpm)
    for bpm in (120, 90, 174):
        period = 60.0 / bpm
        beat = synthetic_beat(seconds, RATE, float(bpm))
        kicks = np.arange(0, seconds + 2, period)
        # Kicks, off-beat hats, and the click where the generator cuts each kick's tail off at
        # min(350 ms, 0.9 beat) (still ~0.09 of full scale there: an audible click every detector finds).
        onsets = np.sort(np.concatenate([kicks, kicks + period / 2, kicks + min(0.35, 0.9 * period)]))
        onsets = onsets[np.concatenate(([True], np.diff(onsets) > 0.03))]  # closer than 30 ms: one sound
        out[f"synthetic beat {bpm}"] = (beat, onsets[onsets < seconds - 0.05], kicks, bpm)
    beat, kicks = synthetic_beat(seconds, RATE, 120.0), np.arange(0, seconds + 2, 0.5)
    x, onsets, beats = click_track(120, 2 * seconds, change_at=8.0, bpm2=128)
    out["clicks 120->128 at 8 s"] = (x, onsets, beats, None)
    x, onsets, beats = click_track(120, seconds)
    t = np.arange(len(x)) / RATE
    pad = sum(0.06 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))  # A major, sustained
    noise = np.cumsum(rng.standard_normal(len(x))) * 0.002  # brown-ish rumble under the clicks
    noise -= np.convolve(noise, np.ones(4801) / 4801, mode="same")
    out["clicks 120 + pad + noise"] = ((x + pad + noise).astype(np.float32), onsets, beats, 120)
    out["white noise"] = ((0.3 * rng.standard_normal(int(seconds * RATE))).astype(np.float32), np.zeros(0), None,
                          None)
    quiet = np.float32(10 ** (-30 / 20))
    x, onsets, beats = click_track(120, seconds)
    out["clicks 120, -30 dB"] = (x * quiet, onsets, beats, 120)
    out["synthetic beat, -30 dB"] = (beat * quiet, out["synthetic beat 120"][1], kicks, 120)
    return out


# --- onsets ---------------------------------------------------------------------------------------

def aubio_onsets(x: np.ndarray, method: str):
    """(onset times, detection times, seconds per hop)."""
    hop = hop_for_rate(RATE)
    det = OnsetDetector(RATE, hop, method)
    found, said = [], []
    t0 = time.perf_counter()
    for i in range(0, len(x) - hop + 1, hop):
        lag = det(x[i:i + hop])
        if lag is not None:
            now = (i + hop) / RATE
            found.append(now - lag)
            said.append(now)
    cost = (time.perf_counter() - t0) / max(1, len(x) // hop)
    return np.array(found), np.array(said), cost


def kick_onsets(x: np.ndarray, rate_hz: float):
    """The seed's kick-band detector, a snapshot every 1/rate_hz s; an onset is a frame whose pulse is 1.0."""
    fe = FeatureExtractor(RATE)
    buf = np.empty(fe.config.window, dtype=np.float32)
    step = RATE / rate_hz
    found = []
    n = int(len(x) / step)
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        end = round(i * step)
        if fe.snapshot(window_ending_at(x, end, len(buf), out=buf), 1.0 / rate_hz).beat == 1.0:
            found.append(end / RATE)
    cost = (time.perf_counter() - t0) / n
    found = np.array(found)
    return found, found, cost * hop_for_rate(RATE) / step  # cost scaled to one hop's worth of audio


def score_onsets(found: np.ndarray, said: np.ndarray, truth: np.ndarray, seconds: float) -> dict:
    if len(truth) == 0:
        return {"per_second": round(len(found) / seconds, 2)}
    used, errors, latency = set(), [], []
    for t in truth:
        if len(found):
            j = int(np.argmin(np.abs(found - t)))
            if abs(found[j] - t) <= TOL and j not in used:
                used.add(j)
                errors.append(found[j] - t)
                latency.append(said[j] - t)
    tp = len(used)
    p, r = tp / max(1, len(found)), tp / len(truth)
    return {"precision": round(p, 3), "recall": round(r, 3), "f": round(2 * p * r / max(p + r, 1e-9), 3),
            "mean_ms": round(1000 * float(np.mean(errors)), 1) if errors else None,
            "max_ms": round(1000 * float(np.max(np.abs(errors))), 1) if errors else None,
            "latency_ms": round(1000 * float(np.median(latency)), 1) if latency else None}


# --- tempo ----------------------------------------------------------------------------------------

def fold(bpm: float, lo: float = 80.0, hi: float = 180.0) -> float:
    while 0 < bpm < lo:
        bpm *= 2
    while bpm > hi:
        bpm /= 2
    return bpm


def run_ours(x: np.ndarray):
    """Per frame (audio time, bpm, time the clock says the current beat began); seconds per hop of the
    tracker alone (its onset function, push, and the clock read once per frame)."""
    an = Analyzer(RATE)
    frames, pos = [], 0
    for n in range(1, int(len(x) / RATE * FPS) + 1):
        end = round(n * RATE / FPS)
        f = an.process(x[pos:end], 1.0 / FPS)
        pos = end
        beat = f.audio_time - f.beat_phase * 60.0 / f.bpm if f.bpm > 0 else None
        frames.append((f.audio_time, f.bpm, beat))
    hop = an.hop
    flux, tracker, clock = BandFlux(RATE, hop), TempoTracker(RATE / hop), BeatClock()
    hops = len(x) // hop
    t0 = time.perf_counter()
    for i in range(hops):
        value, low, loud = flux(x[i * hop:(i + 1) * hop])
        tracker.push(value, (i + 1) * hop / RATE, low, loud)
        if i % 3 == 0:
            clock.state((i + 1) * hop / RATE, tracker.grid)
    return frames, (time.perf_counter() - t0) / hops


def run_aubio_tempo(x: np.ndarray):
    hop = hop_for_rate(RATE)
    tracker = aubio.tempo("default", 4 * hop, hop, RATE)
    frames, last, next_frame, n = [], None, 1, 0
    t0 = time.perf_counter()
    for i in range(0, len(x) - hop + 1, hop):
        if tracker(x[i:i + hop])[0]:
            last = tracker.get_last_s()
        now = (i + hop) / RATE
        while next_frame / FPS <= now:
            next_frame += 1
            bpm = fold(tracker.get_bpm())
            beat = None
            if last is not None and bpm > 0:
                period = 60.0 / bpm
                beat = last + np.floor((now - last) / period) * period  # extend its last beat, as a clock would
            frames.append((now, bpm if last is not None else 0.0, beat))
        n += 1
    return frames, (time.perf_counter() - t0) / max(1, n)


def score_tempo(frames, beats, bpm_true, change_at=None, bpm2=None) -> dict:
    def truth_bpm(t):
        return bpm2 if change_at is not None and t >= change_at else bpm_true

    if beats is None:  # noise: any tempo is a false lock
        return {"false_lock_share": round(float(np.mean([b > 0 for _, b, _ in frames])), 3)}
    ok_from = None
    for t, bpm, beat in frames:
        good = bpm > 0 and abs(bpm - truth_bpm(t)) <= 1.0 and beat is not None \
            and np.min(np.abs(beats - beat)) < 0.030
        if good and ok_from is None:
            ok_from = t
        elif not good:
            ok_from = None
    late = [(t, bpm, beat) for t, bpm, beat in frames if t >= 6.0 and (change_at is None or t < change_at)]
    bpm_err = [abs(bpm - truth_bpm(t)) if bpm > 0 else np.inf for t, bpm, _ in late]
    phase = [np.min(np.abs(beats - beat)) if beat is not None else np.inf for _, _, beat in late]
    result = {"bpm_err_max": round(float(np.max(bpm_err)), 2),
              "phase_ms_p50": round(1000 * float(np.median(phase)), 1),
              "phase_ms_p90": round(1000 * float(np.percentile(phase, 90)), 1),
              "good_from_s": None if ok_from is None else round(ok_from, 2)}
    if change_at is not None:
        result["follows_change_after_s"] = None if ok_from is None else round(ok_from - change_at, 2)
    return result


# --- main -----------------------------------------------------------------------------------------

def fmt(v) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, (int, float)) else str(v)


def table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--only", default="", help="run the signals whose name contains this")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "eval_onsets.json")
    args = ap.parse_args()

    sigs = signals(args.seconds)
    onset_rows, tempo_rows = [], []
    for name, (x, onsets, beats, bpm) in sigs.items():
        if args.only and args.only not in name:
            continue
        seconds = len(x) / RATE
        detectors = {f"aubio {m}": (aubio_onsets, m) for m in ("specflux", "hfc", "complex", "energy")}
        detectors["kick-band @60fps"] = (kick_onsets, FPS)
        detectors["kick-band @hop"] = (kick_onsets, RATE / hop_for_rate(RATE))
        for det, (fn, arg) in detectors.items():
            found, said, cost = fn(x, arg)
            onset_rows.append({"signal": name, "detector": det, **score_onsets(found, said, onsets, seconds),
                               "us_per_hop": round(cost * 1e6, 1)})
        change = (8.0, 128) if "->" in name else (None, None)
        for tracker, fn in (("livecppn", run_ours), ("aubio.tempo", run_aubio_tempo)):
            frames, cost = fn(x)
            tempo_rows.append({"signal": name, "tracker": tracker,
                               **score_tempo(frames, beats, bpm or 120, *change), "us_per_hop": round(cost * 1e6, 1)})
        print(f"  {name}: done", file=sys.stderr)

    onset_cols = ["signal", "detector", "precision", "recall", "f", "mean_ms", "max_ms", "latency_ms", "per_second",
                  "us_per_hop"]
    tempo_cols = ["signal", "tracker", "bpm_err_max", "phase_ms_p50", "phase_ms_p90", "good_from_s",
                  "follows_change_after_s", "false_lock_share", "us_per_hop"]
    print("Onsets (±20 ms; mean/max timing error of matches; latency = when reported - when it sounded)")
    print(table(onset_rows, onset_cols))
    print("\nTempo (frames after 6 s; 'good' = within ±1 BPM and 30 ms of the true beat from then on)")
    print(table(tempo_rows, tempo_cols))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rate": RATE, "fps": FPS, "tolerance_s": TOL, "seconds": args.seconds,
                                    "onsets": onset_rows, "tempo": tempo_rows}, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
