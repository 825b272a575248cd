"""`livecppn live`'s settings: LiveOptions, its command line, and LiveOptions from the parsed arguments.

The defaults are the dataclass's; the parser reads them from it. Nothing here
imports the trainer (open_clip, torchvision): `livecppn live` never loads it
(DESIGN §3).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .argtypes import add_backend_option, format_size, param_value, parse_size, positive_int, render_scale
from .media.encode import EncodeError, EncodeOptions
from .show.outputs.taps import TapConfig
from .show.recorder import LIVE_ENCODE, RECORD_FPS

RECORD_CODECS = ("auto", "libx264", "h264_nvenc")


class LiveOptionsError(ValueError):
    """Options that cannot make a show; the message names the option and what was expected."""


@dataclass
class LiveOptions:
    style: Path | None = None  # deck A's style (default: the shipped default)
    bank: Path | None = None  # default: presets/banks/default.toml; deck B starts on its slot 2
    audio: str | None = None
    mute: bool = False  # a file source is analysed without playing it
    audio_block: int = 256  # device capture block (samples)
    size: tuple[int, int] = (1280, 720)
    fullscreen: bool = False
    monitor: int = 0
    headless: bool = False
    frames: int | None = None  # stop after this many frames (None: until quit)
    report: Path | None = None
    backend: str = "auto"
    internal: tuple[int, int] | None = None  # None: output × render_scale, or chosen by calibration
    render_scale: float | None = None  # internal = output × this (default: 1 on cuda, calibrated on cpu and glsl)
    vsync: bool = True
    hud: bool = True
    threads: int | None = None
    osc_port: int | None = 9000  # None: no OSC server
    osc_host: str = "127.0.0.1"  # listening on the network is opt-in
    osc_allow: list[str] | None = None  # source addresses accepted (default: any that can reach the port)
    osc_send: str | None = None  # HOST:PORT that receives the audio features
    midi: list[str] = field(default_factory=list)  # MIDI input names (exact, then substring)
    midi_map: Path | None = None  # default: presets/mappings/generic.toml
    midi_out: list[str] = field(default_factory=list)  # feedback outputs (default: the mapping's, else the inputs')
    link: bool = False  # join the Ableton Link session (opt-in: it talks to the network; a GPL extra)
    initial: dict[str, float] = field(default_factory=dict)  # parameter values to start from (--set NAME=VALUE)
    record: Path | None = None  # record the output, the audio and the automation log here from the start
    record_options: EncodeOptions = LIVE_ENCODE
    record_fps: float = RECORD_FPS  # pictures a second in the recording (0: every frame shown)
    # Output taps opened at the start, by kind ("ndi", "vcam", "syphon", "spout"): how each opens (also
    # when its trigger opens it later).
    outputs: dict[str, TapConfig] = field(default_factory=dict)
    # More taps, each made from the GL context (tools and tests: a probe that keeps the pictures).
    extra_taps: tuple = ()
    # Called after each frame is shown with (frame index, frame start, frame shown, params, the parameters
    # a controller set in it), perf_counter seconds; for measurements (tools/bench_osc.py). Render thread.
    on_frame: Callable[[int, float, float, object, frozenset], None] | None = None
    # Called after each frame's ShowStatus is published with (status, the time.monotonic() second its audio
    # snapshot was taken); for tests and tools that compare the beat with a clock (tests/test_link.py).
    on_status: Callable[[object, float], None] | None = None


def _keys() -> list[tuple[str, str]]:
    """(keys, trigger) from the registry, for the help."""
    from .control.registry import default_registry

    return [(", ".join(t.keys), t.name) for t in default_registry().triggers if t.keys]


def add_live_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "live", help="run the show: listen, render, display",
        description="Open a window showing a style that moves with the music. Keys: "
                    + ", ".join(f"{keys} {name}" for keys, name in _keys()) + ".",
    )
    _add_show_options(p, LiveOptions)
    _add_controller_options(p, LiveOptions)
    _add_record_options(p, LiveOptions)
    _add_output_options(p)
    return p


def add_check_parser(sub) -> argparse.ArgumentParser:
    """`livecppn check`: live's options, checked without opening anything (show/setcheck.py)."""
    p = sub.add_parser(
        "check", help="check tonight's set: everything `livecppn live` would load, without starting it",
        description="Take the same options as `livecppn live` and check, in one pass, everything the show "
                    "would load: the style, the bank and every slot's style file, the MIDI mapping, each "
                    "--osc-* and --midi* option, the record path, the extras an output or --link needs, "
                    "--set values. Prints every problem with its file and line or option, or \"ok: "
                    "tonight's set loads\". Exits 1 on a problem; warnings (a MIDI port not plugged in "
                    "yet, a take that will get a -N name) do not fail the check.",
    )
    _add_show_options(p, LiveOptions)
    _add_controller_options(p, LiveOptions)
    _add_record_options(p, LiveOptions)
    _add_output_options(p)
    return p


def _add_show_options(p: argparse.ArgumentParser, d: type[LiveOptions]) -> None:
    """What plays, how it is heard, where and how it is drawn."""
    p.add_argument("--style", type=Path, metavar="PATH",
                   help="style file (.safetensors) or a style's name (the user's styles first, then the shipped; "
                        "`livecppn paths`); default: the default style")
    p.add_argument("--audio", metavar="FILE_OR_DEVICE",
                   help="audio input: an audio file (wav, mp3, flac, ...) played to the speakers and "
                        "analysed in sync; an input device index or name (exact, then substring match; "
                        "see `livecppn devices`); 'loopback' for what this computer is playing; "
                        "'synthetic' for the built-in beat; or 'default' (the default input; falls back "
                        "to the synthetic beat when there is none). Default: default")
    p.add_argument("--mute", action="store_true",
                   help="with an audio file: analyse it without playing it to the speakers")
    p.add_argument("--audio-block", type=positive_int, default=d.audio_block, metavar="N",
                   help=f"capture block size in samples (default {d.audio_block}; smaller is lower latency)")
    p.add_argument("--size", type=parse_size, default=d.size, metavar="WxH",
                   help=f"window size in pixels (default {format_size(d.size)})")
    p.add_argument("--fullscreen", action="store_true",
                   help="start fullscreen on --monitor at its native mode (F toggles)")
    p.add_argument("--monitor", type=int, default=d.monitor, metavar="N",
                   help=f"monitor index for fullscreen (see `livecppn devices`; default {d.monitor})")
    add_backend_option(p, d.backend)
    p.add_argument("--internal", type=parse_size, metavar="WxH",
                   help="internal render resolution, upscaled for display (default: the output size "
                        "on cuda; on cpu and glsl measured at start-up to hold 30 / 60 fps on this machine)")
    p.add_argument("--set", action="append", default=[], type=param_value, metavar="NAME=VALUE",
                   help="start with a parameter at a value, e.g. --set crossfader=0.5 (repeatable)")
    p.add_argument("--render-scale", type=render_scale, metavar="F",
                   help="render at F times the output size (0.05-1), upscaled by the display shader")
    p.add_argument("--no-vsync", action="store_true", help="do not wait for the display's refresh")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (H toggles)")
    p.add_argument("--headless", action="store_true",
                   help="render in a hidden window (or EGL without a display) for --frames frames")
    p.add_argument("--frames", type=positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--report", type=Path, metavar="OUT.json",
                   help="write a JSON report (fps, frame times, backend, resolution, parameters)")
    p.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch (default: all)")
    p.add_argument("--bank", type=Path, metavar="FILE",
                   help="bank of styles in numbered slots (TOML; a path or a name, the user's banks first; "
                        "default: the bank named default)")


def _add_controller_options(p: argparse.ArgumentParser, d: type[LiveOptions]) -> None:
    """OSC in and out, MIDI in and feedback out."""
    p.add_argument("--osc-port", type=int, default=d.osc_port, metavar="PORT",
                   help=f"UDP port of the OSC server (default {d.osc_port}; 0 picks a free one)")
    p.add_argument("--osc-host", default=d.osc_host, metavar="ADDR",
                   help=f"address the OSC server listens on (default {d.osc_host}; 0.0.0.0 opens it to the network)")
    p.add_argument("--osc-allow", action="append", metavar="ADDR",
                   help="accept OSC only from this address or network, e.g. 192.168.1.0/24 (repeatable)")
    p.add_argument("--osc-send", metavar="HOST:PORT",
                   help="send the audio features out as OSC (for TouchDesigner, Ableton, ...)")
    p.add_argument("--no-osc", action="store_true", help="do not start the OSC server")
    p.add_argument("--midi", action="append", default=[], metavar="PORT",
                   help="MIDI input by name (exact, then substring; repeatable); reconnected when it returns")
    p.add_argument("--midi-map", metavar="FILE",
                   help="MIDI mapping (TOML; a path, or a name: the user's mappings first, then the shipped; "
                        "default generic)")
    p.add_argument("--midi-out", action="append", default=[], metavar="PORT",
                   help="MIDI output for feedback (LEDs, motor faders) by name (exact, then substring; "
                        "repeatable); default: the mapping's [feedback] port, else the output named like each "
                        "--midi input")
    p.add_argument("--link", action="store_true",
                   help="join the Ableton Link session on the local network: its tempo and beat lead while "
                        "peers are present; tap and the `bpm` trigger set its tempo (needs the `link` extra)")


def _add_record_options(p: argparse.ArgumentParser, d: type[LiveOptions]) -> None:
    """Recording the show (picture, audio and the automation log)."""
    p.add_argument("--record", type=Path, metavar="OUT.mp4",
                   help="record what the projector shows and the audio (H.264 + AAC) from the start, with "
                        "OUT.wav and the automation log OUT.automation.jsonl beside it; R or the `record` "
                        "trigger stops and starts it again (without --record they record to the recordings folder: `livecppn paths`)")
    p.add_argument("--record-crf", type=int, default=d.record_options.crf, metavar="N",
                   help="recording quality: H.264 constant quality, 0-51, lower is better "
                        f"(default {d.record_options.crf})")
    p.add_argument("--record-fps", type=float, default=d.record_fps, metavar="N",
                   help=f"pictures a second in the recording, at most the show's rate (default {d.record_fps:g}; "
                        "0: every frame shown)")
    p.add_argument("--record-codec", default=d.record_options.codec, choices=RECORD_CODECS,
                   help=f"recording encoder (default {d.record_options.codec}: NVENC where it works, else libx264)")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """Output taps: the picture to the rest of a VJ rig (README, In a rig)."""
    g = p.add_argument_group("outputs to other programs (README: In a rig)")
    g.add_argument("--ndi", nargs="?", const="livecppn", metavar="NAME",
                   help="send the output as an NDI source named NAME (default livecppn); needs livecppn[rig]")
    g.add_argument("--ndi-size", type=parse_size, metavar="WxH", help="NDI picture size (default: the output's)")
    g.add_argument("--ndi-fps", type=float, default=0.0, metavar="N",
                   help="NDI pictures a second (default 0: every frame shown)")
    g.add_argument("--vcam", "--v4l2", nargs="?", const="", metavar="DEVICE",
                   help="send the output to a virtual camera: /dev/videoN (v4l2loopback) on Linux, OBS's virtual "
                        "camera on Windows and macOS (default: the first one found); needs livecppn[rig]")
    g.add_argument("--vcam-size", type=parse_size, metavar="WxH", help="virtual camera size (default 1280x720)")
    g.add_argument("--vcam-fps", type=float, default=0.0, metavar="N", help="virtual camera rate (default 30)")
    g.add_argument("--syphon", nargs="?", const="livecppn", metavar="NAME",
                   help="share the output over Syphon as NAME (macOS; untested)")
    g.add_argument("--spout", nargs="?", const="livecppn", metavar="NAME",
                   help="share the output over Spout as NAME (Windows; untested)")


def outputs_from_args(args: argparse.Namespace) -> dict[str, TapConfig]:
    """The taps asked for on the command line, and how the others open if a trigger asks."""
    outputs = {}
    for kind in ("ndi", "vcam"):
        fps = getattr(args, f"{kind}_fps")
        if fps < 0:
            raise LiveOptionsError(f"--{kind}-fps must be 0 (every frame shown) or more, got {fps:g}")
    given = {"ndi": (args.ndi, args.ndi_size, args.ndi_fps), "vcam": (args.vcam, args.vcam_size, args.vcam_fps),
             "syphon": (args.syphon, None, 0.0), "spout": (args.spout, None, 0.0)}
    for kind, (target, size, fps) in given.items():
        if target is not None or size is not None or fps:  # a size or rate alone: for the trigger to open
            outputs[kind] = TapConfig(target or None, size, fps, at_start=target is not None)
    return outputs


def options_from_args(args: argparse.Namespace) -> LiveOptions:
    """LiveOptions from `livecppn live`'s parsed arguments. Raises LiveOptionsError."""
    if args.headless and args.frames is None:
        raise LiveOptionsError("--headless needs --frames N (there is no window to close)")
    if args.record_fps < 0:
        raise LiveOptionsError(f"--record-fps must be 0 (every frame shown) or more, got {args.record_fps:g}")
    record_options = dataclasses.replace(LiveOptions.record_options, codec=args.record_codec, crf=args.record_crf)
    try:
        record_options.check()
    except EncodeError as e:
        raise LiveOptionsError(str(e)) from None
    return LiveOptions(
        style=args.style, audio=args.audio, mute=args.mute, audio_block=args.audio_block,
        size=args.size, fullscreen=args.fullscreen,
        monitor=args.monitor, headless=args.headless, frames=args.frames, report=args.report,
        backend=args.backend, internal=args.internal, render_scale=args.render_scale,
        vsync=not args.no_vsync, hud=not args.no_hud,
        threads=args.threads, bank=args.bank, osc_port=None if args.no_osc else args.osc_port,
        osc_host=args.osc_host, osc_allow=args.osc_allow, osc_send=args.osc_send, midi=args.midi,
        midi_map=args.midi_map, midi_out=args.midi_out, link=args.link, initial=dict(args.set),
        record=args.record, record_options=record_options, record_fps=args.record_fps,
        outputs=outputs_from_args(args),
    )
