"""`livecppn train --batch prompts.toml`: a style library, one style per [[style]] entry.

    out_dir = "styles"            # where the styles go (relative to this file; default: its folder)
    [defaults]                    # any training setting, for every entry
    iterations = 800
    [[style]]
    name = "organic"              # the file name: styles/organic.safetensors
    prompt = "organic flowing shapes diffusing into each other with strong contrast"
    [[style]]
    name = "ice"
    prompt = ["frozen crystal lattice", "blue ice"]   # several prompts are averaged
    negative = "text"
    audio = "tracks/ambient.flac"
    seed = 3

Settings come from [defaults], then the entry, then the command line. Paths
in the file are relative to it. Every entry is checked before anything is
trained. A style whose file is already complete is skipped (--force retrains
it); one that fails is reported and the rest go on. A summary table ends the run,
and the output folder's style gallery (FOLDER/gallery/index.html) is written or
refreshed: one page to look at the batch's result.
"""

from __future__ import annotations

import logging
import re
import threading
import tomllib
from pathlib import Path

from ..model.style import StyleError, load_style
from .clip_loader import ClipError, ClipSpec, check_clip
from .train_job import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, ClipCache, Interrupted, Outcome, TrainError,
                        check_output, show_progress, train_one)
from .train_options import TrainConfig, TrainConfigError, overrides_from_args

log = logging.getLogger("livecppn.train")

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PATH_KEYS = ("audio", "clip_config", "out")


def _resolve(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


class _Lines:
    """Where things are in a batch file's text (tomllib gives no positions): a small scan for the
    [[style]] / [defaults] headers and `key =` lines. Line numbers are 1-based."""

    HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.styles: list[int] = []  # the line of each [[style]] header
        self.defaults: int | None = None
        for n, line in enumerate(self.lines, 1):
            m = self.HEADER.match(line)
            if m and m.group(1).strip("\"'") == "style" and line.lstrip().startswith("[["):
                self.styles.append(n)
            elif m and m.group(1).strip("\"'") == "defaults":
                self.defaults = n

    def _key_in(self, header: int | None, key: str) -> int | None:
        if header is None:
            return None
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for n in range(header + 1, len(self.lines) + 1):
            if self.HEADER.match(self.lines[n - 1]):
                break
            if pattern.match(self.lines[n - 1]):
                return n
        return None

    def style(self, i: int, *keys: str) -> int:
        """The line of style i's first `key =` (its own, else [defaults]'), else of its header."""
        header = self.styles[i - 1] if i <= len(self.styles) else None
        for section in (header, self.defaults):
            for key in keys:
                if n := self._key_in(section, key):
                    return n
        return header or 1


def load_batch(path: Path, cli: dict, out_dir: Path | None = None) -> list[tuple[str, Path, TrainConfig]]:
    """(name, output path, settings) per entry, every entry checked before any is trained: its settings, its
    audio file (it must exist and decode), its output path, its CLIP (config, checkpoint or tag). Raises one
    TrainError listing every problem as FILE:LINE: style N (name): what is wrong."""
    try:
        text = path.read_text()
        doc = tomllib.loads(text)
    except OSError as e:
        raise TrainError(f"batch file {path}: cannot read it ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TrainError(f"batch file {path}: {e}") from None
    base = path.parent
    unknown = sorted(set(doc) - {"out_dir", "defaults", "style"})
    if unknown:
        raise TrainError(f"batch file {path}: unknown key(s) {unknown}; expected out_dir, [defaults], [[style]]")
    entries = doc.get("style")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise TrainError(f"batch file {path}: expected one or more [[style]] entries")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise TrainError(f"batch file {path}: [defaults] must be a table")
    folder = out_dir or Path(_resolve(doc.get("out_dir", "."), base))
    lines = _Lines(text)
    jobs, names, problems, clip_checked = [], set(), [], {}
    for i, entry in enumerate(entries, 1):
        def where(*keys: str, i=i, entry=entry) -> str:
            return f"{path}:{lines.style(i, *keys)}: style {i} ({entry.get('name', 'no name')})"

        settings = {**defaults, **entry}
        name = settings.pop("name", None)
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where('name')}: needs name = \"...\" (letters, digits, . _ -), used as the file name")
            continue
        if name in names:
            problems.append(f"{where('name')}: the name {name!r} is used twice")
        names.add(name)
        for key in PATH_KEYS:
            if isinstance(settings.get(key), str):
                settings[key] = _resolve(settings[key], base)
        pretrained = settings.get("clip_pretrained")
        if isinstance(pretrained, str) and ("/" in pretrained or Path(pretrained).suffix):
            settings["clip_pretrained"] = _resolve(pretrained, base)
        out = Path(settings.pop("out", folder / f"{name}.safetensors"))
        try:
            cfg = TrainConfig.from_dict({**settings, **cli}, where="settings")
        except TrainConfigError as e:
            problem = str(e).removeprefix("settings: ")
            keys = sorted((k for k in settings if re.search(rf"\b{re.escape(k)}\b", problem)), key=len, reverse=True)
            problems.append(f"{where(*keys)}: {problem}")
            continue
        problems += [f"{where(*keys)}: {problem}" for keys, problem in entry_problems(cfg, out, clip_checked)]
        jobs.append((name, out, cfg))
    if problems:
        raise TrainError(f"batch file {path}: {len(problems)} problem(s); nothing was trained:\n"
                         + "\n".join("  " + p.replace("\n", "\n    ") for p in problems))
    return jobs


def entry_problems(cfg: TrainConfig, out: Path, clip_checked: dict) -> list[tuple[tuple[str, ...], str]]:
    """((the keys that set it, ...), problem) for what would stop this entry once its turn came.
    `clip_checked` (ClipSpec -> problem or None) keeps it to one check per CLIP, however many entries share it."""
    from ..audio.base import AudioError
    from ..audio.decode import probe_audio

    problems = []
    if cfg.audio is not None:
        try:
            probe_audio(cfg.audio)
        except AudioError as e:
            problems.append((("audio",), f"{e} (expected an audio file: wav, mp3, flac, ...)"))
    try:
        check_output(out, create=False)
    except TrainError as e:
        problems.append((("out", "name"), str(e)))
    spec = ClipSpec(model=cfg.clip_model, pretrained=cfg.clip_pretrained, config=cfg.clip_config,
                    cache_dir=cfg.clip_cache)
    if spec not in clip_checked:
        try:
            check_clip(spec)
            clip_checked[spec] = None
        except ClipError as e:
            clip_checked[spec] = str(e)
    if clip_checked[spec]:
        config_first = clip_checked[spec].startswith("CLIP config")
        keys = ("clip_config", "clip_pretrained") if config_first else ("clip_pretrained", "clip_model", "clip_config")
        problems.append((keys, clip_checked[spec]))
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            problems.append((("device",), f"device {cfg.device}: no CUDA device here; use cpu or auto"))
    return problems


def already_done(out: Path) -> float | None:
    """The best score of a complete (not interrupted) style at `out`, else None."""
    try:
        style = load_style(out)
    except StyleError:
        return None
    if style.meta.get("training", {}).get("interrupted", True):
        return None
    return style.meta.get("clip", {}).get("score")


def summary(outcomes: list[Outcome]) -> str:
    rows = [("style", "prompt", "score", "start", "time", "status")]
    for o in outcomes:
        prompt = o.prompt if len(o.prompt) <= 44 else o.prompt[:43] + "…"
        rows.append((o.name, prompt, "-" if o.score is None else f"{o.score:.4f}",
                     "-" if o.start_score is None else f"{o.start_score:.4f}",
                     "-" if o.seconds is None else f"{o.seconds:.1f}s", o.status))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def batch_jobs(args) -> list[tuple[str, Path, TrainConfig]] | int:
    """The batch file's jobs (load_batch) with the command line's settings, or EXIT_USAGE (said why)."""
    cli = overrides_from_args(args)
    if "prompts" in cli or args.out is not None:
        log.error("train --batch: prompts and outputs come from the batch file; drop the prompt and --out")
        return EXIT_USAGE
    try:
        return load_batch(args.batch, cli, args.out_dir)
    except TrainError as e:
        log.error("train: %s", e)
        return EXIT_USAGE


def run_batch(args) -> int:
    jobs = batch_jobs(args)
    if isinstance(jobs, int):
        return jobs
    clips, stop = ClipCache(), threading.Event()
    outcomes: list[Outcome] = []
    failed = interrupted = False
    for i, (name, out, cfg) in enumerate(jobs, 1):
        done = None if args.force else already_done(out)
        if done is not None:
            outcomes.append(Outcome(name, out, cfg.prompts[0], "skipped (done)", done))
            continue
        if interrupted:
            outcomes.append(Outcome(name, out, cfg.prompts[0], "not started (interrupted)"))
            continue
        log.info("[%d/%d] %s: %s", i, len(jobs), out, " | ".join(cfg.prompts))
        try:
            outcome = train_one(cfg, out, name, clips, stop, progress=show_progress(args))
        except (TrainError, ClipError) as e:
            log.error("train: %s: %s", name, e)
            outcome, failed = Outcome(name, out, cfg.prompts[0], f"failed: {e}".splitlines()[0][:80]), True
        except Interrupted as e:
            log.error("train: %s: %s", name, e)
            outcome = Outcome(name, out, cfg.prompts[0], f"interrupted after {e.steps_done} steps (nothing written)",
                              steps_done=e.steps_done, iterations=cfg.iterations)
        except KeyboardInterrupt:  # while its inputs were being checked
            outcome = Outcome(name, out, cfg.prompts[0], "interrupted before training (nothing written)")
        interrupted = interrupted or outcome.status.startswith("interrupted")
        outcomes.append(outcome)
    finish(outcomes, args, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if failed else 0


def finish(outcomes: list[Outcome], args, interrupted: bool) -> None:
    """The end of a batch, here or on Ray: the summary table, then (unless interrupted) the output
    folders' style galleries written or refreshed."""
    print(summary(outcomes))
    if not interrupted and args.gallery_seconds > 0:
        from .gallery import refresh_gallery

        for folder in sorted({o.out.parent for o in outcomes}):
            refresh_gallery(folder, args.gallery_seconds)
