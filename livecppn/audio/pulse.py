"""PulseAudio / PipeWire helpers through pactl: sources, the default sink, and
choosing which source a new record stream uses (PULSE_SOURCE)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading

# PULSE_SOURCE is process-wide: one stream open at a time may set it, for the few ms of the open.
# (Another thread's C-level getenv during those ms is the residual risk of this route.)
_ENV_LOCK = threading.Lock()


def _pactl(*args: str) -> str | None:
    """pactl's stdout, or None when there is no pactl or no server. Never raises."""
    if shutil.which("pactl") is None:
        return None
    try:
        out = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=3,
                             env=dict(os.environ, LC_ALL="C"))  # parsed: keep it in English
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def pulse_sources() -> dict[str, tuple[int, int]] | None:
    """{PulseAudio source name: (rate, channels)}, or None when no server can be asked."""
    out = _pactl("list", "short", "sources")
    if out is None:
        return None
    sources = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) >= 4:
            spec = re.search(r"(\d+)ch\s+(\d+)Hz", fields[3])
            sources[fields[1]] = (int(spec[2]), int(spec[1])) if spec else (0, 0)
    return sources


def pulse_default_sink() -> str | None:
    out = _pactl("get-default-sink")  # pactl >= 15
    if out and out.strip():
        return out.strip()
    info = re.search(r"^Default Sink:\s*(\S+)", _pactl("info") or "", re.M)
    return info[1] if info else None


@contextlib.contextmanager
def _pulse_source_env(source: str | None):
    """Make libpulse record from `source` for streams opened inside (the PULSE_SOURCE variable)."""
    if source is None:
        yield
        return
    with _ENV_LOCK:
        old = os.environ.get("PULSE_SOURCE")
        os.environ["PULSE_SOURCE"] = source
        try:
            yield
        finally:
            if old is None:
                del os.environ["PULSE_SOURCE"]
            else:
                os.environ["PULSE_SOURCE"] = old
