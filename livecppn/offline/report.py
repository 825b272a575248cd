"""`livecppn styles report`: judge styles without watching them for an hour.

Each style is rendered by the live generator under a standard set of audio
states and over a short built-in clip (the synthetic beat run through the live
Analyzer at the offline frame clock, 60 fps), and measured:

- coherence: mean SSIM between consecutive clip frames at 60 fps (scikit-image's
  `structural_similarity`); a style that flickers or jumps reads low.
- reactivity: mean absolute change of the picture between the quiet and the
  loud state, as a fraction of full scale; a style deaf to the music reads ~0.
- variation: the smallest spatial standard deviation of the pixels (per colour
  channel, averaged) over the states, as a fraction of full scale; a flat or
  near-uniform picture reads ~0.
- colourfulness: Hasler and Süsstrunk's measure (0 grey, ~33 moderately and
  ~59 highly colourful), mean over the states; not judged for styles whose
  palette is all greys (monochrome by design).
- distinctness: mean absolute difference of the pictures, state by state, to
  the nearest other style in the set; a duplicate reads ~0.

THRESHOLDS (stated in the README) say what passes. The report writes a
contact sheet (PNG), report.json and report.md to its folder.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model.generator import Generator
from ..model.style import Style, StyleError, load_style

FPS = 60
CLIP_SECONDS = 2.0  # rendered and measured
CLIP_LEAD_IN = 1.5  # analysed before the measured part, so levels and beats have settled
REPORT_SIZE = (96, 54)  # small on purpose: the metrics are about structure, and the CPU is slow
THUMB_SIZE = (160, 90)
# Standard audio states, the nine features in FEATURE_NAMES order
# (bass, mid, treble, centroid, rolloff, flux, time, beat, rms).
STATES = {
    "silence": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "quiet": (0.15, 0.1, 0.05, 0.45, 0.4, 0.05, 0.0, 0.0, 0.1),
    "loud": (1.0, 0.6, 0.5, 0.55, 0.55, 0.8, 0.0, 1.0, 1.0),
    "bright": (0.2, 0.8, 0.9, 0.8, 0.8, 0.5, 0.0, 0.0, 0.6),
    "bass": (0.9, 0.2, 0.1, 0.3, 0.3, 0.3, 0.0, 0.3, 0.6),
}
STATE_TIME = 2.0  # the network's time input for the states


@dataclass(frozen=True)
class Threshold:
    metric: str
    minimum: float
    why: str


THRESHOLDS = (
    Threshold("coherence", 0.90, "mean SSIM of consecutive frames at 60 fps (the original target: > 0.90)"),
    Threshold("reactivity", 0.06, "the picture changes visibly between quiet and loud music"),
    Threshold("variation", 0.06, "pixel standard deviation in every state: not flat"),
    Threshold("colourfulness", 15.0, "at least slightly colourful (styles with an all-grey palette are exempt)"),
    Threshold("distinctness", 0.10, "differs from every other style in the set"),
)


class ReportError(ValueError):
    """A style that cannot be reported on (names the file and the problem)."""


@dataclass
class StyleReport:
    name: str
    path: str
    family: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "family": self.family, "passed": self.passed,
                "metrics": {k: (None if v is None else round(v, 4)) for k, v in self.metrics.items()},
                "failures": self.failures}


def clip_features(seconds: float = CLIP_SECONDS, lead_in: float = CLIP_LEAD_IN, fps: int = FPS) -> np.ndarray:
    """The built-in clip's audio features, (frames, 9): the synthetic beat through the live Analyzer,
    frame by frame at the offline clock; the lead-in is analysed, not returned."""
    from ..audio.analyzer import Analyzer
    from ..audio.synth import synthetic_beat

    rate = 48000
    samples = synthetic_beat(lead_in + seconds, rate)
    analyzer = Analyzer(rate)
    out, pos = [], 0
    for n in range(1, round((lead_in + seconds) * fps) + 1):
        end = round(n * rate / fps)
        features = analyzer.process(samples[pos:end], 1.0 / fps)
        pos = end
        if n > round(lead_in * fps):
            out.append(features.vector())
    return np.stack(out)


def colourfulness(img: np.ndarray) -> float:
    """Hasler and Süsstrunk (2003) on an RGB uint8 image: 0 for grey, ~59 highly colourful."""
    r, g, b = (img[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def is_monochrome(style: Style) -> bool:
    palette = style.config.palette
    return bool(palette) and all(max(c) - min(c) < 1e-6 for c in palette)


def render_states(gen: Generator) -> dict[str, np.ndarray]:
    return {name: gen.render(STATE_TIME, np.asarray(a, np.float32))[..., :3].numpy().copy()
            for name, a in STATES.items()}


def measure(style: Style, clip: np.ndarray, size: tuple[int, int] = REPORT_SIZE) -> tuple[dict, dict]:
    """(metrics without distinctness, the state images) for one style."""
    from skimage.metrics import structural_similarity

    gen = Generator(style, *size)
    states = render_states(gen)
    ssim, prev = [], None
    for n, audio in enumerate(clip):
        frame = gen.render(n / FPS, audio)[..., :3].numpy()
        if prev is not None:
            ssim.append(structural_similarity(prev, frame, channel_axis=2, data_range=255))
        prev = frame.copy()
    quiet, loud = (states[k].astype(np.float32) for k in ("quiet", "loud"))
    metrics = {
        "coherence": float(np.mean(ssim)),
        "reactivity": float(np.abs(loud - quiet).mean() / 255),
        "variation": float(min(img.reshape(-1, 3).std(axis=0).mean() for img in states.values()) / 255),
        "colourfulness": None if is_monochrome(style) else float(np.mean([colourfulness(i) for i in states.values()])),
    }
    return metrics, states


def distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Mean absolute difference of two styles' state pictures, as a fraction of full scale."""
    return float(np.mean([np.abs(a[k].astype(np.float32) - b[k].astype(np.float32)).mean() for k in a]) / 255)


def style_paths(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their *.safetensors (sorted); an empty list means the shipped bank's styles."""
    if not paths:
        from ..model.bank import load_bank
        from ..paths import default_bank_path

        bank = load_bank(default_bank_path())
        return [bank.slots[k] for k in sorted(bank.slots)]
    out = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.safetensors"))
            if not found:
                raise ReportError(f"{p}: no .safetensors style files in this folder")
            out += found
        else:
            out.append(p)
    return out


def bank_families() -> dict[Path, str]:
    from ..model.bank import BankError, load_bank
    from ..paths import default_bank_path

    try:
        bank = load_bank(default_bank_path())
    except BankError:
        return {}
    return {bank.slots[k].resolve(): f for k, f in bank.families.items()}


def _shown_path(path) -> str:
    """A style's path as the report shows it: relative to the working folder where it is below it (a
    committed report must not carry one machine's absolute paths), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def report(paths: list[Path], size: tuple[int, int] = REPORT_SIZE) -> tuple[list[StyleReport], dict]:
    """Measure every style; returns the per-style reports and the thumbnails for the contact sheet."""
    files = style_paths(paths)
    styles = []
    for path in files:
        try:
            styles.append(load_style(path))
        except StyleError as e:
            raise ReportError(str(e)) from None
    families = bank_families()
    clip = clip_features()
    reports, images, thumbs = [], [], {}
    for style in styles:
        metrics, states = measure(style, clip, size)
        family = families.get(Path(style.path).resolve()) or style.meta.get("family")
        reports.append(StyleReport(style.name, _shown_path(style.path), family, metrics))
        images.append(states)
        gen = Generator(style, *THUMB_SIZE)
        thumbs[len(reports) - 1] = [gen.render(STATE_TIME, np.asarray(STATES[k], np.float32))[..., :3].numpy().copy()
                                    for k in ("quiet", "loud")]
    for i, r in enumerate(reports):
        others = [distance(images[i], images[j]) for j in range(len(reports)) if j != i]
        r.metrics["distinctness"] = min(others) if others else None
        for t in THRESHOLDS:
            value = r.metrics.get(t.metric)
            if value is not None and value < t.minimum:
                r.failures.append(f"{t.metric} {value:.3f} < {t.minimum:g}")
    return reports, thumbs


def contact_sheet(reports: list[StyleReport], thumbs: dict, columns: int = 4):
    """The library at a glance: per style its quiet and loud pictures and a label. A Pillow image."""
    from PIL import Image, ImageDraw

    tw, th = THUMB_SIZE
    label_h, pad = 18, 6
    cell_w, cell_h = 2 * tw + pad, th + label_h + pad
    rows = math.ceil(len(reports) / columns)
    sheet = Image.new("RGB", (columns * cell_w + pad, rows * cell_h + pad), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    for i, r in enumerate(reports):
        x, y = pad + (i % columns) * cell_w, pad + (i // columns) * cell_h
        for j, img in enumerate(thumbs[i]):
            sheet.paste(Image.fromarray(img), (x + j * tw, y))
        mark = "" if r.passed else "  FAILS"
        draw.text((x + 2, y + th + 3), f"{i + 1}. {r.name}  ({r.family or '-'}){mark}", fill=(230, 230, 230))
    return sheet


def markdown_table(reports: list[StyleReport] | list[dict]) -> str:
    """The report as a markdown table; from StyleReports or from report.json's "styles"."""
    names = [t.metric for t in THRESHOLDS]
    rows = ["| style | family | " + " | ".join(names) + " | passes |",
            "| --- | --- | " + " | ".join("---:" for _ in names) + " | --- |",
            "| *threshold (at least)* | | " + " | ".join(f"{t.minimum:g}" for t in THRESHOLDS) + " | |"]
    for r in reports:
        r = r.as_dict() if isinstance(r, StyleReport) else r
        cells = []
        for n in names:
            v = r["metrics"].get(n)
            cells.append("n/a" if v is None else (f"{v:.1f}" if n == "colourfulness" else f"{v:.3f}"))
        rows.append(f"| {r['name']} | {r['family'] or '–'} | " + " | ".join(cells)
                    + f" | {'yes' if r['passed'] else 'NO'} |")
    return "\n".join(rows)


def write_report(reports: list[StyleReport], thumbs: dict, out: Path) -> dict:
    """contact_sheet.png, report.json and report.md in `out`; returns the JSON document."""
    out.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(reports, thumbs)
    # a 256-colour PNG: the sheet stays small enough to commit
    sheet.quantize(colors=256, method=2, dither=0).save(out / "contact_sheet.png", optimize=True)
    doc = {"thresholds": {t.metric: t.minimum for t in THRESHOLDS},
           "settings": {"size": list(REPORT_SIZE), "fps": FPS, "clip_seconds": CLIP_SECONDS,
                        "states": {k: list(v) for k, v in STATES.items()}},
           "passed": all(r.passed for r in reports),
           "styles": [r.as_dict() for r in reports]}
    (out / "report.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "report.md").write_text("# Style report\n\n![contact sheet](contact_sheet.png)\n\n"
                                   + markdown_table(reports) + "\n")
    return doc
