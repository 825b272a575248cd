"""`livecppn styles gallery`: every style moving to the same music, on one page that works from disk.

For each style: a short looping H.264 clip rendered by the offline renderer
(offline/render.py: the same analyser, decks and compositor as `livecppn
render`, deterministic, autopilot off so the clip shows that style alone), all
to the same audio (default: the built-in synthetic beat; 4 s at 120 BPM is two
bars, so the loop's music is seamless), and the style report's metrics
(offline/report.py) with pass/fail against its thresholds. gallery_page.py
writes DIR/index.html, DIR/assets/ and the clips in DIR/clips/: no server, no
network, every asset local.

Offline tools fail fast (DESIGN §8): a bad style or track stops the gallery
with a GalleryError before or while rendering; clips are written under a
temporary name and renamed when whole, and index.html is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from .. import __version__, paths
from ..media.encode import EncodeOptions
from ..model.style import StyleError, load_style
from .gallery_options import GalleryOptions
from .gallery_page import Card, GalleryError, architecture, write_page
from .report import THRESHOLDS, ReportError, StyleReport, report, style_paths

log = logging.getLogger("livecppn")

# Small clips: the page for the 16 shipped styles stays well under 20 MB (README: The style gallery).
CLIP_ENCODE = EncodeOptions(codec="libx264", crf=28, preset="medium", threads=0)
BEAT_RATE = 48000
MANIFEST = "clips.json"  # clip file → what it was made from (clip_key) and its length

__all__ = ["GalleryError", "GalleryOptions", "make_gallery"]


def bank_ref(path: Path) -> str:
    """How a bank names this style file: `styles/NAME.safetensors` for a file in a styles folder (the
    user's or the shipped; a bank finds it there from anywhere), else its absolute path."""
    resolved = Path(path).resolve()
    for root in paths.preset_roots():
        if resolved.parent == (root / "styles").resolve():
            return f"styles/{resolved.name}"
    return resolved.as_posix()


def write_beat(path: Path, seconds: float) -> Path:
    """The built-in synthetic beat (120 BPM) as a 16-bit mono WAV."""
    from ..audio.synth import synthetic_beat

    pcm = (np.clip(synthetic_beat(seconds, BEAT_RATE), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(BEAT_RATE)
        w.writeframes(pcm.tobytes())
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:40] or "style"


def check_options(opts: GalleryOptions) -> None:
    if not opts.seconds > 0:
        raise GalleryError(f"--seconds must be positive, got {opts.seconds}")
    if not opts.fps > 0:
        raise GalleryError(f"--fps must be positive, got {opts.fps}")
    if opts.audio is not None and not Path(opts.audio).is_file():
        raise GalleryError(f"--audio {opts.audio}: no such file (expected an audio file: wav, mp3, flac, ...)")
    if opts.out.exists() and not opts.out.is_dir():
        raise GalleryError(f"--out {opts.out}: exists and is not a folder")


def _card(report_: StyleReport, style, clip: str, path: Path) -> Card:
    meta = style.meta
    clip_meta = meta.get("clip") if isinstance(meta.get("clip"), dict) else {}
    score = clip_meta.get("score")
    prompts, negatives = meta.get("prompts"), meta.get("negative_prompts")
    return Card(name=style.name, clip=clip, ref=bank_ref(path), family=report_.family,
                description=meta.get("description") if isinstance(meta.get("description"), str) else None,
                prompts=[str(p) for p in prompts] if isinstance(prompts, list) else [],
                negatives=[str(p) for p in negatives] if isinstance(negatives, list) else [],
                clip_score=float(score) if isinstance(score, (int, float)) else None,
                clip_model=str(clip_meta["model"]) if clip_meta.get("model") else None,
                metrics=dict(report_.metrics), failures=list(report_.failures),
                architecture=architecture(style.config))


def clip_key(opts: GalleryOptions, style_path: Path) -> dict:
    """What a clip is made from: a clip already in the folder with the same key is kept, not rendered again
    (a batch's gallery refreshes only the styles that changed)."""
    def digest(path: Path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    return {"style": digest(style_path), "audio": digest(opts.audio) if opts.audio else "builtin-beat",
            "seconds": opts.seconds, "size": list(opts.size), "fps": opts.fps, "livecppn": __version__,
            "encode": [CLIP_ENCODE.codec, CLIP_ENCODE.crf, CLIP_ENCODE.preset]}


def _read_manifest(clips: Path) -> dict:
    try:
        data = json.loads((clips / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _render_clip(opts: GalleryOptions, track: Path, style_path: Path, out: Path, ctx) -> float:
    """One style's clip at `out`, written whole or not at all; returns its length in seconds."""
    from .render import RenderError, RenderOptions, render_file

    partial = out.with_name(f".{out.stem}.partial.mp4")
    try:
        # The shipped bank (deck B's style, never shown: the autopilot is off): a user's own default bank,
        # broken or not, has no say in a clip.
        summary = render_file(RenderOptions(track, partial, style=style_path, bank=paths.presets_dir() / "banks"
                                            / "default.toml", size=opts.size, fps=opts.fps, seconds=opts.seconds,
                                            initial={"autopilot": 0.0}, encode=CLIP_ENCODE, progress=False),
                              ctx=ctx)
    except RenderError as e:
        partial.unlink(missing_ok=True)
        raise GalleryError(f"{style_path}: rendering its clip failed: {e}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return summary["frames"] / opts.fps


def make_gallery(opts: GalleryOptions) -> dict:
    """Render every style's clip and write the page; returns a summary (index, styles, seconds, bytes)."""
    check_options(opts)
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        files = style_paths([paths.find_style(p) for p in opts.paths])
        styles = [load_style(f) for f in files]
        log.info("gallery: measuring %d styles (the style report)", len(files))
        reports, _thumbs = report(files)
    except (ReportError, StyleError) as e:
        raise GalleryError(str(e)) from None
    t_report = time.perf_counter()
    from .render import offscreen_context, RenderError

    clips = opts.out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    try:
        ctx = offscreen_context()
    except RenderError as e:
        raise GalleryError(str(e)) from None
    cards, lengths = [], []
    with tempfile.TemporaryDirectory(prefix="livecppn-gallery-") as tmp:
        track = opts.audio or write_beat(Path(tmp) / "beat.wav", opts.seconds)
        manifest, made, rendered = _read_manifest(clips), {}, 0
        for i, (path, style, rep) in enumerate(zip(files, styles, reports), 1):
            name = f"{i:02d}-{_slug(style.name)}.mp4"
            key = clip_key(opts, path)
            old = manifest.get(name)
            if isinstance(old, dict) and old.get("key") == key and (clips / name).is_file():
                log.info("gallery: [%d/%d] %s: its clip is up to date", i, len(files), style.name)
                length = float(old.get("length", opts.seconds))
            else:
                log.info("gallery: [%d/%d] %s", i, len(files), style.name)
                length = _render_clip(opts, Path(track), path, clips / name, ctx)
                rendered += 1
            made[name] = {"key": key, "length": length}
            lengths.append(length)
            cards.append(_card(rep, style, f"clips/{name}", path))
    for old in clips.glob("*.mp4"):  # clips of styles no longer in the gallery
        if old.name not in made:
            old.unlink()
    (clips / MANIFEST).write_text(json.dumps(made, indent=1, sort_keys=True) + "\n")
    seconds = max(lengths)
    audio = f"“{Path(opts.audio).name}”" if opts.audio else "the built-in beat (120 BPM)"
    title = opts.title or ("livecppn styles: the shipped library" if not opts.paths
                           else "livecppn styles: " + ", ".join(Path(p).stem or str(p) for p in opts.paths))
    about = (f"{len(cards)} styles, each a {seconds:g} s loop to {audio}, all on one clock. Filter them, "
             "compare two to four side by side, and put the ones you want into a bank.")
    index = write_page(opts.out, cards, {t.metric: t.minimum for t in THRESHOLDS}, seconds, title, about)
    size = sum(p.stat().st_size for p in opts.out.rglob("*") if p.is_file())
    return {"index": str(index), "styles": len(cards), "seconds": seconds, "bytes": size,
            "passed": sum(1 for c in cards if not c.failures), "rendered": rendered,
            "elapsed_s": round(time.perf_counter() - t0, 1), "report_s": round(t_report - t0, 1),
            "cpu_s": round(time.process_time() - cpu0, 1)}


def refresh_gallery(folder: Path, seconds: float) -> bool:
    """`train --batch`'s last step: the gallery of its output folder, in FOLDER/gallery/ (clips of styles
    that did not change are kept). Made by `livecppn styles gallery` in its own process: the trainer's
    process keeps no GL context and its GPU memory stays the trainer's. A failure is said, not fatal (the
    styles are written). Returns whether the gallery was made."""
    out = folder / "gallery"
    log.info("gallery: writing %s", out / "index.html")
    proc = subprocess.run([sys.executable, "-m", "livecppn", "styles", "gallery", str(folder), "--out", str(out),
                           "--seconds", f"{seconds:g}"], stdout=sys.stderr, check=False)  # stdout: the batch's table
    if proc.returncode != 0:
        log.warning("gallery: %s was not made (exit %d, see above); `livecppn styles gallery %s --out %s` "
                    "makes it", out / "index.html", proc.returncode, folder, out)
    return proc.returncode == 0
