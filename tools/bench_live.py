"""Benchmark the live loop headless: fps and frame times per output size and backend.

Runs `livecppn live --headless` in-process (the same loop a show runs) with the
synthetic beat, prints a table and writes JSON. Timings belong here, not in tests.
Usage: python tools/bench_live.py [--frames 300] [--sizes 640x360,1280x720] [--out out/bench_live.json]

`--change-every S` plays a style change every S seconds the way a performer (or
the autopilot) does: a real `load <slot>` through the show's OSC port (stepping
through the bank's slots), then `go` one second later (the style has arrived by
then; the fade starts on the next beat and takes transition_time). It reports
the frames within ±0.5 s of each trigger: their p99 and max, and the worst one
over the median frame of the same kind (one deck shown, or two while a fade
shows both: a transition costs a second CPPN for as long as it runs, which is
its price, not a hitch; a hitch is a frame over the steady cost of its kind).
Each frame's render-thread CPU time is reported beside its wall time: on a busy
machine the wall time is mostly waiting for a core, and with `--threads 1` the
CPU time is all of the frame's work. Python's garbage collections during the
run are counted (and the longest timed) per generation.
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.cli import param_value, parse_size  # noqa: E402
from livecppn.live import LiveOptions, run_live  # noqa: E402
from livecppn.show.status import percentiles  # noqa: E402
from benchio import save  # noqa: E402

WINDOW_S = 0.5  # frames this close to a trigger count as the change's frames
GO_AFTER_S = 1.0  # the `go` follows its `load` by this long


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Changer:
    """Sends `load <slot>` then `go` through the show's OSC port every `every` seconds; called from the
    show's on_frame hook (the render thread: a UDP send, no waiting) and records each frame's time."""

    def __init__(self, port: int, every: float, slots: list[int]):
        from pythonosc.udp_client import SimpleUDPClient

        self.client, self.every, self.slots = SimpleUDPClient("127.0.0.1", port), every, slots
        self.frames: list[tuple[float, float, bool, float]] = []  # (start, ms, two decks shown, cpu ms)
        self._cpu = None  # the render thread's CPU clock at the previous frame's end
        self.sent: list[tuple[float, str]] = []  # (perf_counter, "load N" | "go")
        self._next: float | None = None
        self._go_at: float | None = None

    def on_frame(self, index: int, start: float, end: float, params, changed) -> None:
        x = params.crossfader
        cpu = time.thread_time()
        cpu_ms = (cpu - self._cpu) * 1000 if self._cpu is not None else float("nan")
        self._cpu = cpu
        self.frames.append((start, (end - start) * 1000, 1e-4 < x < 1 - 1e-4, cpu_ms))
        now = time.perf_counter()
        if self._next is None:
            self._next = now + self.every
        if self._go_at is not None and now >= self._go_at:
            self.client.send_message("/livecppn/trigger/go", 1)
            self.sent.append((now, "go"))
            self._go_at = None
        if self.every > 0 and now >= self._next:
            slot = self.slots[sum(1 for _, s in self.sent if s != "go") % len(self.slots)]
            self.client.send_message("/livecppn/trigger/load", slot)
            self.sent.append((now, f"load {slot}"))
            self._next, self._go_at = now + self.every, now + GO_AFTER_S

    def report(self) -> dict:
        t = np.array([f[0] for f in self.frames])
        ms = np.array([f[1] for f in self.frames])
        two = np.array([f[2] for f in self.frames], bool)
        cpu = np.array([f[3] for f in self.frames])
        cpu[0] = np.nanmedian(cpu)
        med1 = float(np.median(ms[~two])) if (~two).any() else 0.0
        med2 = float(np.median(ms[two])) if two.any() else med1
        near = np.zeros(len(ms), bool)
        for when, _ in self.sent:
            near |= np.abs(t - when) <= WINDOW_S
        kind_median = np.where(two, med2, med1)
        ratio = ms / kind_median
        worst = int(np.argmax(np.where(near, ratio, 0))) if near.any() else None  # over its own kind's median
        return {
            "change_every_s": self.every, "changes": sum(1 for _, s in self.sent if s != "go"),
            "triggers": [[round(w - t[0], 3), s] for w, s in self.sent],
            "median_ms": round(float(np.median(ms)), 3),
            "median_one_deck_ms": round(med1, 3), "median_two_decks_ms": round(med2, 3),
            "two_deck_frames": int(two.sum()),
            "change_frames": int(near.sum()),
            "change_ms": percentiles(ms[near]),
            "worst_change_ratio": round(float(ratio[worst]), 3) if worst is not None else None,
            "worst_change_ratio_to_median": round(float(ms[near].max() / np.median(ms)), 3) if near.any() else None,
            "worst_change_frame": ({"at_s": round(float(t[worst] - t[0]), 3), "ms": round(float(ms[worst]), 3),
                                    "two_decks": bool(two[worst])} if worst is not None else None),
            "other_ms": percentiles(ms[~near]),  # frames away from any change: the show's own spikes
            "cpu_median_ms": round(float(np.median(cpu)), 3),
            "cpu_median_one_deck_ms": round(float(np.median(cpu[~two])), 3) if (~two).any() else None,
            "cpu_median_two_decks_ms": round(float(np.median(cpu[two])), 3) if two.any() else None,
            "cpu_change_ms": percentiles(cpu[near]),
            "cpu_worst_change_ratio_to_median": round(float(cpu[near].max() / np.median(cpu)), 3) if near.any() else None,
            "cpu_worst_change_ratio": self._worst_of_kind(cpu, two, near),
        }

    @staticmethod
    def _worst_of_kind(ms: np.ndarray, two: np.ndarray, near: np.ndarray) -> float | None:
        """The worst change frame over the median frame of its own kind (one deck or two)."""
        if not near.any():
            return None
        kind = np.where(two, np.median(ms[two]) if two.any() else np.median(ms), np.median(ms[~two]))
        return round(float((ms / kind)[near].max()), 3)


class GcTimes:
    """Python's garbage collections while the show runs: count and longest per generation (gc.callbacks)."""

    def __init__(self):
        self.times: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}  # (when, ms)
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.times[info["generation"]].append((self._t0, (time.perf_counter() - self._t0) * 1000))

    def report(self, since: float = 0.0) -> dict:
        """Collections from `since` on (perf_counter; the first frame: start-up's are not the show's)."""
        out = {}
        for g, v in self.times.items():
            ms = [m for t, m in v if t >= since]
            out[f"gen{g}"] = {"count": len(ms), "max_ms": round(max(ms), 3) if ms else 0.0}
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080", help="output sizes, comma-separated")
    ap.add_argument("--internal", type=parse_size, help="fixed internal size (default: auto, as live)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--style", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_live.json")
    ap.add_argument("--set", action="append", default=[], type=param_value, metavar="NAME=VALUE",
                    help="start with a parameter at a value, as `livecppn live --set` (e.g. the post effects)")
    ap.add_argument("--change-every", type=float, default=0.0, metavar="S",
                    help="a `load <slot>` + `go` through OSC every S seconds; reports the frames around them")
    ap.add_argument("--slots", default="1-16", help="bank slots the changes step through (e.g. 2-16 or 3,5,7)")
    ap.add_argument("--threads", type=int, help="torch threads (as `livecppn live --threads`)")
    args = ap.parse_args()
    slots = [n for part in args.slots.split(",") for n in
             (range(int(part.split("-")[0]), int(part.split("-")[1]) + 1) if "-" in part else [int(part)])]

    results = []
    for size in (parse_size(s) for s in args.sizes.split(",")):
        port = free_udp_port()
        changer = Changer(port, args.change_every, slots) if args.change_every > 0 else None
        gc_times = GcTimes()
        gc.callbacks.append(gc_times)
        try:
            report = run_live(LiveOptions(style=args.style, audio="synthetic", size=size, headless=True,
                                          initial=dict(args.set), osc_port=port, threads=args.threads,
                                          on_frame=changer.on_frame if changer else None,
                                          frames=args.frames, backend=args.backend, internal=args.internal))
        finally:
            gc.callbacks.remove(gc_times)
        results.append({"output": list(size), **{k: report[k] for k in (
            "backend", "device", "dtype", "internal_resolution", "fps", "frame_ms", "cppn_ms", "calibration",
            "gl", "torch_threads")}, "gc": gc_times.report(changer.frames[0][0] if changer and changer.frames else 0.0), **({"changes": changer.report()} if changer else {})})

    print(f"{'output':>10} {'backend':>7} {'internal':>9} {'fps':>6} {'frame p50':>9} {'p99':>7} "
          f"{'cppn p50':>8} {'p99':>7}" + (f" {'changes':>7} {'chg p99':>8} {'chg max':>8} {'worst/med':>9} "
                                         f"{'2-deck p50':>10} {'cpu p50':>8} {'chg max':>8} {'worst/med':>9}"
                                         if args.change_every > 0 else ""))
    for r in results:
        f, c = r["frame_ms"], r["cppn_ms"]
        line = (f"{'x'.join(map(str, r['output'])):>10} {r['backend']:>7} "
                f"{'x'.join(map(str, r['internal_resolution'])):>9} {r['fps']:>6.1f} {f['p50']:>7.1f}ms "
                f"{f['p99']:>5.1f}ms {c['p50']:>6.1f}ms {c['p99']:>5.1f}ms")
        if "changes" in r:
            ch = r["changes"]
            line += (f" {ch['changes']:>7} {ch['change_ms']['p99']:>6.1f}ms {ch['change_ms']['max']:>6.1f}ms "
                     f"{ch['worst_change_ratio_to_median'] or 0:>8.2f}x {ch['median_two_decks_ms']:>8.1f}ms "
                     f"{ch['cpu_median_ms']:>6.1f}ms {ch['cpu_change_ms']['max']:>6.1f}ms "
                     f"{ch['cpu_worst_change_ratio_to_median'] or 0:>8.2f}x")
        print(line)
    for r in (r for r in results if "changes" in r):
        ch = r["changes"]
        print(f"{'x'.join(map(str, r['output'])):>10} worst change frame over the median of its kind (one deck "
              f"{ch['median_one_deck_ms']:.1f} ms, two {ch['median_two_decks_ms']:.1f} ms): wall "
              f"{ch['worst_change_ratio'] or 0:.2f}x, render-thread cpu {ch['cpu_worst_change_ratio'] or 0:.2f}x")
    for r in results:
        print(f"{'x'.join(map(str, r['output'])):>10} gc: " + "  ".join(
            f"{g} {v['count']}x max {v['max_ms']:.1f}ms" for g, v in r["gc"].items()))
    save(args.out, {"frames": args.frames, "change_every": args.change_every, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
