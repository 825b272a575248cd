"""Benchmark what output taps cost the show: frame time with no taps, NDI, recording, and both, side by side.

Each configuration is a headless show on the synthetic beat, vsync off, at a fixed internal size (the
CPPN's cost is the same in all), for --frames frames, at each --sizes output size; the configurations
alternate within each round so a busy machine affects all alike. NDI has a real receiver in this
process reading every frame (by address, 127.0.0.1:5961). Reported per configuration: median fps, the
frame time (mean, p50, p99), the taps' time on the render thread (`outputs_ms`: the readback and the
hand-over, what a tap costs the show itself), and what NDI and the recorder sent and dropped. The
issue's target: each tap at most 5 % of the frame here, at most 0.5 ms on the render thread on a GPU.

NDI discovers over multicast: the script runs itself inside tools/netns.sh (a private network
namespace, loopback only) when it is not in one already. Usage:
  python tools/bench_outputs.py [--sizes 640x360,1280x720] [--internal 160x90] [--frames 300] [--rounds 2]
                                [--out out/bench_outputs.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "rig"))

from private_net import in_private_namespace  # noqa: E402

CONFIGS = ("none", "ndi", "record", "ndi+record")


class Receiver(threading.Thread):
    """An NDI receiver that reads every frame, as Resolume or OBS would."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.frames = 0

    def run(self) -> None:
        import NDIlib as ndi

        create = ndi.RecvCreateV3()
        create.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
        recv = ndi.recv_create_v3(create)
        src = ndi.Source()
        src.ndi_name, src.url_address = "", "127.0.0.1:5961"
        ndi.recv_connect(recv, src)
        while not self.done.is_set():
            kind, video, _, _ = ndi.recv_capture_v2(recv, 100)
            if kind == ndi.FRAME_TYPE_VIDEO:
                self.frames += 1
                ndi.recv_free_video_v2(recv, video)
        ndi.recv_destroy(recv)


def show(config: str, size, internal, frames: int, tmp: Path, receive: bool = True) -> dict:
    from livecppn.live import LiveOptions, run_live
    from livecppn.show.outputs.taps import TapConfig

    receiver = None
    if "ndi" in config and receive:
        receiver = Receiver()
        threading.Timer(0.5, receiver.start).start()  # once the sender exists
    report = run_live(LiveOptions(audio="synthetic", size=size, internal=internal, headless=True, frames=frames,
                                  vsync=False, hud=False, osc_port=None,
                                  record=tmp / f"{config}-{time.monotonic_ns()}.mp4" if "record" in config else None,
                                  outputs={"ndi": TapConfig("livecppn-bench")} if "ndi" in config else {}))
    if receiver is not None:
        time.sleep(0.6)
        receiver.done.set()
        receiver.join(timeout=5)
    out = report["outputs"]
    return {"fps": report["fps"], "frame_ms": report["frame_ms"], "outputs_ms": report["outputs_ms"],
            "ndi": out.get("ndi"), "record": out.get("record"),
            "ndi_received": receiver.frames if receiver else None}


def main() -> int:
    from benchio import save

    from livecppn.cli import parse_size

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="640x360,1280x720")
    ap.add_argument("--internal", type=parse_size, default=(160, 90))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"some of {','.join(CONFIGS)}")
    ap.add_argument("--no-receiver", dest="receive", action="store_false",
                    help="no NDI receiver in this process (its decoding shares this machine's CPU with the show)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_outputs.json")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        show("none", sizes[0], args.internal, 30, Path(tmp))  # warm-up: shader compiles, first allocations
        for size in sizes:
            runs = {c: [] for c in args.configs.split(",")}
            for i in range(args.rounds):
                for config in runs:
                    runs[config].append(show(config, size, args.internal, args.frames, Path(tmp), args.receive))
                    r = runs[config][-1]
                    print(f"{size[0]}x{size[1]} round {i} {config:10s} {r['fps']:6.1f} fps  frame p50 "
                          f"{r['frame_ms']['p50']:6.2f} ms  taps p50 {r['outputs_ms']['p50']:.3f} ms", flush=True)
            results[f"{size[0]}x{size[1]}"] = runs
    table, doc = [], {"internal": list(args.internal), "frames": args.frames, "rounds": args.rounds,
                      "ndi_receiver": args.receive, "runs": results}
    summary = {}
    for size, runs in results.items():
        base = statistics.median(r["frame_ms"]["mean"] for r in runs.get("none", next(iter(runs.values()))))
        for config, rs in runs.items():
            frame = statistics.median(r["frame_ms"]["mean"] for r in rs)
            taps = statistics.median(r["outputs_ms"]["mean"] for r in rs)
            taps_p99 = statistics.median(r["outputs_ms"]["p99"] for r in rs)
            summary[f"{size} {config}"] = s = {
                "fps": statistics.median(r["fps"] for r in rs), "frame_ms_mean": round(frame, 3),
                "vs_none_pct": round(100 * (frame / base - 1), 1), "outputs_ms_mean": round(taps, 3),
                "outputs_ms_p99": round(taps_p99, 3), "outputs_pct_of_frame": round(100 * taps / frame, 1)}
            table.append(f"| {size} | {config} | {s['fps']:.1f} | {frame:.2f} | {s['vs_none_pct']:+.1f} % | "
                         f"{taps:.3f} / {taps_p99:.3f} | {s['outputs_pct_of_frame']:.1f} % |")
    doc["summary"] = summary
    print("| output | taps | fps | frame ms (mean) | vs none | taps on the render thread ms (mean / p99) "
          "| taps' share of the frame |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(table))
    save(args.out, doc)
    return 0


if __name__ == "__main__":
    if not in_private_namespace():  # NDI's discovery must not leave the machine
        os.execv(str(ROOT / "tools" / "netns.sh"), [str(ROOT / "tools" / "netns.sh"), sys.executable, *sys.argv])
    raise SystemExit(main())
