"""Outgoing OSC: parameter feedback to subscribers and audio features to `--osc-send`.

Everything here runs on OscControl's server thread, which owns every socket it
writes to; the render thread only drops its newest (Params, AudioFeatures) in
a one-slot box (osc.py). Messages are encoded by hand from a cached address
prefix, so a frame's feedback costs one struct.pack and one sendto per value.

Feedback sends a parameter's current (slewed) value, at most FEEDBACK_HZ per
address and only when it moved by more than TOLERANCE of its range. The client
moving a parameter is not echoed its own motion: for ECHO_HOLD seconds after
its last message, and then until the value has settled on what it sent (at
most 10 smoothing times), that client is skipped, so a TouchOSC fader under a
finger does not fight the slew. Other clients see the motion as it happens.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pythonosc.parsing.osc_types import write_string

from ..audio.features import FEATURE_NAMES, AudioFeatures
from .registry import ParamSpec

PREFIX = "/livecppn"
FEEDBACK_HZ = 30.0  # per address, at most
AUDIO_HZ = 60.0  # audio feature bundles per second, at most
TOLERANCE = 1e-4  # of a parameter's range: smaller moves are not sent
ECHO_HOLD = 0.25  # seconds a client's own moves are not echoed back to it
MAX_SUBSCRIBERS = 16  # a new one beyond this replaces the oldest

AUDIO_DESCRIPTIONS = {
    "bass": "bass level (20–250 Hz), 0–1",
    "mid": "mid level (250 Hz–4 kHz), 0–1",
    "treble": "treble level (4–16 kHz), 0–1",
    "centroid": "spectral centroid on a log-frequency scale, 0–1",
    "rolloff": "spectral rolloff on a log-frequency scale, 0–1",
    "flux": "spectral flux (how fast the spectrum changes), 0–1",
    "time": "the motion clock in seconds (faster when louder)",
    "beat": "beat pulse: 1 on a beat, decaying to 0",
    "rms": "overall level, 0–1",
    "bpm": "tempo in BPM; 0 while none is known",
    "bpm_confidence": "how sure the beat tracker is of the tempo, 0–1 (tap tempo and MIDI clock: 1; no tempo: 0)",
    "beat_phase": "position within the beat, 0–1 (0 on the beat)",
    "bar_phase": "position within the bar (of `beats_per_bar` beats), 0–1",
    "beats_per_bar": "the meter: 4, or 3 for a waltz (heard in the audio, or the `meter` parameter)",
    "onset": "1 when an onset happened since the previous bundle, else 0",
}
AUDIO_FIELDS = FEATURE_NAMES + ("bpm", "bpm_confidence", "beat_phase", "bar_phase", "onset")  # sent as floats
AUDIO_INT_FIELDS = ("beats_per_bar",)  # sent as int32
_BUNDLE_HEAD = b"#bundle\0" + struct.pack(">Q", 1)  # timetag 1 = "immediately"

Address = tuple[str, int]
Send = Callable[[bytes, Address], None]


class _NumberEncoder:
    """One-number messages (a float, or with `tag` "i" an int32) with their address and type tag encoded once."""

    def __init__(self, tag: str = "f"):
        self._prefix: dict[str, bytes] = {}
        self._tag, self._format = tag, f">{tag}"

    def __call__(self, address: str, value: float) -> bytes:
        prefix = self._prefix.get(address)
        if prefix is None:
            prefix = self._prefix[address] = write_string(address) + write_string("," + self._tag)
        return prefix + struct.pack(self._format, value)


def param_address(name: str, norm: bool) -> str:
    return f"{PREFIX}/param/{name}/norm" if norm else f"{PREFIX}/param/{name}"


@dataclass
class Subscriber:
    reply_to: Address  # where feedback goes
    source: Address  # where its messages come from (to recognise its own moves)
    norm: bool  # feedback on /param/<name>/norm as 0-1
    sent: dict[str, float] = field(default_factory=dict)  # name -> last value it was sent (param units)
    held: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (touch time, its target)


class Feedback:
    """Subscribers and what each was last sent. Server thread only."""

    def __init__(self, specs: Mapping[str, ParamSpec], send: Send):
        self.specs = specs
        self.send = send
        self.subscribers: dict[Address, Subscriber] = {}
        self.due = 0.0  # monotonic time of the next allowed update
        self._encode = _NumberEncoder()

    def subscribe(self, reply_to: Address, source: Address, norm: bool, values: Mapping[str, float]) -> None:
        """Add (or refresh) a subscriber and send it every parameter's current value at once."""
        self.subscribers.pop(reply_to, None)
        while len(self.subscribers) >= MAX_SUBSCRIBERS:
            del self.subscribers[next(iter(self.subscribers))]  # the oldest
        sub = self.subscribers[reply_to] = Subscriber(reply_to, source, norm)
        for name, value in values.items():
            if name in self.specs:
                self._send(sub, name, value)

    def unsubscribe(self, reply_to: Address) -> bool:
        return self.subscribers.pop(reply_to, None) is not None

    def reply(self, reply_to: Address, name: str, value: float, norm: bool) -> None:
        """One value to one address (/get)."""
        spec = self.specs[name]
        self.send(self._encode(param_address(name, norm), _norm(spec, value) if norm else value), reply_to)

    def touched(self, source: Address, name: str, target: float, now: float) -> None:
        """`source` set `name` to `target`: it shows that value already, so hold its echo."""
        for sub in self.subscribers.values():
            if sub.source == source:
                sub.sent[name] = target
                sub.held[name] = (now, target)

    def update(self, values: Mapping[str, float], now: float) -> None:
        """Send each subscriber the values that changed. Call when `now >= self.due`."""
        self.due = now + 1.0 / FEEDBACK_HZ
        for sub in self.subscribers.values():
            for name, value in values.items():
                spec = self.specs.get(name)
                if spec is None:
                    continue
                tol = TOLERANCE * (spec.maximum - spec.minimum)
                last = sub.sent.get(name)
                if last is not None and abs(value - last) <= tol:
                    continue
                if name in sub.held:
                    touched_at, target = sub.held[name]
                    if now - touched_at < ECHO_HOLD or (
                            now - touched_at < ECHO_HOLD + 10 * spec.smoothing and abs(value - target) > tol):
                        continue  # still its own move, on its way to where its fader is
                    del sub.held[name]
                self._send(sub, name, value)

    def _send(self, sub: Subscriber, name: str, value: float) -> None:
        sub.sent[name] = value
        out = _norm(self.specs[name], value) if sub.norm else value
        self.send(self._encode(param_address(name, sub.norm), out), sub.reply_to)


def _norm(spec: ParamSpec, value: float) -> float:
    span = spec.maximum - spec.minimum
    return (value - spec.minimum) / span if span > 0 else 0.0


class AudioOut:
    """The audio features as one OSC bundle per frame (at most AUDIO_HZ) to one target. Server thread only."""

    def __init__(self, target: Address, send: Send):
        self.target = target
        self.send = send
        self.due = 0.0
        self._encode = _NumberEncoder()
        self._encode_int = _NumberEncoder("i")
        self._spectrum_prefix: dict[int, bytes] = {}
        self._last_onset_time = -1.0

    def update(self, features: AudioFeatures, now: float) -> None:
        """Send this frame's features. Call when `now >= self.due`."""
        period = 1.0 / AUDIO_HZ
        # Keep an average of AUDIO_HZ under frame jitter, without a burst after a pause.
        self.due = self.due + period if self.due + period > now else now + period
        self.send(self.bundle(features), self.target)

    def bundle(self, f: AudioFeatures) -> bytes:
        # An onset in a frame this rate limit skipped still shows: its onset_time is new.
        onset = f.onset or (f.onset_time >= 0 and f.onset_time != self._last_onset_time)
        self._last_onset_time = f.onset_time
        messages = [self._encode(f"{PREFIX}/audio/{name}", float(onset) if name == "onset" else float(getattr(f, name)))
                    for name in AUDIO_FIELDS]
        messages += [self._encode_int(f"{PREFIX}/audio/{name}", int(getattr(f, name))) for name in AUDIO_INT_FIELDS]
        n = len(f.spectrum)
        prefix = self._spectrum_prefix.get(n)
        if prefix is None:
            prefix = self._spectrum_prefix[n] = write_string(f"{PREFIX}/audio/spectrum") + write_string("," + "f" * n)
        messages.append(prefix + struct.pack(f">{n}f", *f.spectrum))
        return _BUNDLE_HEAD + b"".join(struct.pack(">i", len(m)) + m for m in messages)
