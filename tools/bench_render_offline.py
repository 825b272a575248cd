"""Benchmark `livecppn render` (offline, frame clock) beside a plain eager fp32 per-frame renderer.

For each size, the same track (the built-in synthetic beat) is rendered twice, to H.264 MP4s with the
track's audio, with the same encoder settings:
- livecppn: `render_file` (the live path's analyser, decks, generator, compositor; fp16 on cuda,
  fp32 with the cached first layer on cpu), reading each frame back from GL;
- eager: the original offline renderer's way: per frame the analyser's features, `CPPN.forward` in
  fp32 over every pixel (coordinates and features concatenated per pixel), to uint8, encoded.
Prints frames per second, × real time (rendered seconds of video per second) and the ratio, and
writes JSON. Usage:
  python tools/bench_render_offline.py [--seconds 4] [--fps 30] [--sizes 640x360,1280x720] [--out out/bench_render_offline.json]
Default sizes: 640x360,1280x720 on cpu; 1920x1080,3840x2160 as well where CUDA is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livecppn.audio.analyzer import Analyzer  # noqa: E402
from livecppn.offline.gallery import write_beat  # noqa: E402
from livecppn.cli import parse_size  # noqa: E402
from livecppn.model.cppn import coordinate_grid  # noqa: E402
from livecppn.model.style import load_style  # noqa: E402
from livecppn.media.encode import EncodeOptions, VideoWriter  # noqa: E402
from livecppn.offline.render import RenderOptions, render_file  # noqa: E402
from livecppn.paths import default_style_path  # noqa: E402
from benchio import save  # noqa: E402



def eager(track: Path, out: Path, size: tuple[int, int], fps: float, encode: EncodeOptions, device) -> dict:
    """Per frame: features, fp32 forward over every pixel, uint8, encode; audio muxed as the render does."""
    from livecppn.audio.decode import load_audio

    mono, rate = load_audio(track)
    model = load_style(default_style_path()).build_model().to(device, torch.float32)
    w, h = size
    coords = coordinate_grid(w, h, model.config.use_radius).to(device)
    analyzer = Analyzer(rate)
    writer = VideoWriter(out, size, fps, audio_rate=rate, audio_channels=1, options=encode)
    n_frames = round(len(mono) / rate * fps)
    t0 = time.perf_counter()
    pos = apos = 0
    with torch.inference_mode():
        for n in range(n_frames):
            end = round(n * rate / fps)
            features = analyzer.process(mono[pos:end], 1.0 / fps)
            pos = end
            rgb = model(coords, (n + 1) / fps, torch.as_tensor(features.vector()))  # (H*W, 3)
            frame = (rgb * 255).to(torch.uint8).reshape(h, w, 3).cpu().numpy()
            writer.write(frame)
            aend = min(len(mono), round((n + 1) * rate / fps))
            writer.write_audio(mono[apos:aend])
            apos = aend
    writer.close()
    elapsed = time.perf_counter() - t0
    return {"frames": n_frames, "seconds": round(elapsed, 3), "render_fps": round(n_frames / elapsed, 3),
            "realtime": round(n_frames / fps / elapsed, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="track length (default 4 s)")
    ap.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30)")
    ap.add_argument("--sizes", help="comma-separated WxH (default: see the module docstring)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_render_offline.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    sizes = args.sizes or ("640x360,1280x720,1920x1080,3840x2160" if cuda else "640x360,1280x720")
    encode = EncodeOptions(codec="libx264", crf=18, preset="veryfast")  # the same encoder for both
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        track = write_beat(Path(tmp) / "beat.wav", args.seconds)  # the built-in beat, 48 kHz
        print(f"{'size':>10} {'livecppn fps':>12} {'x real time':>11} {'eager fps':>9} {'x real time':>11} "
              f"{'ratio':>6}", flush=True)
        for text in sizes.split(","):
            size = parse_size(text)
            ours = render_file(RenderOptions(track, Path(tmp) / "ours.mp4", size=size, fps=args.fps,
                                             encode=encode, progress=False))
            ours.pop("events")
            base = eager(track, Path(tmp) / "eager.mp4", size, args.fps, encode, device)
            row = {"size": list(size), "livecppn": ours, "eager_fp32": base,
                   "ratio": round(ours["render_fps"] / base["render_fps"], 2)}
            rows.append(row)
            print(f"{text:>10} {ours['render_fps']:>12.2f} {ours['realtime']:>10.3f}x {base['render_fps']:>9.2f} "
                  f"{base['realtime']:>10.3f}x {row['ratio']:>5.2f}x", flush=True)
    save(args.out, {"seconds": args.seconds, "fps": args.fps, "encoder": vars(encode), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
