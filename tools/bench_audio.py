"""Benchmark the audio path: analysis cost per frame and latency per capture block size.

1. Analysis cost: the live `Analyzer.update` on a ring fed like a capture
   device (the synthetic beat, in blocks), called at 60 fps; mean and p99 per call.
2. Latency, as the issue defines it: a sound waits up to one capture block to be
   delivered, then the next snapshot analyses it. Model = block duration + p99
   analysis cost, for 128/256/512-sample blocks at 48 kHz.
3. Measured end to end through a real sound server (when PulseAudio is
   reachable): a click played into the null sink with PortAudio, captured from
   its monitor by a DeviceSource, polled with `Analyzer.update` every ~0.5 ms;
   the time from writing the click to the snapshot that shows its onset. This
   includes the server's playback and capture buffers, which no block size can
   remove, so it is reported beside the model, not instead of it.

Prints a table and writes JSON. Usage: python tools/bench_audio.py [--seconds 10] [--out out/bench_audio.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.audio.analyzer import Analyzer  # noqa: E402
from livecppn.audio.ring import RingBuffer  # noqa: E402
from livecppn.audio.synth import synthetic_beat  # noqa: E402
from benchio import save  # noqa: E402

RATE = 48000
BLOCKS = (128, 256, 512)


def stats(values_ms) -> dict:
    a = np.asarray(values_ms)
    return {"mean": round(float(a.mean()), 4), "p50": round(float(np.percentile(a, 50)), 4),
            "p99": round(float(np.percentile(a, 99)), 4), "max": round(float(a.max()), 4)}


def analysis_cost(seconds: float, block: int, fps: float = 60.0) -> dict:
    """Cost of one Analyzer.update per frame while blocks of `block` samples arrive."""
    signal = synthetic_beat(seconds, RATE)
    ring = RingBuffer(4 * RATE, 1)
    analyzer = Analyzer(RATE)
    costs = []
    written = 0
    for n in range(1, int(seconds * fps)):
        due = int(n / fps * RATE) // block * block  # whole blocks delivered by this frame
        while written < due:
            ring.write(signal[written:written + block])
            written += block
        t0 = time.perf_counter()
        analyzer.update(ring, 1.0 / fps)
        costs.append((time.perf_counter() - t0) * 1000)
    return stats(costs[int(fps):])  # the first second warms caches and the tracker


def pulse_reachable() -> bool:
    try:
        return subprocess.run(["pactl", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def end_to_end(block: int, clicks: int = 12) -> dict | None:
    """Click into the default sink, capture its monitor, time write → onset in a snapshot."""
    if not pulse_reachable():
        return None
    import pyaudio

    from livecppn.audio.sources import open_source

    source = open_source("loopback", block=block)
    pa = pyaudio.PyAudio()
    out = pa.open(format=pyaudio.paFloat32, channels=1, rate=RATE, output=True, frames_per_buffer=block)
    click = np.zeros(block, np.float32)
    click[:48] = 0.8 * np.hanning(96)[48:] * np.sign(np.sin(np.arange(48)))  # a 1 ms click
    silence = np.zeros(block, np.float32)
    delays = []
    try:
        source.start()
        analyzer = Analyzer(source.sample_rate)
        last = time.perf_counter()
        for _ in range(clicks):
            # half a second of silence so the onset function settles, then the click
            for _ in range(int(0.5 * RATE / block)):
                out.write(silence.tobytes())
                now = time.perf_counter()
                analyzer.update(source.ring, now - last)
                last = now
            n_onsets = len(analyzer.onsets)
            t_click = time.perf_counter()
            out.write(click.tobytes())
            while time.perf_counter() - t_click < 0.5:
                now = time.perf_counter()
                analyzer.update(source.ring, max(now - last, 1e-4))
                last = now
                if len(analyzer.onsets) > n_onsets:
                    delays.append((time.perf_counter() - t_click) * 1000)
                    break
                if out.get_write_available() >= block:  # keep the player fed: an underrun would eat the click
                    out.write(silence.tobytes())
                time.sleep(0.0005)  # poll far faster than any frame rate: measure the audio path, not the loop
    finally:
        out.close()
        pa.terminate()
        source.stop()
    return {"clicks": clicks, "detected": len(delays), **(stats(delays) if delays else {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end PulseAudio measurement")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_audio.json")
    args = ap.parse_args()

    rows = []
    for block in BLOCKS:
        cost = analysis_cost(args.seconds, block)
        block_ms = block / RATE * 1000
        row = {"block": block, "block_ms": round(block_ms, 3), "analysis_ms": cost,
               "latency_model_ms": round(block_ms + cost["p99"], 3)}
        if not args.no_e2e:
            row["end_to_end_ms"] = end_to_end(block)
        rows.append(row)

    print(f"{'block':>6} {'block ms':>8} {'analysis mean':>13} {'p99':>7} {'latency (model)':>15} "
          f"{'e2e via PulseAudio p50':>22} {'p99':>7}")
    for r in rows:
        a, e = r["analysis_ms"], r.get("end_to_end_ms")
        e2e = (f"{e['p50']:>19.1f} ms {e['p99']:>5.1f} ms ({e['detected']}/{e['clicks']})"
               if e and e.get("detected") else f"{'n/a':>22}")
        print(f"{r['block']:>6} {r['block_ms']:>8.2f} {a['mean']:>10.3f} ms {a['p99']:>5.3f} "
              f"{r['latency_model_ms']:>12.2f} ms {e2e}")
    save(args.out, {"rate": RATE, "seconds": args.seconds, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
