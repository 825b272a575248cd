"""Loopback capture: what the computer is playing (`--audio loopback`).

Linux: the monitor of the default PulseAudio/PipeWire sink, recorded through
ALSA's "pulse" device with PULSE_SOURCE set for the open (libpulse reads it when
the stream's context is created). Windows: the default output's WASAPI loopback
input through PyAudioWPatch (a dependency there; untested so far). Otherwise (and
macOS): a loopback-style input picked by name (see LOOPBACK_HELP).
"""

from __future__ import annotations

import sys

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


def loopback_source(sink: str | None = None, block: int = 256) -> DeviceSource:
    """A DeviceSource recording what the computer plays (`--audio loopback`).

    Linux with PulseAudio/PipeWire: the monitor of `sink` (default: the default sink at open
    time), at the monitor's own rate and channels; a sink that vanishes is waited for by name.
    Elsewhere (or without a sound server): the first input whose name looks like a loopback
    device (LOOPBACK_NAMES). Raises AudioError explaining the platform's route when none exists.
    """
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
        try:
            return DeviceSource("pulse", sample_rate=rate or None, block=block, channels=min(max(channels, 1), 2),
                                pulse_source=monitor, name=f"loopback: {monitor}")
        except AudioError as e:
            raise AudioError(f"loopback: cannot record {monitor}: {e}. {LOOPBACK_HELP['linux']}") from e
    if sink is not None:
        raise AudioError(f"loopback of sink {sink!r} needs PulseAudio or PipeWire (pactl info fails). "
                         f"{LOOPBACK_HELP['linux']}")
    if platform == "win32":  # the default output's own WASAPI loopback, before any input that looks like one
        device = wasapi_default_loopback()
        if device is not None:
            return DeviceSource(device["index"], block=block, name=f"loopback: {device['name']}")
    inputs = [d for d in list_devices() if d["max_input_channels"] > 0]
    for key in LOOPBACK_NAMES:
        for d in inputs:
            if key in d["name"].lower():
                return DeviceSource(d["index"], block=block, name=f"loopback: {d['name']}")
    names = ", ".join(d["name"] for d in inputs) or "none"
    raise AudioError(f"no loopback input found (inputs: {names}). "
                     f"{LOOPBACK_HELP.get(platform, LOOPBACK_HELP['linux'])}")
