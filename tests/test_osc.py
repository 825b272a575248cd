"""OSC control through real UDP on 127.0.0.1, with python-osc clients and servers on the other end.

The bus is stepped as the render thread steps it. To know a sender's earlier
packets have all been handled, a test sends one more valid message and waits
for it to land: one socket's datagrams arrive and are handled in order.
Waits time out generously (10 s): they end as soon as the thing arrives, and
a loaded machine must not turn a slow pass into a failure.
"""

import logging
import math
import queue
import random
import socket
import struct
import threading
import time

import pytest
from pythonosc import osc_bundle_builder, osc_server
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from livecppn.audio.features import FEATURE_NAMES, AudioFeatures
from livecppn.control.osc import REJECT_KINDS, OscControl, address_table
from livecppn.control.params import ParamBus
from livecppn.control.registry import ParamSpec, Registry, default_registry

REG = default_registry()
REGISTRY, SPECS, TRIGGERS = REG.params, REG.specs, REG.controller_triggers

HOST = "127.0.0.1"


@pytest.fixture
def bus():
    return ParamBus()


@pytest.fixture
def osc(bus):
    with OscControl(bus, port=0) as control:
        yield control
    assert not control.alive


@pytest.fixture
def client(osc):
    return SimpleUDPClient(HOST, osc.port)


def message(address, *args):
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


def bundle(*dgrams, timetag=osc_bundle_builder.IMMEDIATELY):
    builder = osc_bundle_builder.OscBundleBuilder(timetag)
    for d in dgrams:
        builder.add_content(OscBundle(d) if d.startswith(b"#bundle") else OscMessage(d))
    return builder.build().dgram


def wait_for(check, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.002)
    pytest.fail(f"timed out waiting for {what}")


def settle(bus, check, timeout=10.0):
    """Step the bus like the render thread until check(params) holds; returns those params.

    A long dt takes every value to its target in one step, so tests read targets, not slews.
    """
    return wait_for(lambda: (p := bus.step(100.0)) is not None and check(p) and p, timeout, "the bus")


def sync(send, bus, value=0.123):
    """Send one more valid message on the same socket and wait until it lands."""
    send(message("/livecppn/param/blackout", value))
    settle(bus, lambda p: abs(p.blackout - value) < 1e-6)


class RenderLoop:
    """A stand-in for the live loop: steps the bus at `fps`, takes the triggers, publishes each frame
    (with a fresh AudioFeatures snapshot when `audio`)."""

    def __init__(self, bus, osc=None, fps=60.0, audio=False):
        self.bus, self.osc, self.period, self.audio = bus, osc, 1.0 / fps, audio
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        next_t = time.perf_counter()
        while not self._stop.is_set():
            params = self.bus.step(self.period)
            self.bus.take_triggers()
            if self.osc is not None:
                features = AudioFeatures.silent(time=self.frames * self.period) if self.audio else None
                self.osc.publish(params, features)
            self.frames += 1
            next_t += self.period
            now = time.perf_counter()
            if next_t > now:
                time.sleep(next_t - now)
            elif now - next_t > self.period:  # a late frame is dropped, as with vsync: no catch-up burst
                next_t = now

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class Receiver:
    """A python-osc server collecting (address, args) in a queue; its socket can also send (to subscribe)."""

    def __init__(self, host=HOST):
        dispatcher = Dispatcher()
        self.got = queue.Queue()
        dispatcher.set_default_handler(lambda address, *args: self.got.put((address, args)))
        self.server = osc_server.BlockingOSCUDPServer((host, 0), dispatcher)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def send(self, dgram, port):
        self.server.socket.sendto(dgram, (HOST, port))

    def until(self, check, timeout=10.0):
        """Messages until one satisfies check(address, args); returns that one."""
        deadline, seen = time.monotonic() + timeout, []
        while True:
            try:
                address, args = self.got.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching OSC message arrived; the last ones: {seen[-8:]}")
            if check(address, args):
                return address, args
            seen.append((address, args))

    def drain(self, seconds):
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.got.get(timeout=left))
            except queue.Empty:
                break
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# ---- setting values ---------------------------------------------------------------------------


def test_float_int_bool_norm_and_short_form(bus, client):
    client.send_message("/livecppn/param/brightness", 1.5)
    assert settle(bus, lambda p: p.brightness == 1.5)
    client.send_message("/livecppn/param/zoom", 3)  # int
    assert settle(bus, lambda p: p.zoom == 3.0)
    client.send_message("/livecppn/param/blackout", True)  # OSC 'T'
    assert settle(bus, lambda p: p.blackout == 1.0)
    client.send_message("/livecppn/param/rotation/norm", 0.75)  # TouchOSC's 0-1 onto -180..180
    assert settle(bus, lambda p: abs(p.rotation - 90.0) < 1e-4)
    client.send_message("/livecppn/time_speed", 2.5)  # short form
    assert settle(bus, lambda p: p.time_speed == 2.5)
    client.send_message("/livecppn/zoom/norm", 0.0)
    assert settle(bus, lambda p: p.zoom == SPECS["zoom"].minimum)
    client.send_message("/livecppn/param/brightness", 99.0)  # clamped to the range
    assert settle(bus, lambda p: p.brightness == SPECS["brightness"].maximum)
    client.send_message("/livecppn/param/audio_gain/norm", 7.0)  # norm beyond 1 clamps too
    assert settle(bus, lambda p: p.audio_gain == SPECS["audio_gain"].maximum)
    assert bus.rejected == []


def test_triggers_and_button_release(bus, osc, client):
    def fired():
        bus.step(1 / 60)
        return bus.take_triggers()

    client.send_message("/livecppn/trigger/tap", None)  # no argument
    assert wait_for(fired) == [("tap", None)]
    client.send_message("/livecppn/trigger/tap", 0.0)  # a TouchOSC button's release: ignored
    client.send_message("/livecppn/tap_clear", 1.0)  # press, short form
    assert wait_for(fired) == [("tap_clear", None)]
    assert osc.stats["bad_args"] == 0
    with_arg = [t for t in TRIGGERS if t.argument]
    if with_arg:  # a trigger that takes a value gets it through: whole numbers as int, strings as str
        name = with_arg[0].name
        client.send_message(f"/livecppn/trigger/{name}", 3.0)
        client.send_message(f"/livecppn/trigger/{name}", "neon")
        got = []
        wait_for(lambda: got.extend(fired()) or len(got) >= 2)
        assert got == [(name, 3), (name, "neon")] and isinstance(got[0][1], int)


def test_bundle_lands_in_one_frame(bus, client):
    # Several messages and a trigger in one bundle: the first step that shows any of them shows all.
    for i in range(30):
        b, z = 0.25 + i / 64, 1.5 + i / 8  # exact in float32
        client.send(_Raw(bundle(message("/livecppn/param/brightness", b), message("/livecppn/param/zoom", z),
                                message("/livecppn/trigger/tap"))))
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            p = bus.step(100.0)
            triggers = bus.take_triggers()
            if p.brightness == b or p.zoom == z or triggers:
                assert (p.brightness, p.zoom, triggers) == (b, z, [("tap", None)]), i
                break
        else:
            pytest.fail(f"bundle {i} never landed")
    # Nested bundles and a timetag an hour ahead: applied at once, in order.
    client.send(_Raw(bundle(bundle(message("/livecppn/param/rotation", 10.0)),
                            message("/livecppn/param/rotation", 20.0), timetag=time.time() + 3600)))
    assert settle(bus, lambda p: p.rotation == 20.0)


class _Raw:
    """Anything with .dgram is sendable by python-osc's client."""

    def __init__(self, dgram):
        self.dgram = dgram


def test_addresses_follow_the_registry():
    # A bus with other parameters gets other addresses; names that clash get no short form.
    specs = (ParamSpec("warp", 0.0, 10.0, 5.0, "", 0.0, "A new parameter."),
             ParamSpec("get", 0.0, 1.0, 0.0, "", 0.0, "Named like a reserved word."),
             ParamSpec("tap", 0.0, 1.0, 0.0, "", 0.0, "Named like a trigger."))
    bus = ParamBus(Registry(specs, REG.triggers))
    with OscControl(bus, port=0) as osc:
        c = SimpleUDPClient(HOST, osc.port)
        c.send_message("/livecppn/param/warp", 7.0)
        c.send_message("/livecppn/warp/norm", 0.25)
        c.send_message("/livecppn/param/get", 1.0)
        c.send_message("/livecppn/param/tap", 1.0)
        c.send_message("/livecppn/get", 0.5)  # no short form: unknown
        c.send_message("/livecppn/tap", 0.5)  # ambiguous (parameter and trigger): unknown
        c.send_message("/livecppn/param/brightness", 1.0)  # not on this bus
        c.send_message("/livecppn/trigger/tap", None)
        fired = []
        p = settle(bus, lambda p: fired.extend(bus.take_triggers()) or (p.warp == 2.5 and p.get == p.tap == 1.0
                                                                      and fired))
        assert fired == [("tap", None)]
        wait_for(lambda: osc.stats["unknown_address"] == 3)
        assert p.warp == 2.5 and bus.rejected == []
    for s in REGISTRY:
        assert f"`/livecppn/param/{s.name}`" in address_table(REG)
    for t in TRIGGERS:
        assert f"`/livecppn/trigger/{t.name}`" in address_table(REG)
    for name in FEATURE_NAMES + ("bpm", "onset", "spectrum"):
        assert f"`/livecppn/audio/{name}`" in address_table(REG)


# ---- bad input --------------------------------------------------------------------------------


def test_bad_input_is_counted_and_logged_once_per_kind(bus, osc, caplog):
    caplog.set_level(logging.DEBUG)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    def send(d):
        s.sendto(d, (HOST, osc.port))
    bad = {
        "bad_args": [message("/livecppn/param/brightness", float("nan")),
                     message("/livecppn/param/brightness", float("inf")),
                     message("/livecppn/param/zoom", "loud"),
                     message("/livecppn/param/zoom"),  # missing
                     message("/livecppn/param/zoom", 1.0, 2.0),
                     message("/livecppn/param/zoom", b"\x01\x02"),
                     message("/livecppn/trigger/tap", "x"),
                     message("/livecppn/subscribe", 70000)],
        "unknown_address": [message("/livecppn/param/nope", 1.0), message("/other", 1.0), message("/livecppn/*", 1)],
        "bad_datagram": [b"", b"garbage", b"/livecppn/param/zoom\0\0\0\0,d\0\0\x3f\0",  # truncated double
                         b"/livecppn/param/zoom\0\0\0\0,x\0\0\0\0\0\0", b"#bundle\0" + b"\0" * 8 + b"\xff\xff\xff\xff"],
        "too_large": [message("/livecppn/param/zoom", b"\0" * 20000)],
    }
    for dgrams in bad.values():
        for d in dgrams:
            send(d)
            send(d)
    sync(send, bus)
    for kind, dgrams in bad.items():
        assert osc.stats[kind] == 2 * len(dgrams), kind
    p = bus.step(100.0)
    assert p.brightness == SPECS["brightness"].default and p.zoom == SPECS["zoom"].default
    assert bus.rejected == []  # nothing invalid reached the bus
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.name == "livecppn.osc" for r in records), [r.name for r in records]  # python-osc stays quiet
    assert len(records) == len(bad), [r.getMessage() for r in records]  # once per kind
    assert osc.stats["internal_error"] == 0 and osc.alive
    s.close()


def test_allow_list(bus):
    with OscControl(bus, port=0, allow=["127.0.0.2"]) as osc:
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/param/zoom", 4.0)  # from 127.0.0.1
        wait_for(lambda: osc.stats["not_allowed"] == 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))  # all of 127/8 is loopback on Linux
        s.sendto(message("/livecppn/param/zoom", 2.0), (HOST, osc.port))
        assert settle(bus, lambda p: p.zoom == 2.0)
        assert osc.stats["not_allowed"] == 1 and osc.stats["dispatched"] == 1
        s.close()
    with OscControl(bus, port=0, allow=["127.0.0.0/30"]) as osc:
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/param/zoom", 3.0)
        assert settle(bus, lambda p: p.zoom == 3.0)
    # A typo drops that entry, not OSC input; the problem is said (start_controls reports it)
    with OscControl(bus, port=0, allow=["not-an-ip", "127.0.0.0/30"]) as osc:
        assert any("not-an-ip" in p for p in osc.problems)
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/param/zoom", 2.5)
        assert settle(bus, lambda p: p.zoom == 2.5)
    # no usable entry: this machine only, never every host
    with OscControl(bus, port=0, allow=["not-an-ip"]) as osc:
        assert [str(n) for n in osc.allow] == ["127.0.0.0/8", "::1/128"] and "this machine only" in osc.problems[-1]
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/param/zoom", 3.5)
        assert settle(bus, lambda p: p.zoom == 3.5)


# ---- floods: early drops, budgets, coalescing ---------------------------------------------------


class CountingBus(ParamBus):
    """A real bus that also remembers every event put on it (what the control queue saw)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events = []

    def set(self, name, value):
        self.events.append(("set", name, value))
        super().set(name, value)

    def trigger(self, name, value=None):
        self.events.append(("trigger", name, value))
        super().trigger(name, value)


def test_unknown_addresses_and_garbage_are_dropped_before_any_parsing(bus, osc, monkeypatch):
    import livecppn.control.osc_addresses as addresses

    parsed = []

    class SpyMessage(addresses.OscMessage):  # python-osc's decoder, counted on its way through
        def __init__(self, dgram):
            parsed.append(dgram)
            super().__init__(dgram)

    monkeypatch.setattr(addresses, "OscMessage", SpyMessage)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(d):
        s.sendto(d, (HOST, osc.port))

    unknown = [message("/livecppn/param/nope", "x", 1.0), message("/other", b"blob"),
               message("/" + "a" * 2000, 1.0), bundle(message("/nope/1", "s"), message("/nope/2", 1))]
    garbage = [b"garbage", b"\x00" * 64, bytes(range(256)), b"/livecppn/param/zoom"]  # the last: not terminated
    for d in unknown + garbage:
        send(d)
    sync(send, bus)  # one float of the exact size: read without python-osc too
    assert osc.stats["unknown_address"] == len(unknown) + 1  # the bundle holds two
    assert osc.stats["bad_datagram"] == len(garbage)
    assert parsed == []
    send(message("/livecppn/param/zoom", "loud"))  # a known address with other arguments does reach it
    wait_for(lambda: osc.stats["bad_args"] == 1)
    assert len(parsed) == 1
    s.close()


def test_a_sender_over_its_budget_is_dropped_and_another_still_gets_through(caplog):
    caplog.set_level(logging.WARNING)
    bus = ParamBus()
    with OscControl(bus, port=0, budget=50) as osc:
        flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flooder.bind((HOST, 0))
        flooder_port = flooder.getsockname()[1]
        for i in range(400):
            flooder.sendto(message("/livecppn/param/zoom", 1.0 + i / 100), (HOST, osc.port))
        wait_for(lambda: osc.stats["received"] == 400, what="the flood")
        # Unless this machine stalled the server thread for seconds, most of the burst was over budget.
        assert osc.stats["over_budget"] >= 200, osc.stats
        assert osc.stats["dispatched"] + osc.stats["over_budget"] == 400
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(20):
            other.sendto(message("/livecppn/param/brightness", 0.5 + i / 32), (HOST, osc.port))  # exact in float32
        assert settle(bus, lambda p: p.brightness == 0.5 + 19 / 32)
        assert osc.stats["dispatched"] == 400 - osc.stats["over_budget"] + 20  # all of the second sender's
        for i in range(200):  # the flooder again: still only counted, not warned about again
            flooder.sendto(message("/livecppn/param/zoom", 2.0), (HOST, osc.port))
        wait_for(lambda: osc.stats["received"] == 620, what="the second flood")
        flooder.close(), other.close()
    warnings = [r.getMessage() for r in caplog.records if "over budget" in r.getMessage()]
    assert len(warnings) == 1 and f":{flooder_port})" in warnings[0], warnings  # one warning, naming the sender


def test_a_burst_for_one_address_puts_only_the_newest_value_on_the_bus():
    bus = CountingBus()
    with OscControl(bus, port=0) as osc:
        c = SimpleUDPClient(HOST, osc.port)
        values = [0.25 + i / 128 for i in range(100)]  # exact in float32
        # One datagram is always read in one drain: 100 values, one event; triggers are not coalesced.
        c.send(_Raw(bundle(*[message("/livecppn/param/zoom", v) for v in values[:50]],
                           message("/livecppn/trigger/tap"), message("/livecppn/trigger/tap"),
                           *[message("/livecppn/param/zoom/norm", 0.5)], message("/livecppn/trigger/tap"),
                           *[message("/livecppn/param/zoom", v) for v in values[50:]])))
        fired = []
        assert settle(bus, lambda p: fired.extend(bus.take_triggers()) or p.zoom == values[-1])
        assert fired == [("tap", None)] * 3
        assert [e for e in bus.events if e[0] == "set"] == [("set", "zoom", values[-1])]
        assert osc.stats["coalesced"] == 100 and osc.stats["dispatched"] == 104
        # 100 datagrams in a burst: the last value lands, and what a drain coalesced never reached the bus.
        bus.events.clear()
        for v in values:
            c.send_message("/livecppn/param/rotation", v)
        assert settle(bus, lambda p: p.rotation == values[-1])
        wait_for(lambda: osc.stats["dispatched"] == 204)
        assert len(bus.events) == 100 - (osc.stats["coalesced"] - 100)
        assert bus.events[-1] == ("set", "rotation", values[-1])


def test_replies_before_the_first_frame_are_the_values_at_construction(receiver):
    bus = ParamBus()
    bus.jump("zoom", 3.0)  # as `--set zoom=3` does before the controllers start
    with OscControl(bus, port=0) as osc:
        bus.jump("zoom", 5.0)  # the render thread's live state: not the server thread's to read
        receiver.send(message("/livecppn/get/zoom"), osc.port)
        assert receiver.until(lambda a, _: a == "/livecppn/param/zoom")[1] == (3.0,)
        osc.publish(bus.snapshot(), None)  # the first frame hands over its values
        receiver.send(message("/livecppn/get/zoom"), osc.port)
        assert receiver.until(lambda a, _: a == "/livecppn/param/zoom")[1] == (5.0,)


def test_the_decoder_reads_one_number_as_python_osc_does():
    from livecppn.control.osc_addresses import Decoder, routes

    decoder = Decoder(routes(list(REGISTRY), list(TRIGGERS)))
    for args, tags in (([1.25], "f"), ([7], "i"), ([-3.5e20], "f"), ([2 ** 31 - 1], "i"), ([2 ** 40], "h"),
                       ([1e300], "d"), (["s"], "s"), ([True], "T"), ([False], "F"), ([], "")):
        builder = OscMessageBuilder("/livecppn/param/zoom")
        for a, t in zip(args, tags):
            builder.add_arg(a, t)
        d = builder.build().dgram
        [(address, route, got)] = decoder.packet(d)
        assert (address, route) == ("/livecppn/param/zoom", ("param", "zoom"))
        assert got == OscMessage(d).params and type(got[0] if got else 0) is type(args[0] if args else 0), args
    for args in ([1.0, 2.0], [b"blob"], [None]):  # no address takes these: their type tags, undecoded
        assert decoder.packet(message("/livecppn/param/zoom", *args))[0][2] in (",ff", ",b", ",N")
    short = message("/livecppn/param/zoom", 1.0)[:-2]  # a float cut short: python-osc pads it, so do we
    assert decoder.packet(short)[0][2] == OscMessage(short).params
    assert decoder.packet(message("/livecppn/nope", 1.0)) == [("/livecppn/nope", None, None)]


# ---- feedback ---------------------------------------------------------------------------------


def test_subscribers_get_values_changes_and_get_replies(bus, osc, receiver):
    setter = SimpleUDPClient(HOST, osc.port)
    with RenderLoop(bus, osc):
        receiver.send(message("/livecppn/subscribe"), osc.port)  # reply to this socket's own port
        dump = {}
        while len(dump) < len(bus.specs):
            address, args = receiver.until(lambda a, _: a.startswith("/livecppn/param/"))
            dump[address.rsplit("/", 1)[1]] = args[0]
        assert dump == pytest.approx({s.name: s.default for s in REGISTRY})

        setter.send_message("/livecppn/param/brightness", 1.7)  # from another client: the motion is fed back
        receiver.until(lambda a, args: a == "/livecppn/param/brightness" and abs(args[0] - 1.7) < 1e-3)

        receiver.send(message("/livecppn/get/zoom"), osc.port)
        assert receiver.until(lambda a, _: a == "/livecppn/param/zoom")[1] == (1.0,)
        receiver.send(message("/livecppn/get/zoom/norm"), osc.port)
        _, (norm,) = receiver.until(lambda a, _: a == "/livecppn/param/zoom/norm")
        assert norm == pytest.approx((1.0 - 0.1) / (8.0 - 0.1))

        other = Receiver()  # subscribed by another client, with an explicit reply port, in 0-1
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/subscribe/norm", other.port)
        setter.send_message("/livecppn/param/blackout", 0.5)
        other.until(lambda a, args: a == "/livecppn/param/blackout/norm" and abs(args[0] - 0.5) < 1e-3)

        receiver.send(message("/livecppn/unsubscribe"), osc.port)
        wait_for(lambda: len(osc.feedback.subscribers) == 1)
        receiver.drain(0.1)
        setter.send_message("/livecppn/param/audio_gain", 3.0)
        other.until(lambda a, args: a == "/livecppn/param/audio_gain/norm" and abs(args[0] - 0.75) < 1e-3)
        assert [m for m in receiver.drain(0.2) if m[0].startswith("/livecppn/param/")] == []
        other.close()


def test_the_mover_is_not_echoed_its_own_motion(bus, osc, receiver):
    watcher = Receiver()
    with RenderLoop(bus, osc):
        receiver.send(message("/livecppn/subscribe"), osc.port)
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/subscribe", watcher.port)
        wait_for(lambda: len(osc.feedback.subscribers) == 2)
        receiver.drain(0.2), watcher.drain(0.1)
        receiver.send(message("/livecppn/param/rotation", 90.0), osc.port)  # the subscriber moves a fader
        # the watcher sees the slew on its way to 90 ...
        seen = [watcher.until(lambda a, _: a == "/livecppn/param/rotation")[1][0]]
        seen.append(watcher.until(lambda a, args: a == "/livecppn/param/rotation" and args[0] > 89.95)[1][0])
        assert seen[0] < seen[-1]
        # ... the mover, whose fader already shows 90, is sent nothing back
        assert [m for m in receiver.drain(0.3 + 10 * SPECS["rotation"].smoothing)
                if m[0] == "/livecppn/param/rotation"] == []
    watcher.close()


def test_feedback_is_rate_limited(bus, osc, receiver):
    with RenderLoop(bus, osc, fps=120):
        receiver.send(message("/livecppn/subscribe"), osc.port)
        receiver.until(lambda a, _: a == "/livecppn/param/time_speed")  # the first values
        SimpleUDPClient(HOST, osc.port).send_message("/livecppn/param/time_speed", 4.0)  # a 2 s slew
        receiver.until(lambda a, _: a == "/livecppn/param/time_speed")
        t0 = time.monotonic()
        moves = [m for m in receiver.drain(0.5) if m[0] == "/livecppn/param/time_speed"]
        elapsed = time.monotonic() - t0
    assert 5 <= len(moves) <= 1 + elapsed * 30, (len(moves), elapsed)  # a 120 fps slew, sent at 30 Hz
    values = [args[0] for _, args in moves]
    assert values == sorted(values) and values[-1] < 4.0


def test_audio_features_are_sent(bus, receiver):
    spectrum = tuple(i / 32 for i in range(32))
    features = AudioFeatures(bass=0.1, mid=0.2, treble=0.3, centroid=0.4, rolloff=0.5, flux=0.6, time=12.5,
                             beat=0.8, rms=0.9, onset=True, bpm=128.0, beat_phase=0.25, bar_phase=0.5,
                             beats_per_bar=3, bpm_confidence=0.625, spectrum=spectrum)
    with OscControl(bus, port=0, send=f"{HOST}:{receiver.port}") as osc:
        osc.publish(bus.snapshot(), features)
        got = {}
        while len(got) < len(FEATURE_NAMES) + 7:
            address, args = receiver.until(lambda a, _: a.startswith("/livecppn/audio/"))
            got[address.rsplit("/", 1)[1]] = args
        for name in FEATURE_NAMES + ("bpm", "bpm_confidence", "beat_phase", "bar_phase"):
            assert got[name] == pytest.approx((getattr(features, name),)), name
        assert got["beats_per_bar"] == (3,) and isinstance(got["beats_per_bar"][0], int)  # sent as an int
        assert got["onset"] == (1.0,)
        assert got["spectrum"] == pytest.approx(spectrum)

        # Published at ~500 Hz: at most 60 bundles a second go out, the newest one last.
        receiver.drain(0.05)
        t0 = time.monotonic()
        for i in range(250):
            osc.publish(bus.snapshot(), AudioFeatures.silent(time=float(i)))
            time.sleep(0.002)
        elapsed = time.monotonic() - t0
        times = [args[0] for a, args in receiver.drain(0.3) if a == "/livecppn/audio/time"]
        assert times[-1] == 249.0
        assert 10 <= len(times) <= 2 + elapsed * 60, (len(times), elapsed)
        assert osc.stats["send_failed"] == 0


# ---- lifecycle --------------------------------------------------------------------------------


def test_stop_is_idempotent_and_frees_the_port(bus):
    osc = OscControl(bus, port=0)
    osc.stop()  # never started
    osc.publish(bus.snapshot(), None)  # nor a frame before start
    osc.start()
    port = osc.port
    with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
        OscControl(bus, port=port).start()  # taken: the error names the address
    osc.stop()
    osc.stop()
    osc.publish(bus.snapshot(), None)  # a frame after stop: nothing to wake, nothing raised
    assert not osc.alive
    with OscControl(bus, port=port) as again:  # free again
        SimpleUDPClient(HOST, port).send_message("/livecppn/param/zoom", 5.0)
        assert settle(bus, lambda p: p.zoom == 5.0)
        assert again.port == port
    osc.start()  # and the first one starts again
    SimpleUDPClient(HOST, osc.port).send_message("/livecppn/param/zoom", 6.0)
    assert settle(bus, lambda p: p.zoom == 6.0)
    osc.stop()
    # a bad --osc-send target drops the target, not OSC input
    for bad in ("nowhere", "localhost9001", "no-such-host.invalid:9001"):
        with OscControl(bus, port=0, send=bad) as deaf_not:
            assert deaf_not.send_target is None and deaf_not.alive
            assert any(("HOST:PORT" in p or "cannot send" in p) and "OSC input stays on" in p
                       for p in deaf_not.problems), deaf_not.problems
            SimpleUDPClient(HOST, deaf_not.port).send_message("/livecppn/param/zoom", 7.0)
            assert settle(bus, lambda p: p.zoom == 7.0)
            bus.jump("zoom", 1.0)


# ---- fuzz -------------------------------------------------------------------------------------


def fuzz_datagrams(rng, n, sink_port):
    """n datagrams: random bytes, cut and garbled messages, bad arguments, huge packets, random bundles."""
    addresses = [f"/livecppn/param/{s.name}" for s in REGISTRY] + [f"/livecppn/param/{s.name}/norm" for s in REGISTRY]
    addresses += [f"/livecppn/trigger/{t.name}" for t in TRIGGERS] + [f"/livecppn/get/{s.name}" for s in REGISTRY]
    addresses += ["/livecppn/subscribe", "/livecppn/subscribe/norm", "/livecppn/unsubscribe", "/livecppn/nope", "/"]
    garbage = [float("nan"), float("inf"), -float("inf"), "x" * rng.randrange(1, 300), b"\0" * 7, True, False, None,
               2 ** 40, -(2 ** 31), 1e308, (1, 2, 3, 4), [1.0, [2.0, "s"]], sink_port, 0, 65536]

    def valid():
        builder = OscMessageBuilder(rng.choice(addresses))
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            value = rng.choice(garbage + [rng.uniform(-1e3, 1e3)] * 6)
            if isinstance(value, tuple):
                builder.add_arg(0x11223344, "r")  # rgba
            elif value is None:
                builder.add_arg(value, "N")
            elif value == 1e308:
                builder.add_arg(value, "d")
            else:
                builder.add_arg(value)
        return builder.build().dgram

    def one(depth=0):
        kind = rng.random()
        if kind < 0.15:
            return rng.randbytes(rng.randrange(0, 200))
        if kind < 0.30:
            d = valid()
            return d[:rng.randrange(0, len(d))]
        if kind < 0.40:
            d = bytearray(valid())
            for _ in range(rng.randrange(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
            return bytes(d)
        if kind < 0.41:  # huge: up to the largest UDP payload
            return rng.choice((b"/livecppn/param/zoom\0\0\0\0,b\0\0", b"#bundle\0", b""))[:64] + rng.randbytes(
                rng.randrange(8192, 65000))
        if kind < 0.55 and depth < 10:
            parts = [one(depth + 1) for _ in range(rng.randrange(0, 5))]
            body = b"".join(struct.pack(">i", len(p) + rng.choice((0, 0, 0, 1, -4))) + p for p in parts)
            return b"#bundle\0" + rng.randbytes(8) + body
        return valid()

    # A bundle of huge parts can outgrow a UDP datagram (65507 bytes on IPv4): cut it there, as garbled as the rest.
    return [one()[:65507] for _ in range(n)]


def test_fuzz_keeps_the_frame_loop_and_the_server_going(bus, caplog):
    caplog.set_level(logging.WARNING)
    rng = random.Random(1234)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # feedback to fuzzed subscribers lands here
    sink.bind((HOST, 0))
    sink_port = sink.getsockname()[1]
    datagrams = fuzz_datagrams(rng, 20_000, sink_port)
    # No sender budget: sent as fast as the server takes them, a quarter would be dropped over budget, unread.
    with OscControl(bus, port=0, send=f"{HOST}:{sink_port}", budget=None) as osc:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with RenderLoop(bus, osc, audio=True) as loop:
            t0 = time.perf_counter()
            for i, d in enumerate(datagrams):
                # Keep the kernel's receive buffer from overflowing, so every datagram is handled.
                if len(d) > 4096 or i % 64 == 0:
                    wait_for(lambda i=i: osc.stats["received"] >= i, what="the server to keep up")
                s.sendto(d, (HOST, osc.port))
            wait_for(lambda: osc.stats["received"] == len(datagrams), what="every datagram")
            duration = time.perf_counter() - t0
            fuzzed_frames = loop.frames
        with RenderLoop(bus, osc, audio=True) as loop:
            time.sleep(duration)
        quiet_frames = loop.frames
        assert osc.alive and osc.stats["internal_error"] == 0
        client = SimpleUDPClient(HOST, osc.port)
        client.send_message("/livecppn/param/zoom", 6.5)
        assert settle(bus, lambda p: p.zoom == 6.5)  # still controllable
        stats = dict(osc.stats)
    s.close()
    sink.close()
    rejected = sum(stats[k] for k in REJECT_KINDS)
    print(f"\nfuzz: {len(datagrams)} datagrams in {duration:.2f} s; frames {fuzzed_frames} vs {quiet_frames} "
          f"undisturbed; {stats}")
    assert fuzzed_frames >= 0.9 * quiet_frames, (fuzzed_frames, quiet_frames)
    assert rejected > 0.5 * len(datagrams) and stats["dispatched"] > 100
    assert all(stats[k] > 0 for k in REJECT_KINDS if k != "not_allowed"), stats
    assert bus.rejected == []
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.name == "livecppn.osc" for r in records), {r.name for r in records}
    assert len(records) <= len(REJECT_KINDS) + 2, [r.getMessage() for r in records]
    assert all(math.isfinite(v) for v in bus.step(1 / 60).values.values())
