"""`livecppn render TRACK OUT.mp4 --ray [ADDRESS] [--segments N]`: one render cut up on a Ray cluster.

The frame clock (DESIGN §2) makes frame n depend only on the inputs and n, so
a render cuts into segments of whole frames, each starting on a key frame
(a multiple of the encoder's one-second GOP). Each segment is one Ray task
that calls the local renderer (render.render_file) with its frame range:
the frames before its first are run, not written (the automation replayed,
the analyser fed, the network's time and the effects stepped, the picture
drawn only where the trail carries it), so its first frame starts from the
exact state the show had there. The task encodes its frames, silent, and
sends the file back; the driver joins the segments without re-encoding the
video and muxes the track's audio once (media/join.py). The joined frames
are a local render's frames.

The inputs (track, style, bank, automation log) are read on the workers at
the paths the driver resolves: a shared file system, or the same paths on
every node. A worker that dies is Ray's to retry; Ctrl-C cancels the tasks
and leaves no output that looks whole.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tempfile
import time
from pathlib import Path

from .. import paths
from .cluster import Board, connect, run_tasks, slots, task_error, task_options
from .cluster_options import resources
from .render_options import RenderOptions

log = logging.getLogger("livecppn")

_CTX = None  # per worker process: one GL context for every segment it renders


def plan(n_frames: int, fps: float, segments: int) -> list[tuple[int, int]]:
    """[first, last) frame ranges: `segments` of about equal length, each starting on a key frame."""
    from ..media.encode import GOP_SECONDS

    gop = max(1, round(GOP_SECONDS * fps))
    gops = math.ceil(n_frames / gop)
    segments = max(1, min(segments, gops))
    cuts = [round(i * gops / segments) * gop for i in range(segments)] + [n_frames]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]


def segment_task(opts: RenderOptions, first: int, last: int) -> dict:
    """On a worker: frames first..last-1 by the local renderer, silent, into a private file; its bytes."""
    global _CTX
    from .render import RenderError, offscreen_context, render_file

    if _CTX is None:
        _CTX = offscreen_context()
    with tempfile.TemporaryDirectory(prefix="livecppn-render-") as folder:
        out = Path(folder) / f"segment{opts.out.suffix}"
        try:
            summary = render_file(dataclasses.replace(opts, out=out, progress=False), _CTX, first, last, audio=False)
        except RenderError as e:
            return {"error": str(e)}
        return {"video": out.read_bytes(), "frames": summary["frames"], "seconds": summary["seconds"],
                "codec": summary["codec"], "pid": os.getpid()}


def resolved(opts: RenderOptions) -> RenderOptions:
    """The options with every input as an absolute path (a worker's working folder is not ours)."""
    def absolute(path: Path | None) -> Path | None:
        return None if path is None else Path(path).expanduser().resolve()

    style = absolute(paths.find_style(opts.style)) if opts.style else None
    bank = absolute(paths.find_bank(opts.bank) if opts.bank else paths.default_bank_path())  # the driver's
    return dataclasses.replace(opts, track=absolute(opts.track), out=absolute(opts.out), style=style, bank=bank,
                               automation=absolute(opts.automation))


def check_inputs(opts: RenderOptions) -> None:
    """The style, bank and automation log load here, before any task starts (DESIGN §8: fail fast, once,
    rather than in every segment). Raises RenderError."""
    from ..media.automation import AutomationError, read_automation
    from ..model.bank import BankError, load_bank
    from ..model.style import StyleError, load_style
    from .render import RenderError

    try:
        if opts.automation is not None:
            read_automation(opts.automation)
        bank = load_bank(opts.bank)
        if opts.style is not None:
            load_style(opts.style)
    except (AutomationError, BankError, StyleError) as e:
        raise RenderError(str(e)) from e
    if bank.problems:
        raise RenderError("bank problems:\n  " + "\n  ".join(bank.problems))


def render_on_ray(opts: RenderOptions, address: str, segments: int | None, cpus_per_task: float) -> dict:
    """Render opts.out on Ray; returns a summary like render_file's. Raises RenderError (RenderInterrupted
    on Ctrl-C), ClusterError."""
    from ..audio.frame_clock import frame_end
    from ..media.encode import EncodeError, is_png_sequence
    from ..media.join import join_segments
    from .render import RenderError, RenderInterrupted, _track, frame_count

    try:
        if is_png_sequence(opts.out, opts.encode):
            raise RenderError(f"{opts.out}: --ray joins video segments into one file (.mp4, .mov, .mkv); "
                              "a PNG sequence renders here, without --ray")
    except EncodeError as e:
        raise RenderError(str(e)) from e
    if not opts.fps > 0:
        raise RenderError(f"--fps must be positive, got {opts.fps}")
    opts = resolved(opts)
    check_inputs(opts)
    planar, rate = _track(opts.track)  # checked here, before any task starts; the audio is muxed here
    n_frames = frame_count(opts, planar.shape[1], rate)
    ray = connect(address)
    gpus, cpus = resources(ray, cpus_per_task)
    width = slots(ray, gpus, cpus)
    ranges = plan(n_frames, opts.fps, segments or 2 * width)
    remote = ray.remote(segment_task)
    refs = {remote.options(**task_options(gpus, cpus), name=f"render {a}-{b}").remote(opts, a, b): i
            for i, (a, b) in enumerate(ranges)}
    log.info("%s: %d frames in %d segment(s) on Ray (%s per task)", opts.out, n_frames, len(ranges),
             f"{gpus:g} GPU" if gpus else f"{cpus:g} CPU")
    errors: list[str] = []
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".livecppn-segments-", dir=opts.out.parent) as folder:
        files = [Path(folder) / f"{i:05d}{opts.out.suffix}" for i in range(len(ranges))]
        seconds = [0.0] * len(ranges)  # each segment's own render time on its worker

        def done(i: int, result) -> bool:
            if isinstance(result, dict) and "video" in result:
                files[i].write_bytes(result["video"])  # to disk as it comes: a long set does not fit in memory
                seconds[i] = result["seconds"]
                return True
            errors.append(f"frames {ranges[i][0]}..{ranges[i][1] - 1}: "
                          + (result["error"] if isinstance(result, dict) else task_error(result)))
            return False

        board = Board(len(ranges), "segments", width, opts.progress)
        if not run_tasks(ray, refs, done, board):
            raise RenderInterrupted(f"interrupted: the segments were cancelled; nothing written to {opts.out}")
        if errors:
            raise RenderError(f"{len(errors)} of {len(ranges)} segment(s) failed; nothing written to {opts.out}:"
                              "\n  " + "\n  ".join(errors))
        try:
            frames = join_segments(files, opts.out, opts.fps, planar, rate,
                                   lambda n: frame_end(n, opts.fps, rate, planar.shape[1]))
        except EncodeError as e:
            raise RenderError(str(e)) from e
        except KeyboardInterrupt:
            raise RenderInterrupted(f"interrupted while joining; nothing written to {opts.out}") from None
    return {"out": str(opts.out), "frames": frames, "size": list(opts.size), "fps": opts.fps,
            "segments": len(ranges), "seconds": round(time.perf_counter() - board.t0, 3), "ray": address,
            "segment_seconds": seconds}

