"""The doctor's checks of what comes in: audio inputs, the loopback route and a level meter, MIDI ports
in and out, and the OSC port. Each opens only what it measures and closes it before returning."""

from __future__ import annotations

import math
import os
import socket
import time

import numpy as np

from .check import Check

SILENCE_DBFS = -60.0  # a peak below this over the meter's seconds: nothing is arriving
FIRST_BLOCK_S = 3.0  # an idle PulseAudio monitor can take ~2 s to deliver its first block


def audio_inputs_check() -> Check:
    from ..audio.sources import AudioError, list_devices

    try:
        devices = list_devices()
    except AudioError as e:
        return Check("audio-in", "warning", f"cannot list audio devices: {e}",
                     "Without inputs the show plays its built-in synthetic beat.")
    inputs = [d for d in devices if d["max_input_channels"] > 0]
    default = next((d["name"] for d in inputs if d["default_input"]), None)
    data = {"inputs": [{"index": d["index"], "name": d["name"], "channels": d["max_input_channels"],
                        "rate": d["default_sample_rate"], "default": d["default_input"]} for d in inputs]}
    if not inputs:
        return Check("audio-in", "warning", "no audio inputs",
                     "The show falls back to the synthetic beat; plug in an interface or use --audio FILE.", data)
    names = ", ".join(d["name"] + ("*" if d["default_input"] else "") for d in inputs)
    return Check("audio-in", "ok" if default else "warning", f"{len(inputs)}: {names}",
                 "" if default else "No default input: name one with --audio.", data)


def loopback_check() -> Check:
    from ..audio.loopback import loopback_route
    from ..audio.sources import AudioError

    try:
        route = loopback_route()
    except AudioError as e:
        return Check("loopback", "info", f"no loopback route: {e}"[:300],
                     "Only needed for --audio loopback (music playing on this computer).", {"error": str(e)})
    data = {"name": route.name, "device": route.device, "pulse_source": route.pulse_source}
    return Check("loopback", "ok", f"--audio loopback records {route.name.removeprefix('loopback: ')}", data=data)


def level_check(spec: str | None, seconds: float) -> Check:
    """Open the input the show would (`--audio`), meter `seconds` of it, close it."""
    from ..audio.sources import AudioError, SyntheticSource, open_source

    label = spec or "default"
    if seconds <= 0:
        return Check("audio-level", "info", f"{label}: not measured (--seconds 0)")
    try:
        source = open_source(spec)
    except AudioError as e:
        return Check("audio-level", "problem", f"--audio {label}: cannot open: {e}"[:300],
                     "`livecppn live --audio` with this value would stop at start; see audio-in for the "
                     "inputs, or use `--audio loopback`.", {"audio": spec, "error": str(e)})
    if isinstance(source, SyntheticSource) and spec != "synthetic":
        return Check("audio-level", "warning", "no usable default input: the show would play the synthetic beat",
                     "Name an input with --audio (see audio-in) or use --audio loopback.", {"audio": spec})
    try:
        level = _meter(source, seconds)
    finally:
        source.stop()
    data = {"audio": spec, "source": source.name, "sample_rate": source.sample_rate, **level}
    where = f"{source.name} ({source.sample_rate} Hz)"
    if level["frames"] == 0:
        return Check("audio-level", "warning", f"{where}: no audio arrived in {FIRST_BLOCK_S + seconds:.0f} s",
                     "The device opened but delivered nothing: check the sound server and the device.", data)
    if level["peak_dbfs"] < SILENCE_DBFS:
        return Check("audio-level", "warning", f"{where}: silence over {level['seconds']:.1f} s "
                     f"(peak {level['peak_dbfs']:.0f} dBFS)",
                     "Is the music playing into this input? Check the cable, gain, or choose another --audio.", data)
    return Check("audio-level", "ok", f"{where}: peak {level['peak_dbfs']:.1f} dBFS, rms {level['rms_dbfs']:.1f} dBFS "
                 f"over {level['seconds']:.1f} s", data=data)


def _meter(source, seconds: float) -> dict:
    """Peak and RMS (dBFS) of what arrives in `seconds`, counted from the first block."""
    source.start()
    ring = source.ring
    deadline = time.monotonic() + FIRST_BLOCK_S
    while ring.frames_written == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    pos, peak, energy, frames = ring.frames_written, 0.0, 0.0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)
        now, start = ring.frames_written, max(pos, ring.oldest)
        if now > start:
            block = ring.read(start, now - start)
            pos = now
            peak = max(peak, float(np.max(np.abs(block))) if len(block) else 0.0)
            energy += float(np.sum(block.astype(np.float64) ** 2))
            frames += len(block)
    return {"frames": frames, "seconds": frames / source.sample_rate, "peak_dbfs": _db(peak),
            "rms_dbfs": _db(math.sqrt(energy / frames)) if frames else -math.inf}


def _db(x: float) -> float:
    return round(20 * math.log10(x), 1) if x > 1e-10 else -200.0


def midi_checks() -> list[Check]:
    """Inputs and outputs on the API `livecppn live` uses ($MIDO_BACKEND), and on JACK where a JACK
    server runs and the show is not already set to it (then the advice says how to use it)."""
    import rtmidi

    from ..control.midi_ports import rtmidi_api

    try:
        api = rtmidi_api()
    except ValueError as e:
        return [Check("midi-in", "warning", str(e), "Fix MIDO_BACKEND (or unset it) before using --midi.")]
    apis = [api] + [a for a in (rtmidi.API_UNIX_JACK,) if a in rtmidi.get_compiled_api() and a != api]
    scans = {a: _scan_midi(a) for a in apis}
    # API_UNSPECIFIED: rtmidi takes the first API compiled in (ALSA on Linux)
    name = {a: rtmidi.get_api_display_name(a if a != rtmidi.API_UNSPECIFIED else rtmidi.get_compiled_api()[0])
            for a in apis}
    out = []
    for kind, key in (("midi-in", "inputs"), ("midi-out", "outputs")):
        ours = scans[api]
        data = {"api": name[api], key: ours.get(key, []), "error": ours.get("error"),
                "other": {name[a]: s for a, s in scans.items() if a != api}}
        others = [(a, s) for a, s in scans.items() if a != api and s.get(key)]
        if ours.get(key):
            out.append(Check(kind, "ok", f"{name[api]}: {', '.join(ours[key])}", data=data))
        elif others:
            a, s = others[0]
            out.append(Check(kind, "warning", f"none on {name[api]}"
                             f"{' (' + ours['error'] + ')' if ours.get('error') else ''}; "
                             f"on {name[a]}: {', '.join(s[key])}",
                             f"export MIDO_BACKEND=mido.backends.rtmidi/{_api_const(a)} to use them.", data))
        else:
            why = f" ({ours['error']})" if ours.get("error") else ""
            out.append(Check(kind, "info", f"no MIDI {key} on {name[api]}{why}",
                             "Only needed for MIDI controllers (--midi) or MIDI clock.", data))
    return out


def _api_const(api: int) -> str:
    import rtmidi

    return next(n[4:] for n in dir(rtmidi) if n.startswith("API_") and getattr(rtmidi, n) == api)


def _scan_midi(api: int) -> dict:
    """{"inputs": [...], "outputs": [...]} or {"error": why}. A JACK client never starts a server here."""
    import rtmidi

    from ..audio.devices import _quiet_stderr
    from ..control.midi_ports import CLIENT_NAME, is_own

    old = os.environ.get("JACK_NO_START_SERVER")
    os.environ["JACK_NO_START_SERVER"] = "1"
    found = {}
    try:
        with _quiet_stderr():  # ALSA and JACK print pages about a sequencer or server that is not there
            for key, cls in (("inputs", rtmidi.MidiIn), ("outputs", rtmidi.MidiOut)):
                port = cls(rtapi=api, name=f"{CLIENT_NAME}-doctor")
                try:
                    found[key] = [p for p in port.get_ports() if not is_own(p)]
                finally:
                    port.delete()
    except Exception as e:  # noqa: BLE001 - rtmidi raises its own errors when a MIDI system is absent
        return {"error": str(e).split(":")[-1].strip() or type(e).__name__}
    finally:
        if old is None:
            os.environ.pop("JACK_NO_START_SERVER", None)
        else:
            os.environ["JACK_NO_START_SERVER"] = old
    return found


def osc_check(host: str, port: int) -> Check:
    """Whether the OSC server could listen where `livecppn live` will (a plain bind, as OscControl does)."""
    data = {"host": host, "port": port}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as e:
            data["error"] = e.strerror or str(e)
            return Check("osc", "problem", f"UDP {host}:{port} cannot be used: {data['error']}",
                         f"Another program holds it (`ss -lunp 'sport = :{port}'` names it): the show would "
                         "run with OSC off and no controller could reach it. Close that program or pick "
                         "another --osc-port (and tell your controllers).", data)
    return Check("osc", "ok", f"UDP {host}:{port} is free", data=data)
