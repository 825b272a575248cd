"""`livecppn doctor`: will tonight work, and if not, why — in one screen.

Each check is a small function returning a frozen Check (check.py): the machine (system.py), the GPU
and what the show will render at (gpu.py), and what comes in (io.py). The doctor opens things only
to measure them and closes them again; it never starts anything that talks to the network (NDI,
Link). Exit status: 1 when a check found a problem that blocks the show, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from .check import Check, as_json, overall, table

__all__ = ["Check", "DoctorOptions", "as_json", "overall", "run_checks", "table"]


@dataclass(frozen=True)
class DoctorOptions:
    audio: str | None = None  # the input to meter, as `livecppn live --audio` (None: the default input)
    seconds: float = 2.0  # level meter; 0 skips it
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    size: tuple[int, int] = (1280, 720)  # the output the internal resolution is calibrated for
    gl: bool = True  # False: skip GL, CUDA and the calibration
    calibrate: bool = True


def run_checks(opts: DoctorOptions) -> list[Check]:
    """Every check, in the order they are shown. Audio (PortAudio) runs before MIDI opens JACK clients."""
    from . import gpu, io, system

    groups = [("python", system.python_check), ("packages", system.packages_check)]
    if opts.gl:
        groups.append(("gl", lambda: gpu.gpu_checks(opts.size, opts.calibrate)))
    groups += [("audio-in", io.audio_inputs_check), ("loopback", io.loopback_check),
               ("audio-level", lambda: io.level_check(opts.audio, opts.seconds)), ("midi-in", io.midi_checks),
               ("osc", lambda: io.osc_check(opts.osc_host, opts.osc_port)), ("disk", system.disk_check),
               ("optional", system.optional_checks), ("paths", system.paths_check)]
    checks = []
    for name, run in groups:
        checks += _safely(name, run)
    return checks


def _safely(name: str, run) -> list[Check]:
    """A check that fails in a way nobody foresaw is one warning line, not a traceback instead of the screen."""
    try:
        found = run()
    except Exception as e:  # noqa: BLE001 - the doctor must answer on any machine
        return [Check(name, "warning", f"could not check: {type(e).__name__}: {e}"[:200],
                      "Run `livecppn -v doctor` and report this.", {"error": repr(e)})]
    return [] if found is None else [found] if isinstance(found, Check) else list(found)
