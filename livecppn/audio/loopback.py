"""Loopback capture: what the computer is playing (`--audio loopback`).

Linux: the monitor of the default PulseAudio/PipeWire sink, recorded through
ALSA's "pulse" device with PULSE_SOURCE set for the open (libpulse reads it when
the stream's context is created). Windows: the default output's WASAPI loopback
input through PyAudioWPatch (a dependency there; untested so far). Otherwise (and
macOS): a loopback-style input picked by name (see LOOPBACK_HELP).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .base import AudioError
from .devices import DeviceSource, list_devices, wasapi_default_loopback
from .pulse import pulse_default_sink, pulse_sources

# Substrings (lower case) of input names that carry what the computer plays, best first.
LOOPBACK_NAMES = ("[loopback]", "loopback", "blackhole", "stereo mix", "what u hear", "cable output",
                  "soundflower", "monitor of")

LOOPBACK_HELP = {
    "win32": "On Windows, livecppn records the default output through PyAudioWPatch's WASAPI "
             "\"[Loopback]\" inputs (pip install PyAudioWPatch, if it is missing); or enable \"Stereo Mix\" (Sound settings > "
             "Recording > show disabled devices); or install VB-Audio Virtual Cable, play through "
             "\"CABLE Input\" and capture \"CABLE Output\".",
    "darwin": "On macOS, install BlackHole (brew install blackhole-2ch), create a Multi-Output Device "
              "in Audio MIDI Setup with your speakers and \"BlackHole 2ch\", and make it the system "
              "output; livecppn then records \"BlackHole 2ch\".",
    "linux": "On Linux, loopback records the monitor of the default PulseAudio/PipeWire sink through "
             "ALSA's \"pulse\" device: it needs a running PulseAudio or pipewire-pulse, pactl "
             "(pulseaudio-utils) and ALSA's pulse plugin (libasound2-plugins).",
}


@dataclass(frozen=True)
class LoopbackRoute:
    """Where loopback capture records from on this machine (found, not opened)."""

    device: int | str  # what DeviceSource opens: "pulse" (ALSA's PulseAudio device) or a PortAudio index
    name: str  # what the show calls it ("loopback: livecppn_test.monitor")
    pulse_source: str | None = None  # the PulseAudio monitor recorded (Linux)
    sample_rate: int | None = None
    channels: int | None = None


def loopback_route(sink: str | None = None) -> LoopbackRoute:
    """The loopback route `--audio loopback` takes here; AudioError explaining the platform's route
    when none exists. Opens nothing (`livecppn doctor` reports it; loopback_source opens it)."""
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    sources = pulse_sources() if platform == "linux" else None
    if sources is not None:
        sink = sink or pulse_default_sink()
        if not sink:
            raise AudioError("loopback: PulseAudio has no default sink to record")
        monitor = f"{sink}.monitor"
        if monitor not in sources:
            raise AudioError(f"loopback: PulseAudio sink {sink!r} has no monitor source {monitor!r}; "
                             f"sources: {', '.join(sources) or 'none'}")
        rate, channels = sources[monitor]
        return LoopbackRoute("pulse", f"loopback: {monitor}", monitor, rate or None, min(max(channels, 1), 2))
    if sink is not None:
        raise AudioError(f"loopback of sink {sink!r} needs PulseAudio or PipeWire (pactl info fails). "
                         f"{LOOPBACK_HELP['linux']}")
    if platform == "win32":  # the default output's own WASAPI loopback, before any input that looks like one
        device = wasapi_default_loopback()
        if device is not None:
            return LoopbackRoute(device["index"], f"loopback: {device['name']}")
    inputs = [d for d in list_devices() if d["max_input_channels"] > 0]
    for key in LOOPBACK_NAMES:
        for d in inputs:
            if key in d["name"].lower():
                return LoopbackRoute(d["index"], f"loopback: {d['name']}")
    names = ", ".join(d["name"] for d in inputs) or "none"
    raise AudioError(f"no loopback input found (inputs: {names}). "
                     f"{LOOPBACK_HELP.get(platform, LOOPBACK_HELP['linux'])}")


def loopback_source(sink: str | None = None, block: int = 256) -> DeviceSource:
    """A DeviceSource recording what the computer plays (`--audio loopback`).

    Linux with PulseAudio/PipeWire: the monitor of `sink` (default: the default sink at open
    time), at the monitor's own rate and channels; a sink that vanishes is waited for by name.
    Elsewhere (or without a sound server): the first input whose name looks like a loopback
    device (LOOPBACK_NAMES). Raises AudioError explaining the platform's route when none exists.
    """
    route = loopback_route(sink)
    if route.pulse_source is None:
        return DeviceSource(route.device, block=block, name=route.name)
    try:
        return DeviceSource(route.device, sample_rate=route.sample_rate, block=block, channels=route.channels,
                            pulse_source=route.pulse_source, name=route.name)
    except AudioError as e:
        raise AudioError(f"loopback: cannot record {route.pulse_source}: {e}. {LOOPBACK_HELP['linux']}") from e
