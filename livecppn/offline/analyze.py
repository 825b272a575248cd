"""`livecppn analyze`: run the live analyser over a file and write what it saw.

The file is fed to the same `Analyzer` the live loop uses, frame by frame under
the offline clock (DESIGN §2): frame n gets exactly the samples that arrived
between frames n-1 and n, processed hop by hop as live — not a whole-file
algorithm — so what this reports is what a show would have seen.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..audio.analyzer import Analyzer
from ..audio.decode import load_audio
from ..jsonable import rounded


def analyze_file(path: str | Path, fps: float = 60.0) -> dict:
    """Per-frame features, onset times and tempo of a file, as the live analyser sees it."""
    samples, rate = load_audio(path)
    analyzer = Analyzer(rate)
    frames = []
    pos = 0
    n_frames = math.ceil(len(samples) / rate * fps)
    for n in range(1, n_frames + 1):
        end = min(len(samples), round(n * rate / fps))
        features = analyzer.process(samples[pos:end], 1.0 / fps)
        pos = end
        frames.append({"frame": n - 1, "t": round(end / rate, 6), **rounded(features.as_dict())})
    bpms = [f["bpm"] for f in frames[len(frames) // 2:] if f["bpm"] > 0]
    return {
        "file": str(path),
        "sample_rate": rate,
        "duration": round(len(samples) / rate, 6),
        "fps": fps,
        "frames": frames,
        "onsets": [round(t, 6) for t in analyzer.onsets],
        "bpm": frames[-1]["bpm"] if frames else 0.0,
        "bpm_median_second_half": float(np.median(bpms)) if bpms else 0.0,
        "beat_count": frames[-1]["beat_count"] if frames else 0,
    }


def write_analysis(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result) + "\n")
