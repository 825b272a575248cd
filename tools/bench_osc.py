"""Benchmark OSC control: latency from a packet leaving the client to the first frame that shows it, and a flood.

Full loop ("latency_live"): a real `livecppn live` (headless, the default
1280x720 show with its calibrated internal size, synthetic audio, in this
process) with a python-osc client sending brightness values at random moments
of the frame. Each sample runs from just before sendto() to the end of the
first frame (rendered, composited and swapped) whose control step took the
value; `frames` counts the frames that began after the send up to that one
(1: the next frame showed it; 0: the frame in progress picked it up before its
control step). Goal: within one frame.

Latency: a 60 fps loop steps a ParamBus (as the render thread does) while a
python-osc client sends a new brightness value at a random moment of the
frame; each sample is the time from just before sendto() to the end of the
first bus.step() whose snapshot holds the value. The bus here has no slew
(smoothing 0), so "shows" means "equals"; slew is a musical choice, not
latency. A second run steps every 0.5 ms ("floor"): what UDP, parsing and
the control queue cost without the wait for the next frame.

Flood: as many random and valid datagrams as the server takes for a few
seconds, while the 60 fps loop runs: datagrams handled per second and frames
kept, against an undisturbed run of the same length (from one sender, so most
are over its budget and dropped unread; --mode flood is the realistic flood).

Show under traffic (--mode flood, --mode touchdesigner): a real headless `livecppn live` (by default
the size tests/test_live_fuzz.py plays: 640x360 output, 128x72 internal, one torch thread, no HUD)
alternates calm windows and windows of traffic sent from another process (tools/osc_traffic.py),
--seconds each, --cycles times, and ends calm. The figure is the mean frame rate under traffic
against the mean of the calm windows of the same show; the CPU each of the show's threads used
under traffic is also given (from /proc: it holds on a busy machine, where frame rates wobble).
flood: hostile datagrams (--rate a second); touchdesigner: 60 bundles a second of 64
`/livecppn/param/<name>` floats. Goals: flood >= 50% of calm, touchdesigner >= 90%.

Usage: python tools/bench_osc.py [--mode latency|flood|touchdesigner] [--packets 300] [--flood-seconds 3]
       [--out out/bench_osc.json (latency), out/bench_osc_<mode>.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

from livecppn.control.osc import OscControl  # noqa: E402
from livecppn.control.params import ParamBus  # noqa: E402
from livecppn.control.registry import Registry, default_registry  # noqa: E402

REGISTRY = default_registry().params
from benchio import save  # noqa: E402


def message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


class Loop:
    """Steps the bus every `period` seconds and times the values that were waited for."""

    def __init__(self, bus: ParamBus, osc: OscControl, period: float):
        self.bus, self.osc, self.period = bus, osc, period
        self.pending: dict[float, float] = {}  # value -> perf_counter() when it was sent
        self.latencies: list[float] = []
        self.intervals: list[float] = []
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_t = last = time.perf_counter()
        while not self._stop.is_set():
            params = self.bus.step(self.period)
            self.osc.publish(params, None)
            now = time.perf_counter()
            sent = self.pending.pop(params.brightness, None)
            if sent is not None:
                self.latencies.append(now - sent)
            self.frames += 1
            self.intervals.append(now - last)
            last = now
            next_t += self.period
            if next_t > now:
                time.sleep(next_t - now)
            elif now - next_t > self.period:  # dropped frame, as with vsync
                next_t = now

    def __enter__(self) -> Loop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"n": len(ms), "mean_ms": statistics.fmean(ms), "p50_ms": ms[len(ms) // 2],
            "p99_ms": ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], "max_ms": ms[-1]}


def latency(period: float, packets: int, rng: random.Random) -> dict:
    specs = tuple(dataclasses.replace(s, smoothing=0.0) for s in REGISTRY)
    bus = ParamBus(Registry(specs, default_registry().triggers))
    with OscControl(bus, port=0) as osc, Loop(bus, osc, period) as loop:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(packets):
            deadline = time.perf_counter() + 1.0
            while loop.pending and time.perf_counter() < deadline:  # the previous value has landed
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 1 / 60))  # then a random moment of the frame
            value = 0.25 + (i % 256) / 256  # exact in float32, and different from the previous one
            dgram = message("/livecppn/param/brightness", value)
            loop.pending[value] = time.perf_counter()
            sock.sendto(dgram, ("127.0.0.1", osc.port))
        time.sleep(0.1)
        sock.close()
    return summary(loop.latencies) | {"lost": packets - len(loop.latencies)}


def live_latency(packets: int, rng: random.Random, size: tuple[int, int]) -> dict:
    """Through the whole live loop; see the module docstring. Ends the show with SIGTERM, as Ctrl-C would."""
    import os
    import signal

    from livecppn.live import LiveOptions, run_live

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    frames: list[tuple[float, float, bool]] = []  # (start, shown, took a brightness value)
    sends: list[float] = []
    taken = [0]  # frames that took a value so far (counted here, not re-summed in the client's wait loop)

    def on_frame(_i, start, shown, _params, changed):
        took = "brightness" in changed
        frames.append((start, shown, took))
        taken[0] += took

    def client():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while len(frames) < 30:  # past start-up
            time.sleep(0.01)
        period = (frames[-1][1] - frames[-11][1]) / 10
        for i in range(packets):
            before = taken[0]
            time.sleep(rng.uniform(0.0, period))  # a random moment of the frame
            sends.append(time.perf_counter())
            sock.sendto(message("/livecppn/param/brightness", 0.25 + (i % 256) / 256), ("127.0.0.1", port))
            deadline = time.perf_counter() + 2.0
            while taken[0] == before and time.perf_counter() < deadline:
                time.sleep(0.001)
        sock.close()
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    report = run_live(LiveOptions(headless=True, audio="synthetic", size=size, osc_port=port, on_frame=on_frame))
    thread.join()
    latencies, waited = [], []
    for sent in sends:
        hit = next((f for f in frames if f[2] and f[1] > sent), None)
        if hit is None:
            continue
        latencies.append(hit[1] - sent)
        waited.append(sum(1 for f in frames if sent <= f[0] <= hit[0]))
    intervals = [b[1] - a[1] for a, b in zip(frames, frames[1:])]
    frame_ms = statistics.median(intervals) * 1000
    return summary(latencies) | {
        "lost": len(sends) - len(latencies), "frame_ms": frame_ms, "fps": report["fps"],
        "internal": report["internal_resolution"], "output": report["output_resolution"],
        "frames_waited": {str(k): waited.count(k) for k in sorted(set(waited))},
        "within_one_frame": sum(1 for k in waited if k <= 1) / max(1, len(waited))}


def frames_for(seconds: float, flood: bool, rng: random.Random) -> dict:
    bus = ParamBus()
    garbage = [rng.randbytes(rng.randrange(1, 200)) for _ in range(200)]
    valid = [message(f"/livecppn/param/{s.name}", rng.uniform(s.minimum, s.maximum)) for s in REGISTRY for _ in range(20)]
    datagrams = garbage + valid + [message("/livecppn/param/zoom", "loud"), message("/nowhere", 1.0)] * 50
    with OscControl(bus, port=0) as osc, Loop(bus, osc, 1 / 60) as loop:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            if flood:
                for d in rng.sample(datagrams, 64):
                    sock.sendto(d, ("127.0.0.1", osc.port))
                sent += 64
                while osc.stats["received"] < sent - 256 and time.perf_counter() < end:  # don't overflow the kernel
                    time.sleep(0.0002)
            else:
                time.sleep(0.01)
        sock.close()
        handled = osc.stats["received"]
    return {"frames": loop.frames, "seconds": seconds, "datagrams_handled": handled,
            "datagrams_per_s": handled / seconds, "frame_interval": summary(loop.intervals[1:])}


def window_fps(shown: list[float], start: float, end: float) -> float:
    return sum(1 for t in shown if start <= t < end) / (end - start)


def thread_cpu() -> dict[str, float]:
    """CPU seconds each thread of this process has used, by thread name (Linux: /proc; else empty)."""
    out = {}
    for t in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[t.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return out


def traffic_window(mode: str, port: int, args, values: dict) -> tuple[tuple[float, float], dict, dict]:
    """Send for --seconds from another process; (the measured span, the sender's summary, CPU by thread)."""
    cmd = [sys.executable, str(ROOT / "tools" / "osc_traffic.py"), "--mode", mode, "--port", str(port),
           "--seconds", str(args.seconds + 0.5), "--rate", str(args.rate), "--values", json.dumps(values)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # "sending"
    time.sleep(0.5)  # the traffic builds up: not measured
    t, cpu = time.perf_counter(), thread_cpu()
    sent = json.loads(proc.stdout.readline())
    proc.wait()
    cpu_after = thread_cpu()
    return (t, time.perf_counter()), sent, {k: v - cpu.get(k, 0.0) for k, v in cpu_after.items()}


def show_under_traffic(mode: str, args) -> dict:
    """--cycles of (calm, traffic) and a last calm window, in one headless show; see the module docstring.

    Calm and traffic alternate, so that a machine whose other load drifts (a shared one) weighs on both
    alike. Ends the show with SIGTERM."""
    from livecppn.live import LiveOptions, run_live

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = {s.name: s.default for s in REGISTRY} | {"autopilot": 0.0}  # no autopilot moves mid-measurement
    shown: list[float] = []
    latest = {}
    calm: list[tuple[float, float]] = []
    traffic: list[tuple[float, float]] = []
    senders: list[dict] = []
    cpu: dict[str, float] = {}
    changed: set[str] = set()

    def calm_window():
        t = time.perf_counter()
        time.sleep(args.seconds)
        calm.append((t, time.perf_counter()))

    def conductor():
        while len(shown) < 30 or shown[-1] - shown[0] < 2.0:  # start-up and calibration are not measured
            time.sleep(0.05)
        for _ in range(args.cycles):
            calm_window()
            before = dict(latest["params"].values)
            span, sent, used = traffic_window(mode, port, args, base)
            traffic.append(span)
            senders.append(sent)
            for name, seconds in used.items():
                cpu[name] = cpu.get(name, 0.0) + seconds
            time.sleep(0.5)  # what the server still holds lands
            after = dict(latest["params"].values)
            changed.update(k for k in before if abs(after[k] - before[k]) > 1e-6)
        calm_window()
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=conductor, daemon=True)
    thread.start()
    w, h = (int(v) for v in args.show_size.split("x"))
    iw, ih = (int(v) for v in args.internal.split("x"))
    load = os.getloadavg()
    report = run_live(LiveOptions(headless=True, audio="synthetic", size=(w, h), internal=(iw, ih), threads=1,
                                  hud=False, osc_port=port, initial=base, on_frame=on_frame_of(shown, latest)))
    thread.join()
    sent = {k: sum(s[k] for s in senders) for k in ("sent", "failed", "bytes", "cpu_s", "seconds")}
    return traffic_summary(mode, args, shown, calm, traffic, cpu) | {
        "sender": sent | {"per_s": sent["sent"] / sent["seconds"], "values_changed": sorted(changed)},
        "osc": report["controls"].get("osc", {}), "internal": report["internal_resolution"],
        "output": report["output_resolution"], "backend": report["backend"],
        "loadavg_before": load, "loadavg_after": os.getloadavg()}


def traffic_summary(mode: str, args, shown: list[float], calm: list, traffic: list, cpu: dict) -> dict:
    calm_fps = [window_fps(shown, *span) for span in calm]
    traffic_fps = [window_fps(shown, *span) for span in traffic]
    calm_mean, traffic_mean = statistics.fmean(calm_fps), statistics.fmean(traffic_fps)
    traffic_s = sum(b - a for a, b in traffic)
    return {"mode": mode, "calm_fps": calm_mean, "traffic_fps": traffic_mean, "kept": traffic_mean / calm_mean,
            "windows": {"calm_fps": calm_fps, "traffic_fps": traffic_fps, "seconds": args.seconds},
            # CPU a second of traffic, by thread: the show's threads (MainThread renders, livecppn-osc serves)
            "cpu_share_in_traffic": {k: v / traffic_s for k, v in sorted(cpu.items()) if v > 0}}


def on_frame_of(shown: list, latest: dict):
    def on_frame(_i, _start, end, params, _changed):  # render thread: append and return
        shown.append(end)
        latest["params"] = params
    return on_frame


def print_traffic(r: dict) -> None:
    s, osc, win = r["sender"], r["osc"], r["windows"]
    print(f"{r['mode']:>14}: {r['traffic_fps']:.1f} fps under traffic vs {r['calm_fps']:.1f} calm: "
          f"{100 * r['kept']:.1f}% kept; {r['backend']} {r['internal'][0]}x{r['internal'][1]} -> "
          f"{r['output'][0]}x{r['output'][1]}; load average {r['loadavg_before'][0]:.1f} -> "
          f"{r['loadavg_after'][0]:.1f}")
    print(f"{'':>14}  windows of {win['seconds']:g} s: calm " + " ".join(f"{v:.1f}" for v in win["calm_fps"])
          + ", traffic " + " ".join(f"{v:.1f}" for v in win["traffic_fps"]))
    print(f"{'':>14}  CPU under traffic, by thread: "
          + ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["cpu_share_in_traffic"].items() if v >= 0.005))
    print(f"{'':>14}  sent {s['sent']} datagrams ({s['per_s']:.0f}/s, {s['failed']} failed; the sender used "
          f"{100 * s['cpu_s'] / s['seconds']:.0f}% of a core), values changed: {s['values_changed'] or 'none'}")
    print(f"{'':>14}  osc stats: " + ", ".join(f"{k} {v}" for k, v in osc.items() if v))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("latency", "flood", "touchdesigner"), default="latency")
    ap.add_argument("--seconds", type=float, default=4.0, help="flood, touchdesigner: each window's length")
    ap.add_argument("--cycles", type=int, default=3, help="flood, touchdesigner: calm + traffic windows")
    ap.add_argument("--rate", type=float, default=4700.0, help="flood: hostile datagrams a second")
    ap.add_argument("--show-size", default="640x360", help="flood, touchdesigner: the show's output size")
    ap.add_argument("--internal", default="128x72", help="flood, touchdesigner: the show's internal size")
    ap.add_argument("--packets", type=int, default=300)
    ap.add_argument("--flood-seconds", type=float, default=3.0)
    ap.add_argument("--live-packets", type=int, default=150, help="samples through the full live loop")
    ap.add_argument("--size", default="1280x720", help="the live loop's output size")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rng = random.Random(7)
    if args.mode != "latency":
        result = show_under_traffic(args.mode, args)
        print_traffic(result)
        save(args.out or ROOT / "out" / f"bench_osc_{args.mode}.json", result)
        return 0

    w, h = (int(v) for v in args.size.split("x"))
    result = {"latency_live": live_latency(args.live_packets, rng, (w, h)),
              "latency_60fps": latency(1 / 60, args.packets, rng), "latency_floor": latency(0.0005, args.packets, rng)}
    quiet, flooded = frames_for(args.flood_seconds, False, rng), frames_for(args.flood_seconds, True, rng)
    result["flood"] = {"undisturbed": quiet, "flooded": flooded, "frames_kept": flooded["frames"] / quiet["frames"]}

    r = result["latency_live"]
    print(f"  latency_live: n={r['n']} at {r['fps']:.1f} fps ({r['frame_ms']:.1f} ms frames, internal "
          f"{r['internal'][0]}x{r['internal'][1]}, output {r['output'][0]}x{r['output'][1]}): mean {r['mean_ms']:.1f} ms, "
          f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; frames waited "
          f"{r['frames_waited']}; within one frame {100 * r['within_one_frame']:.1f}%, lost {r['lost']}")
    for name in ("latency_60fps", "latency_floor"):
        r = result[name]
        print(f"{name:>14}: n={r['n']} mean {r['mean_ms']:.2f} ms, p50 {r['p50_ms']:.2f} ms, "
              f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms, lost {r['lost']}")
    f = result["flood"]
    print(f"{'flood':>14}: {f['flooded']['datagrams_per_s']:.0f} datagrams/s handled; frames {f['flooded']['frames']} "
          f"vs {f['undisturbed']['frames']} undisturbed ({100 * f['frames_kept']:.1f}%); frame interval p99 "
          f"{f['flooded']['frame_interval']['p99_ms']:.1f} ms (undisturbed "
          f"{f['undisturbed']['frame_interval']['p99_ms']:.1f} ms)")
    save(args.out or ROOT / "out" / "bench_osc.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
