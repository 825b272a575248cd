"""`livecppn analyze`: run the live analyser over a file and write what it saw.

The file is fed to the same `Analyzer` the live loop uses, frame by frame under
the offline frame clock (DESIGN §2, audio/frame_clock.py): frame n sees the
audio up to n / fps s (frame 0 none), and gets exactly the samples that arrived
between frames n-1 and n, processed hop by hop as live — not a whole-file
algorithm — so what this reports is what a show (and `livecppn render`) would
have seen.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import __version__
from ..audio.analyzer import Analyzer
from ..audio.decode import load_audio
from ..audio.frame_clock import frame_blocks, frame_clock
from ..jsonable import rounded


def analyze_file(path: str | Path, fps: float = 60.0) -> dict:
    """Per-frame features, onset times and tempo of a file, as the live analyser sees it."""
    samples, rate = load_audio(path)
    analyzer = Analyzer(rate)
    frames = []
    for n, block in frame_blocks(samples, rate, fps, math.ceil(len(samples) / rate * fps)):
        features = analyzer.process(block, 1.0 / fps)
        frames.append({"frame": n, "t": round(frame_clock(n, fps), 6), **rounded(features.as_dict())})
    bpms = [f["bpm"] for f in frames[len(frames) // 2:] if f["bpm"] > 0]
    return {
        "file": str(path),
        "livecppn": __version__,
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
