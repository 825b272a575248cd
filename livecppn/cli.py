"""The `livecppn` command: the top parser, built from each subcommand's add_*_parser, and the dispatch.

Each subcommand's options live beside its options dataclass (live_options.py,
offline/render_options.py, offline/train_options.py), which holds the defaults;
the small commands without one (devices, analyze, styles, paths) are declared here.
Building the parser imports no trainer, GL or torch code: each command loads
what it needs when it runs (DESIGN §3).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import __version__
from .argtypes import param_value, parse_size, positive_int, render_scale
from .live_options import add_check_parser, add_live_parser
from .offline.render_options import add_render_parser
from .offline.train_options import add_train_parser  # the standard library only: no torch, no open_clip

# The option types are re-exported: tools/bench_*.py parse their sizes and --set with them.
__all__ = ["build_parser", "main", "param_value", "parse_size", "positive_int", "render_scale"]

log = logging.getLogger("livecppn")

ANALYSIS_FPS = 60.0


def add_devices_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser("devices", help="list audio devices and monitors",
                          description="List audio input/output devices and the monitors glfw can see.")


def add_doctor_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "doctor", help="check this machine before a show: will it work, and if not, why",
        description="Check, each with a verdict (ok / info / warning / problem) and what to do about it: "
                    "Python and packages, the GL driver, CUDA and whether GL and CUDA share a GPU (with a "
                    "one-frame interop round trip), the backend `auto` picks and its internal resolution "
                    "(a short calibration), audio inputs, the loopback route and a level meter, MIDI ports, "
                    "the OSC port, disk space for recordings, NDI/virtual camera/Link availability. "
                    "Exits 1 when something blocks the show.",
    )
    p.add_argument("--audio", metavar="DEVICE", help="the input to meter, as for `live --audio` "
                                                     "(default: the default input)")
    p.add_argument("--seconds", type=float, default=2.0, metavar="S", help="level meter length (default 2; 0 skips it)")
    p.add_argument("--osc-port", type=int, default=9000, metavar="PORT", help="OSC port to check (default 9000)")
    p.add_argument("--osc-host", default="127.0.0.1", metavar="ADDR", help="OSC address to check (default 127.0.0.1)")
    p.add_argument("--size", type=parse_size, default=(1280, 720), metavar="WxH",
                   help="output size the internal resolution is calibrated for (default 1280x720)")
    p.add_argument("--no-gl", action="store_true", help="skip the GL, CUDA and backend checks")
    p.add_argument("--json", action="store_true", help="print the checks as JSON (a stable schema) for scripts")
    return p


def add_analyze_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "analyze", help="run the live audio analyser over a file and write what it saw",
        description="Feed an audio file through the same analyser `livecppn live` uses, frame by frame "
                    "as live (not a whole-file algorithm), and write per-frame features, onset times "
                    "and tempo as JSON.",
    )
    p.add_argument("file", type=Path, help="audio file (wav, mp3, flac, ...)")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the analysis here")
    p.add_argument("--fps", type=float, default=ANALYSIS_FPS, help=f"analysis frame rate (default {ANALYSIS_FPS:g})")
    return p


def add_styles_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("styles", help="work with style files (report, gallery)",
                       description="Style files: `livecppn styles report` measures them; `livecppn styles gallery` "
                                   "shows them all moving, on one page.")
    p.set_defaults(styles_help=p.print_help)
    actions = p.add_subparsers(dest="styles_command", metavar="ACTION")
    rep = actions.add_parser(
        "report", help="render styles under standard audio and measure them",
        description="Render each style under a standard set of audio states and a short built-in clip, and "
                    "write a contact sheet (PNG), report.json and report.md: temporal coherence, audio "
                    "reactivity, spatial variation, colourfulness and distinctness, each against the "
                    "README's thresholds. Exits 1 when a style fails one.",
    )
    rep.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="style files, folders of them, or style names (the user's styles first, then the "
                          "shipped; default: the shipped bank's styles)")
    rep.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the report")
    rep.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_gallery_parser(actions)
    return p


def add_gallery_parser(actions) -> argparse.ArgumentParser:
    from .offline.gallery_options import DEFAULT_FPS, DEFAULT_SECONDS, DEFAULT_SIZE  # the standard library only

    gal = actions.add_parser(
        "gallery", help="a page of every style moving to the same music, to compare and pick from",
        description="Render each style as a short looping H.264 clip (the offline renderer, the same audio for "
                    "all) and write DIR/index.html, which works opened from disk: the clips play in step on one "
                    "clock (play/pause and scrub all), each with its name, family, prompts and CLIP score, the "
                    "style report's metrics against their thresholds and its architecture; filters by family, "
                    "verdict and text; a compare view of two to four styles side by side; and a bank tray that "
                    "gives the chosen styles slot numbers and writes the bank's TOML to copy.",
    )
    gal.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="style files, folders of them, or style names (default: the shipped bank's styles)")
    gal.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for index.html and its clips")
    gal.add_argument("--audio", type=Path, metavar="TRACK",
                     help="the clips' audio, its first S seconds (default: the built-in 120 BPM beat)")
    gal.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, metavar="S",
                     help=f"length of each clip (default {DEFAULT_SECONDS:g}: two bars of the beat)")
    gal.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH",
                     help=f"clip size (default {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]})")
    gal.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"clip frame rate (default {DEFAULT_FPS:g})")
    return gal


def add_paths_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser("paths", help="print where livecppn finds and keeps things",
                          description="Print the shipped resources' folders and the user's own: styles, banks and "
                                      "mappings (found by name in the user's folder first, then the shipped "
                                      "presets), learned mappings, trained styles and recordings.")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livecppn",
        description="A real-time visual instrument: a CPPN driven by the music and your controllers.",
    )
    p.add_argument("--version", action="version", version=f"livecppn {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    # The order here is the order of `livecppn --help` and of the README's CLI reference.
    for add in (add_live_parser, add_check_parser, add_render_parser, add_devices_parser, add_doctor_parser,
                add_analyze_parser, add_train_parser, add_styles_parser, add_paths_parser):
        add(sub)
    return p


def cmd_live(args) -> int:
    from .audio.sources import AudioError
    from .live import run_live
    from .live_options import LiveOptionsError, options_from_args
    from .render.backends import BackendError
    from .render.window import WindowError

    try:
        opts = options_from_args(args)
    except LiveOptionsError as e:
        log.error("%s", e)
        return 2
    try:
        report = run_live(opts)
    except (AudioError, BackendError, WindowError) as e:
        log.error("%s", e)
        return 1
    except KeyboardInterrupt:
        return 0
    log.info("%d frames, %.1f fps, frame p50 %.1f ms p99 %.1f ms, backend %s, internal %dx%d",
             report["frames"], report["fps"], report["frame_ms"]["p50"], report["frame_ms"]["p99"],
             report["backend"], *report["internal_resolution"])
    return 0


def cmd_check(args) -> int:
    from .live_options import LiveOptionsError, options_from_args
    from .show.setcheck import Problem, check_set

    args.frames = args.frames or 1  # --headless needs --frames for a show, not for a check
    try:
        problems = check_set(options_from_args(args))
    except LiveOptionsError as e:  # the options themselves: said with the rest
        problems = [Problem("options", str(e))]
    for problem in problems:
        print(problem)
    blocking = [p for p in problems if p.blocking]
    if blocking:
        print(f"{len(blocking)} problem{'s' if len(blocking) > 1 else ''}: the show would start without them "
              "(see above)")
        return 1
    print("ok: tonight's set loads" + (f" ({len(problems)} warning{'s' if len(problems) > 1 else ''})"
                                       if problems else ""))
    return 0


def cmd_render(args) -> int:
    import json

    from .offline.render import RenderError, RenderInterrupted, render_file
    from .offline.render_options import RenderOptionsError, options_from_args

    try:
        opts = options_from_args(args)
    except RenderOptionsError as e:
        log.error("%s", e)
        return 2
    try:
        if args.ray is not None:
            from .offline.cluster import ClusterError  # Ray loads only on --ray
            from .offline.cluster_options import LOCAL
            from .offline.cluster_render import render_on_ray

            try:
                summary = render_on_ray(opts, args.ray, args.segments, args.ray_cpus_per_task)
            except ClusterError as e:
                if args.ray != LOCAL or "pip install" not in str(e):
                    log.error("render: %s", e)
                    return 2
                log.warning("render: %s; rendering here instead", e)
                summary = render_file(opts)
        else:
            if args.segments is not None:
                log.error("render: --segments cuts a render up on a cluster; it needs --ray")
                return 2
            summary = render_file(opts)
    except RenderInterrupted as e:
        log.error("%s", e)
        return 130
    except RenderError as e:
        log.error("%s", e)
        return 1
    summary["events"] = len(summary.get("events", ()))
    print(json.dumps(summary))
    return 0


def cmd_devices(_args) -> int:
    from .audio.sources import list_devices

    try:
        devices = list_devices()
    except Exception as e:  # noqa: BLE001 - report and keep listing the rest
        devices = None
        print(f"Audio devices: (cannot list: {e})")
    if devices is not None:
        for title, key, flag in (("Audio inputs", "max_input_channels", "default_input"),
                                 ("Audio outputs", "max_output_channels", "default_output")):
            print(f"{title}:")
            rows = [d for d in devices if d[key] > 0]
            for d in rows:
                mark = "*" if d.get(flag) else " "
                print(f" {mark}[{d['index']:>2}] {d['name']}  ({d[key]} ch, {d['default_sample_rate']:.0f} Hz)")
            if not rows:
                print("   (none)")
        print("  * = default. `--audio loopback` captures what this computer plays.")
    print("MIDI inputs (for --midi; set MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK for JACK):")
    try:
        from .control.midi import list_ports

        ports = list_ports()
        for name in ports:
            print(f"   {name}")
        if not ports:
            print("   (none)")
    except Exception as e:  # noqa: BLE001
        print(f"   (cannot list MIDI ports: {e})")
    print("Monitors:")
    try:
        import glfw

        from .render.window import list_monitors
        if glfw.init():
            for m in list_monitors():
                print(f"  [{m['index']}] {m['name']}  {m['width']}x{m['height']} @ {m['refresh']} Hz")
            glfw.terminate()
        else:
            print("  (no display)")
    except Exception as e:  # noqa: BLE001
        print(f"  (cannot list monitors: {e})")
    return 0


def cmd_doctor(args) -> int:
    from .doctor import DoctorOptions, as_json, overall, run_checks, table

    if args.seconds < 0:
        log.error("--seconds must be 0 or more, got %s", args.seconds)
        return 2
    checks = run_checks(DoctorOptions(audio=args.audio, seconds=args.seconds, osc_host=args.osc_host,
                                      osc_port=args.osc_port, size=args.size, gl=not args.no_gl))
    print(as_json(checks, __version__) if args.json else table(checks))
    return 1 if overall(checks) == "problem" else 0


def cmd_analyze(args) -> int:
    from .audio.sources import AudioError
    from .offline.analyze import analyze_file, write_analysis

    if not args.fps > 0:
        log.error("--fps must be positive, got %s", args.fps)
        return 2
    try:
        result = analyze_file(args.file, fps=args.fps)
    except AudioError as e:
        log.error("%s", e)
        return 1
    if args.json:
        write_analysis(result, args.json)
    print(f"{args.file}: {result['duration']:.2f} s at {result['sample_rate']} Hz, {len(result['frames'])} frames, "
          f"{len(result['onsets'])} onsets, {result['bpm']:.1f} BPM (median of 2nd half "
          f"{result['bpm_median_second_half']:.1f}), {result['beat_count']} beats")
    return 0


def cmd_styles(args) -> int:
    import json

    if args.styles_command == "gallery":
        return cmd_gallery(args)
    if args.styles_command != "report":
        args.styles_help()
        return 2
    from .offline.report import ReportError, markdown_table, report, write_report

    from .paths import find_style

    try:
        reports, thumbs = report([find_style(p) for p in args.paths])
    except ReportError as e:
        log.error("%s", e)
        return 1
    doc = write_report(reports, thumbs, args.out)
    print(json.dumps(doc, indent=2) if args.json else markdown_table(reports))
    if not args.json:
        print(f"wrote {args.out / 'contact_sheet.png'}, report.json and report.md")
    return 0 if doc["passed"] else 1


def cmd_gallery(args) -> int:
    from .offline.gallery import GalleryError, GalleryOptions, make_gallery

    try:
        summary = make_gallery(GalleryOptions(paths=list(args.paths), out=args.out, audio=args.audio,
                                              seconds=args.seconds, size=args.size, fps=args.fps))
    except GalleryError as e:
        log.error("%s", e)
        return 1
    print(f"wrote {summary['index']}: {summary['styles']} styles ({summary['passed']} pass the report), "
          f"{summary['seconds']:g} s clips, {summary['bytes'] / 1e6:.1f} MB, in {summary['elapsed_s']:g} s")
    return 0


def cmd_paths(_args) -> int:
    from .paths import describe

    where = describe()
    width = max(map(len, where))
    for label, folder in where.items():
        print(f"{label + ':':<{width + 1}} {folder}")
    return 0


def cmd_train(args) -> int:
    from .offline.train_cli import run  # the trainer's dependencies load only here (DESIGN §3)

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S")
    if args.command is None:
        parser.print_help()
        return 2
    return {"live": cmd_live, "check": cmd_check, "devices": cmd_devices, "doctor": cmd_doctor, "analyze": cmd_analyze,
            "train": cmd_train, "styles": cmd_styles, "render": cmd_render, "paths": cmd_paths}[args.command](args)
