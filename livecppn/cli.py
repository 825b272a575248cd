"""The `livecppn` command and its subcommands."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import __version__

log = logging.getLogger("livecppn")


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if not (16 <= w <= 16384 and 16 <= h <= 16384):
        raise argparse.ArgumentTypeError(f"size {text!r} out of range (16..16384 on each side)")
    return w, h


def render_scale(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.5, got {text!r}") from None
    if not 0.05 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"render scale must be between 0.05 and 1, got {v}")
    return v


def param_value(text: str) -> tuple[str, float]:
    from .control.registry import default_registry

    SPECS = default_registry().specs
    name, sep, value = text.partition("=")
    if not sep or name not in SPECS:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(SPECS)}, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected a number, got {value!r}") from None


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livecppn",
        description="A real-time visual instrument: a CPPN driven by the music and your controllers.",
    )
    p.add_argument("--version", action="version", version=f"livecppn {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    live = sub.add_parser(
        "live", help="run the show: listen, render, display",
        description="Open a window showing a style that moves with the music. "
                    "Keys: F fullscreen, H HUD, Esc or Q quit.",
    )
    live.add_argument("--style", type=Path, metavar="PATH",
                      help="style file (.safetensors); default: the shipped default style")
    live.add_argument("--audio", metavar="FILE_OR_DEVICE",
                      help="audio input: an audio file (wav, mp3, flac, ...) played to the speakers and "
                           "analysed in sync; an input device index or name (exact, then substring match; "
                           "see `livecppn devices`); 'loopback' for what this computer is playing; "
                           "'synthetic' for the built-in beat; or 'default' (the default input; falls back "
                           "to the synthetic beat when there is none). Default: default")
    live.add_argument("--mute", action="store_true",
                      help="with an audio file: analyse it without playing it to the speakers")
    live.add_argument("--audio-block", type=positive_int, default=256, metavar="N",
                      help="capture block size in samples (default 256; smaller is lower latency)")
    live.add_argument("--size", type=parse_size, default=(1280, 720), metavar="WxH",
                      help="window size in pixels (default 1280x720)")
    live.add_argument("--fullscreen", action="store_true",
                      help="start fullscreen on --monitor at its native mode (F toggles)")
    live.add_argument("--monitor", type=int, default=0, metavar="N",
                      help="monitor index for fullscreen (see `livecppn devices`; default 0)")
    live.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda", "glsl"),
                      help="where the network runs (default auto: cuda where CUDA-GL interop works, else "
                           "glsl on a hardware GL driver, else cpu)")
    live.add_argument("--internal", type=parse_size, metavar="WxH",
                      help="internal render resolution, upscaled for display (default: the output size "
                           "on cuda; on cpu and glsl measured at start-up to hold 30 / 60 fps on this machine)")
    live.add_argument("--set", action="append", default=[], type=param_value, metavar="NAME=VALUE",
                      help="start with a parameter at a value, e.g. --set crossfader=0.5 (repeatable)")
    live.add_argument("--render-scale", type=render_scale, metavar="F",
                      help="render at F times the output size (0.05-1), upscaled by the display shader")
    live.add_argument("--no-vsync", action="store_true", help="do not wait for the display's refresh")
    live.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (H toggles)")
    live.add_argument("--headless", action="store_true",
                      help="render in a hidden window (or EGL without a display) for --frames frames")
    live.add_argument("--frames", type=positive_int, metavar="N", help="stop after N frames")
    live.add_argument("--report", type=Path, metavar="OUT.json",
                      help="write a JSON report (fps, frame times, backend, resolution, parameters)")
    live.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch (default: all)")
    live.add_argument("--bank", type=Path, metavar="FILE",
                      help="bank of styles in numbered slots (TOML; default presets/banks/default.toml)")
    live.add_argument("--osc-port", type=int, default=9000, metavar="PORT",
                      help="UDP port of the OSC server (default 9000; 0 picks a free one)")
    live.add_argument("--osc-host", default="127.0.0.1", metavar="ADDR",
                      help="address the OSC server listens on (default 127.0.0.1; 0.0.0.0 opens it to the network)")
    live.add_argument("--osc-allow", action="append", metavar="ADDR",
                      help="accept OSC only from this address or network, e.g. 192.168.1.0/24 (repeatable)")
    live.add_argument("--osc-send", metavar="HOST:PORT",
                      help="send the audio features out as OSC (for TouchDesigner, Ableton, ...)")
    live.add_argument("--no-osc", action="store_true", help="do not start the OSC server")
    live.add_argument("--midi", action="append", default=[], metavar="PORT",
                      help="MIDI input by name (exact, then substring; repeatable); reconnected when it returns")
    live.add_argument("--midi-map", metavar="FILE",
                      help="MIDI mapping (TOML; a name in presets/mappings/ or a path; default generic)")

    live.add_argument("--record", type=Path, metavar="OUT.mp4",
                      help="record what the projector shows and the audio (H.264 + AAC) from the start, with "
                           "OUT.wav and the automation log OUT.automation.jsonl beside it; R or the `record` "
                           "trigger stops and starts it again (without --record they record to recordings/)")
    live.add_argument("--record-crf", type=int, default=20, metavar="N",
                      help="recording quality: H.264 constant quality, 0-51, lower is better (default 20)")
    live.add_argument("--record-fps", type=float, default=30.0, metavar="N",
                      help="pictures a second in the recording, at most the show's rate (default 30; 0: every "
                           "frame shown)")
    live.add_argument("--record-codec", default="auto", choices=("auto", "libx264", "h264_nvenc"),
                      help="recording encoder (default auto: NVENC where it works, else libx264)")

    render = sub.add_parser(
        "render", help="render a video of a track offline (any size and fps, frame-exact)",
        description="Render TRACK through the same analyser, network and shaders as `livecppn live`, under the "
                    "offline frame clock (frame n sees the audio up to n/fps), to an H.264 MP4 with the "
                    "track's audio as AAC, or to a folder of PNGs. Deterministic: the same inputs give the "
                    "same frames. With --automation, replays a show's control changes (from `live --record`).",
    )
    render.add_argument("track", type=Path, help="audio file (wav, mp3, flac, ...; a recording's OUT.wav)")
    render.add_argument("out", type=Path, help="OUT.mp4 (.mov, .mkv), or a folder for a PNG sequence")
    render.add_argument("--style", type=Path, metavar="PATH",
                        help="deck A's style (default: the shipped default, or the automation log's)")
    render.add_argument("--bank", type=Path, metavar="FILE", help="bank for deck loads (default: the shipped one)")
    render.add_argument("--size", type=parse_size, default=(1920, 1080), metavar="WxH",
                        help="output size (default 1920x1080)")
    render.add_argument("--fps", type=float, default=60.0, help="frame rate (default 60)")
    render.add_argument("--internal", type=parse_size, metavar="WxH",
                        help="the network's resolution, upscaled by the compositor (default: the output size)")
    render.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda", "glsl"),
                        help="where the network runs (default auto: cuda where CUDA-GL interop works, else "
                             "glsl on a hardware GL driver, else cpu)")
    render.add_argument("--automation", type=Path, metavar="FILE",
                        help="replay a show's automation log (OUT.automation.jsonl from `live --record`)")
    render.add_argument("--set", action="append", default=[], type=param_value, metavar="NAME=VALUE",
                        help="start with a parameter at a value (repeatable)")
    render.add_argument("--seconds", type=float, metavar="S", help="render only the first S seconds")
    render.add_argument("--codec", default="auto", metavar="NAME",
                        help="auto (h264_nvenc where it works, else libx264), libx264, h264_nvenc, or png")
    render.add_argument("--crf", type=int, default=18, metavar="N",
                        help="H.264 constant quality, 0-51, lower is better and bigger (default 18)")
    render.add_argument("--bitrate", metavar="RATE", help="a target bitrate instead of --crf, e.g. 20M")
    render.add_argument("--preset", default="veryfast", metavar="NAME",
                        help="libx264 speed/size preset (ultrafast ... veryslow; default veryfast)")
    render.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("devices", help="list audio devices and monitors",
                   description="List audio input/output devices and the monitors glfw can see.")

    analyze = sub.add_parser(
        "analyze", help="run the live audio analyser over a file and write what it saw",
        description="Feed an audio file through the same analyser `livecppn live` uses, frame by frame "
                    "as live (not a whole-file algorithm), and write per-frame features, onset times "
                    "and tempo as JSON.",
    )
    analyze.add_argument("file", type=Path, help="audio file (wav, mp3, flac, ...)")
    analyze.add_argument("--json", type=Path, metavar="OUT.json", help="write the analysis here")
    analyze.add_argument("--fps", type=float, default=60.0, help="analysis frame rate (default 60)")

    from .offline.train_options import add_train_parser  # the standard library only: no torch, no open_clip

    add_train_parser(sub)

    styles = sub.add_parser("styles", help="work with style files (report)",
                            description="Style files: `livecppn styles report` measures them.")
    styles.set_defaults(styles_help=styles.print_help)
    styles_sub = styles.add_subparsers(dest="styles_command", metavar="ACTION")
    rep = styles_sub.add_parser(
        "report", help="render styles under standard audio and measure them",
        description="Render each style under a standard set of audio states and a short built-in clip, and "
                    "write a contact sheet (PNG), report.json and report.md: temporal coherence, audio "
                    "reactivity, spatial variation, colourfulness and distinctness, each against the "
                    "README's thresholds. Exits 1 when a style fails one.",
    )
    rep.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="style files or folders of them (default: the shipped bank's styles)")
    rep.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the report")
    rep.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    return p


def cmd_live(args) -> int:
    import dataclasses

    from .audio.sources import AudioError
    from .live import LiveOptions, run_live
    from .media.encode import EncodeError, EncodeOptions
    from .render.backends import BackendError
    from .show.recorder import LIVE_ENCODE
    from .render.window import WindowError

    if args.headless and args.frames is None:
        log.error("--headless needs --frames N (there is no window to close)")
        return 2
    opts = LiveOptions(
        style=args.style, audio=args.audio, mute=args.mute, audio_block=args.audio_block,
        size=args.size, fullscreen=args.fullscreen,
        monitor=args.monitor, headless=args.headless, frames=args.frames, report=args.report,
        backend=args.backend, internal=args.internal, render_scale=args.render_scale,
        vsync=not args.no_vsync, hud=not args.no_hud,
        threads=args.threads, bank=args.bank, osc_port=None if args.no_osc else args.osc_port,
        osc_host=args.osc_host, osc_allow=args.osc_allow, osc_send=args.osc_send, midi=args.midi,
        midi_map=args.midi_map, initial=dict(args.set), record=args.record,
        record_options=dataclasses.replace(LIVE_ENCODE, codec=args.record_codec, crf=args.record_crf),
        record_fps=args.record_fps,
    )
    if args.record_fps < 0:
        log.error("--record-fps must be 0 (every frame shown) or more, got %g", args.record_fps)
        return 2
    try:
        EncodeOptions.check(opts.record_options)
    except EncodeError as e:
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


def parse_bitrate(text: str | None) -> int | None:
    if text is None:
        return None
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        raise ValueError(f"--bitrate: expected a rate such as 8M or 2500k, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"--bitrate must be positive, got {text!r}")
    return int(value)


def cmd_render(args) -> int:
    import json

    from .media.encode import EncodeError, EncodeOptions
    from .offline.render import RenderError, RenderInterrupted, RenderOptions, render_file

    try:
        encode = EncodeOptions(codec=args.codec, crf=args.crf, bitrate=parse_bitrate(args.bitrate), preset=args.preset)
        encode.check()
    except (ValueError, EncodeError) as e:
        log.error("%s", e)
        return 2
    if args.seconds is not None and not args.seconds > 0:
        log.error("--seconds must be positive, got %s", args.seconds)
        return 2
    opts = RenderOptions(track=args.track, out=args.out, style=args.style, bank=args.bank, size=args.size,
                         fps=args.fps, internal=args.internal, backend=args.backend, automation=args.automation,
                         seconds=args.seconds, initial=dict(args.set), encode=encode, progress=not args.quiet)
    try:
        summary = render_file(opts)
    except RenderInterrupted as e:
        log.error("%s", e)
        return 130
    except RenderError as e:
        log.error("%s", e)
        return 1
    summary["events"] = len(summary["events"])
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

    if args.styles_command != "report":
        args.styles_help()
        return 2
    from .offline.report import ReportError, markdown_table, report, write_report

    try:
        reports, thumbs = report(args.paths)
    except ReportError as e:
        log.error("%s", e)
        return 1
    doc = write_report(reports, thumbs, args.out)
    print(json.dumps(doc, indent=2) if args.json else markdown_table(reports))
    if not args.json:
        print(f"wrote {args.out / 'contact_sheet.png'}, report.json and report.md")
    return 0 if doc["passed"] else 1


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
    return {"live": cmd_live, "devices": cmd_devices, "analyze": cmd_analyze, "train": cmd_train,
            "styles": cmd_styles, "render": cmd_render}[args.command](args)
