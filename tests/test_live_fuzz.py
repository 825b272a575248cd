"""Bad control input during a show (issue 4): at least 10,000 random OSC datagrams over real
UDP and 10,000 random MIDI byte messages over a real JACK port, sent while a headless
`livecppn live` runs. The show must never stall (frames every second, at least half the
undisturbed rate: issue 14's flood target; the rates themselves are measured by
tools/bench_osc.py), log each kind of bad input once (no flood), and still obey OSC and MIDI
afterwards."""

import math
import os
import random
import shutil
import socket
import struct
import threading
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from realparts import end_show, free_port, start_show

from livecppn import paths
from livecppn.control.osc_addresses import routes
from livecppn.control.registry import default_registry

N_OSC = 10_000
N_MIDI = 10_000
SECONDS = 16.0  # the fuzz is spread over this long: 625 OSC datagrams and 625 MIDI messages a second
CALM = 5.0  # undisturbed seconds before and after it, in the same show (like for like, whatever else runs)
# A realistic show size for this CPU (the frame rate is then set by rendering, not by overheads).
SHOW = dict(size="640x360", internal="128x72")
SHOW_ARGS = ("--threads", "1", "--no-hud")  # one core renders, the other runs this test's senders

ADDRESSES = sorted(routes(list(default_registry().params), list(default_registry().controller_triggers)))
# Arming MIDI learn with a real target would let the random MIDI rebind the controls checked afterwards.
# NDI and Link announce themselves to the network (multicast): this show is not in a private network
# namespace, so the fuzz never opens them (tests/test_outputs.py and tests/test_link.py run them in one).
NETWORK = ("ndi", "link")
FUZZ_ADDRESSES = [a for a in ADDRESSES if not a.endswith("/learn") and a.rsplit("/", 1)[-1] not in NETWORK]


def message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        too_big_for_f32 = isinstance(arg, float) and math.isfinite(arg) and abs(arg) > 3.4e38
        builder.add_arg(arg, "d" if too_big_for_f32 else None)
    return builder.build().dgram


def odd_value(rng: random.Random):
    return rng.choice([math.nan, math.inf, -math.inf, 1e308, -1e308, 2**31 - 1, -2**31, 0, 1, -1, 0.5, 1e-40,
                       True, False, None, "", "x" * rng.randint(1, 300), "moss", "7", "nan", b"\x00\xff" * 8,
                       rng.uniform(-1e6, 1e6), rng.random(), rng.randint(-200, 200)])


def osc_datagram(rng: random.Random) -> bytes:
    """One random datagram: garbage, broken framing, wrong types, odd values, bundles, huge packets."""
    kind = rng.randrange(10)
    if kind == 0:  # garbage bytes
        return rng.randbytes(rng.randint(0, 600))
    if kind == 1:  # a valid message cut short
        data = message(rng.choice(ADDRESSES), rng.random())
        return data[:rng.randint(0, len(data) - 1)]
    if kind == 2:  # unknown addresses, patterns, odd characters
        address = rng.choice(["/livecppn/param/nope", "/livecppn/trigger/nope", "/livecppn", "/", "/foo/bar",
                              "/livecppn/param/*", "/livecppn/*", "/livecppn/param/brightness/norm/x",
                              "/livecppn/[a-z]*", "/livecppn/{zoom,rotation}", "/livecppn/p\u00e4ram",
                              "/" + "a" * rng.randint(1, 2000)])
        return message(address, odd_value(rng))
    if kind in (3, 4):  # real addresses, wrong argument types and counts, NaN/inf
        return message(rng.choice(FUZZ_ADDRESSES), *[odd_value(rng) for _ in range(rng.choice([0, 1, 1, 2, 5]))])
    if kind == 5:  # real addresses, plausible values (in and out of range)
        return message(rng.choice(FUZZ_ADDRESSES), rng.uniform(-2, 3))
    if kind == 6:  # bundles, nested, with garbage inside
        bundle = OscBundleBuilder(IMMEDIATELY)
        for _ in range(rng.randint(0, 6)):
            bundle.add_content(OscMessageBuilder(address=rng.choice(FUZZ_ADDRESSES)).build())
        data = bundle.build().dgram
        if rng.random() < 0.5:  # an element whose size field lies
            data += struct.pack(">i", rng.choice([-1, 0, 3, 1 << 30])) + rng.randbytes(rng.randint(0, 40))
        return data
    if kind == 7:  # bundles nested past any sensible depth
        data = message("/livecppn/param/zoom", 1.0)
        for _ in range(rng.randint(1, 20)):
            data = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", len(data)) + data
        return data
    if kind == 8:  # huge packets (the largest UDP payload, and a huge blob)
        if rng.random() < 0.5:
            return rng.randbytes(rng.choice([9000, 30000, 65000]))
        return message("/livecppn/param/brightness", rng.randbytes(rng.randint(8200, 60000)))
    return message(rng.choice(FUZZ_ADDRESSES), rng.random())  # plain valid traffic in between


def midi_bytes(rng: random.Random) -> list[int]:
    """One random MIDI byte message: any status, wrong lengths, data bytes with the high bit set,
    sysex floods (short and long), realtime bytes, song position."""
    kind = rng.randrange(8)
    if kind == 0:  # sysex, up to a few kB
        return [0xF0] + [rng.randrange(128) for _ in range(rng.choice([0, 4, 64, 1024, 4000]))] + [0xF7]
    if kind == 1:  # sysex never terminated, or terminated twice
        return [0xF0] + [rng.randrange(128) for _ in range(rng.randint(0, 50))] + [0xF7] * rng.randint(0, 2)
    if kind == 2:  # system common and realtime, clock included
        return [rng.choice([0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF])] + \
            [rng.randrange(128) for _ in range(rng.randint(0, 2))]
    if kind == 3:  # raw garbage (rtmidi sends more than 3 bytes only as sysex: garbage inside one)
        garbage = [rng.randrange(256) for _ in range(rng.randint(1, 40))]
        return garbage[:3] if rng.random() < 0.5 else [0xF0] + garbage
    status = rng.randrange(0x80, 0xF0)  # channel messages: note off/on, poly AT, CC, program, AT, pitch bend
    data = [rng.randrange(256 if kind == 4 else 128) for _ in range(rng.randint(0, 2) if kind == 5 else 2)]
    return [status] + data


def window_fps(per_second: list[int], start: float, end: float) -> float:
    """Mean frame rate over the whole seconds of the show's timeline inside [start, end] (show time)."""
    seconds = per_second[math.ceil(start) + 1:math.floor(end) - 1]  # a second's slack for clock skew
    assert seconds, (start, end, per_second)
    return sum(seconds) / len(seconds)


def spread(n: int, seconds: float, send) -> None:
    """Call send(i) n times, evenly over `seconds`."""
    start = time.perf_counter()
    for i in range(n):
        send(i)
        lag = start + seconds * (i + 1) / n - time.perf_counter()
        if lag > 0:
            time.sleep(lag)


@pytest.fixture
def presets(tmp_path):
    """A copy of the shipped presets: a fuzzed learn_save writes mapping files there, not in the repo."""
    copy = tmp_path / "presets"
    shutil.copytree(paths.presets_dir(), copy)
    return {"LIVECPPN_PRESETS": str(copy)}


def test_fuzzed_osc_and_midi_do_not_stop_or_stall_the_show(tmp_path, presets, jack_midi):
    import rtmidi

    # made beforehand, so that sending costs this test (which shares the CPU with the show) little
    osc_rng, midi_rng = random.Random(1), random.Random(2)
    datagrams = [osc_datagram(osc_rng) for _ in range(N_OSC + 200)]
    midi_messages = [midi_bytes(midi_rng) for _ in range(N_MIDI)]

    name = f"livecppn-fuzz-{os.getpid()}"
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="livecppn-fuzzer")
    out.open_virtual_port(name)
    port = free_port()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    proc, report_path = start_show(tmp_path, "--osc-port", str(port), "--midi", name, *SHOW_ARGS,
                                   env=presets, **SHOW)
    started = time.monotonic()
    try:
        # Both decks on screen (crossfader in the middle): the heaviest load valid input can ask for.
        sock.sendto(message("/livecppn/param/crossfader", 0.5), ("127.0.0.1", port))
        time.sleep(2.0)  # the MIDI input is found by name (polled about once a second)
        calm_before = (time.monotonic() - started, time.monotonic() - started + CALM)
        time.sleep(CALM)
        fuzz_start = time.monotonic() - started
        osc_sent = 0

        def send_osc(i):
            nonlocal osc_sent
            try:
                sock.sendto(datagrams[i], ("127.0.0.1", port))
                osc_sent += 1
            except OSError:  # larger than a datagram may be: the sender's limit, not the show's
                pass

        midi_thread = threading.Thread(target=spread, args=(N_MIDI, SECONDS, lambda i: out.send_message(midi_messages[i])))
        midi_thread.start()
        spread(len(datagrams), SECONDS, send_osc)
        midi_thread.join()
        fuzz = (fuzz_start, time.monotonic() - started)
        assert osc_sent >= N_OSC

        # still controllable afterwards, over OSC and MIDI
        time.sleep(0.5)
        for address, value in (("/livecppn/param/blackout", 0.0), ("/livecppn/param/zoom", 1.5),
                               ("/livecppn/param/crossfader", 0.25), ("/livecppn/param/audio_gain", 1.0)):
            sock.sendto(message(address, value), ("127.0.0.1", port))
        sock.sendto(message("/livecppn/trigger/deck_b", "ember"), ("127.0.0.1", port))
        out.send_message([0xB0, 0, 0])  # generic map: fader 1 = brightness, down
        calm_after = (time.monotonic() - started, time.monotonic() - started + CALM)
        time.sleep(CALM)
    finally:
        sock.close()
        fuzzed, log = end_show(proc, report_path)
        out.close_port()


    timeline = fuzzed["frames_per_second"]
    calm_fps = (window_fps(timeline, *calm_before) + window_fps(timeline, *calm_after)) / 2
    fuzz_fps = window_fps(timeline, *fuzz)
    print(f"\nfuzz: undisturbed {calm_fps:.1f} fps, fuzzed {fuzz_fps:.1f} fps ({fuzz_fps / calm_fps:.0%}); "
          f"timeline {timeline}; OSC {fuzzed['controls']['osc']}; MIDI {fuzzed['controls']['midi']}")
    # Never stalled: frames in every second of the fuzz, and at least the flood target of issue 14 (half the
    # undisturbed rate). The frame-rate figures themselves belong to tools/bench_osc.py (--mode flood /
    # touchdesigner), measured over longer windows: on this shared 2-core machine the ratio of two
    # 5-second windows swings by ±10 % from run to run, on main before the show layer as after it.
    fuzz_seconds = timeline[math.ceil(fuzz[0]) + 1:math.floor(fuzz[1]) - 1]
    assert min(fuzz_seconds) > 0, timeline
    assert fuzz_fps >= 0.5 * calm_fps, timeline
    p = fuzzed["params"]
    assert p["blackout"] == 0.0 and p["zoom"] == pytest.approx(1.5, abs=1e-3)
    assert p["crossfader"] == pytest.approx(0.25, abs=1e-3) and p["brightness"] == pytest.approx(0.0, abs=1e-3)
    assert fuzzed["decks"]["b"] == "ember"
    osc, midi = fuzzed["controls"]["osc"], fuzzed["controls"]["midi"]
    assert osc["received"] >= N_OSC * 0.99, osc  # (nearly) every datagram arrived and was looked at
    assert sum(n for kind, n in midi.items() if kind not in ("unmapped", "learned")) >= N_MIDI * 0.9, midi
    # each kind of bad input is logged once, not once per message
    assert len(log.splitlines()) < 150, log[-5000:]
