"""OSC traffic for tools/bench_osc.py, sent from its own process (so it never competes for the show's GIL).

Modes:
- flood: hostile datagrams at a steady rate: garbage bytes, real parameter addresses with wrong
  argument types, unknown addresses, oversized packets, bundles nested past any sensible depth or
  with lying sizes, cut-short messages. None of them may change a value (no triggers, no
  subscriptions), so the show after the flood must hold the values it held before.
- touchdesigner: what a TouchDesigner OSC Out CHOP sends: BUNDLES per second, each holding CHANNELS
  `/livecppn/param/<name> <float>` messages over the valid names, cycling; the values are the
  show's own (--values), three of them sweeping slowly, so the render's load does not change.

Both are made before sending starts, and "cpu_s" in the summary is what sending them used:
on a machine with cores to spare the sender is not the show's cost, on a busy one it is.

Usage: python tools/osc_traffic.py --mode flood --port 9000 --seconds 10 [--rate 4700]
Prints one line "sending" when it starts and, at the end, one JSON line with what it sent.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import socket
import struct
import sys
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

PARAM_NAMES = ("brightness", "zoom", "rotation", "crossfader", "hue", "audio_gain")  # flood targets
SWEEP = {"brightness": (0.9, 1.1), "zoom": (0.8, 1.2), "rotation": (-20.0, 20.0)}  # touchdesigner: slow sines


def message(address: str, *args, tags: str | None = None) -> bytes:
    builder = OscMessageBuilder(address=address)
    for i, a in enumerate(args):
        builder.add_arg(a, tags[i] if tags else None)
    return builder.build().dgram


def nested(data: bytes, depth: int) -> bytes:
    for _ in range(depth):
        data = b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", len(data)) + data
    return data


def hostile(rng: random.Random) -> bytes:
    """One datagram that must be rejected, whatever it is."""
    kind = rng.random()
    param = f"/livecppn/param/{rng.choice(PARAM_NAMES)}"
    if kind < 0.20:  # garbage bytes, some starting like OSC
        return rng.choice((b"", b"/", b"#bundle\0", b"/livecppn/")) + rng.randbytes(rng.randint(0, 600))
    if kind < 0.45:  # real addresses, wrong types and counts
        args = rng.choice([("loud",), (b"\0\xff" * 8,), (math.nan,), (math.inf,), (), (1.0, 2.0), (None,)])
        return message(param, *args, tags="N" if args == (None,) else None)
    if kind < 0.60:  # unknown addresses
        return message(rng.choice(["/livecppn/param/nope", "/foo/bar", "/livecppn/*", "/livecppn/param/zoom/x",
                                   "/" + "a" * rng.randint(1, 2000)]), 1.0)
    if kind < 0.65:  # oversized: raw bytes or a huge blob on a real address
        if rng.random() < 0.5:
            return rng.randbytes(rng.choice((9000, 30000, 65000)))
        return message(param, rng.randbytes(rng.randint(8200, 60000)))
    if kind < 0.80:  # a valid message nested past the depth limit
        return nested(message(param, 1.0), rng.randint(9, 20))
    if kind < 0.90:  # a bundle whose last element's size lies
        return nested(message(param, "x"), 1) + struct.pack(">i", rng.choice((-1, 3, 1 << 30))) + rng.randbytes(12)
    data = message(param, 0.5)  # cut short: inside the type tag or the argument
    return data[:rng.randint(len(param) + 1, len(data) - 7)]  # (a float cut short is read as padded: python-osc)


def touchdesigner(values: dict[str, float], channels: int, index: int, t: float) -> bytes:
    """One bundle of `channels` float messages, names cycling from where the previous one stopped."""
    names = sorted(values)
    bundle = OscBundleBuilder(IMMEDIATELY)
    for k in range(channels):
        name = names[(index * channels + k) % len(names)]
        value = values[name]
        if name in SWEEP:
            lo, hi = SWEEP[name]
            value = lo + (hi - lo) * (0.5 + 0.5 * math.sin(2 * math.pi * t / 8.0))
        m = OscMessageBuilder(address=f"/livecppn/param/{name}")
        m.add_arg(float(value), "f")
        bundle.add_content(m.build())
    return bundle.build().dgram


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("flood", "touchdesigner"), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=4700.0, help="flood: datagrams per second")
    ap.add_argument("--bundles", type=float, default=60.0, help="touchdesigner: bundles per second")
    ap.add_argument("--channels", type=int, default=64, help="touchdesigner: messages per bundle")
    ap.add_argument("--values", default="{}", help="touchdesigner: JSON {name: value} to send")
    args = ap.parse_args()
    rng = random.Random(14)
    values = json.loads(args.values)
    if args.mode == "touchdesigner" and not values:
        ap.error("--mode touchdesigner needs --values '{\"name\": value, ...}' (tools/bench_osc.py passes the show's)")
    # Made beforehand, so that sending costs little CPU: on a busy machine the sender's CPU is the show's loss.
    if args.mode == "flood":
        datagrams, rate = [hostile(rng) for _ in range(4000)], args.rate
    else:  # one sweep period (8 s) of bundles
        rate = args.bundles
        datagrams = [touchdesigner(values, args.channels, i, i / rate) for i in range(int(8 * rate))]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    target = ("127.0.0.1", args.port)
    sent = failed = nbytes = 0
    print("sending", flush=True)
    cpu, start = time.process_time(), time.perf_counter()
    while (now := time.perf_counter()) - start < args.seconds:
        due = int((now - start) * rate)  # paced: catch up to the schedule, then rest a little
        while sent + failed < due:
            data = datagrams[(sent + failed) % len(datagrams)]
            try:
                sock.sendto(data, target)
                sent += 1
                nbytes += len(data)
            except OSError:  # a full send buffer; counted, not retried
                failed += 1
        time.sleep(max(0.0, (sent + failed + 1) / rate - (time.perf_counter() - start)))  # until the next is due
    elapsed = time.perf_counter() - start
    print(json.dumps({"mode": args.mode, "sent": sent, "failed": failed, "seconds": round(elapsed, 3),
                      "per_s": round(sent / elapsed, 1), "bytes": nbytes,
                      "cpu_s": round(time.process_time() - cpu, 3)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
