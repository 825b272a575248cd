"""OSC control (DESIGN §7): one UDP server thread turns OSC messages into ParamBus events.

Every address is derived from the parameter registry (control/registry.py):
`/livecppn/param/<name> <value>`, `/livecppn/param/<name>/norm <0..1>`,
`/livecppn/trigger/<name> [value]`, the short forms `/livecppn/<name>` where a
name is unambiguous, `/livecppn/subscribe [port]`, `/livecppn/get/<name> [port]`
and `/livecppn/unsubscribe [port]`. `address_table()` documents them all.
Addresses and decoding live in osc_addresses.py, outgoing messages
(feedback, audio features) in osc_feedback.py; this module runs the thread.

Threads: one server thread owns the sockets; it parses, validates and puts
clean events on the bus (`ParamBus.set/trigger`, safe from any thread), and it
sends feedback. The render thread calls `publish()` once per frame, which only
stores a reference and, when someone listens, writes one byte to wake the
server thread: it never waits on the network.

The show goes on (DESIGN §8): a datagram that is too large, does not parse, or
comes from a host not allowed, a message with an unknown address or wrong
arguments: each is dropped and counted in `stats`, and the first of each kind
is logged. Nothing a sender does raises out of the server loop. The loop,
bundle walking and dispatch are ours, because python-osc's servers truncate
datagrams at 8 KiB, its dispatcher sleeps in the server thread until a
bundle's timetag, and its decoder logs every unknown type tag to the root
logger; python-osc decodes what osc_addresses.Decoder does not read itself.

A flood does not starve the show: the server thread shares the interpreter
lock with the render thread, so it drops early and cheaply and bounds its
share. In order, a datagram is dropped for its host (allow list), for its
sender's budget (osc_intake.SenderBudget, one warning per sender), for its
size, then for its first bytes (neither a message nor a bundle, or an address
not in the route table): none of these reach a decoder. One wake-up reads up
to _DRAIN datagrams or for _SLICE seconds, puts its events on the bus in one go
with only the newest value of each parameter (osc_intake.Drain), then rests so
that it uses at most _SHARE of the time while traffic lasts, and wakes at most
every _MIN_REST seconds then (a message after a quiet spell is read at once).

Bundles: all messages of one datagram reach the bus back to back, so they land
in the same frame. Timetags are ignored: a bundle applies at once. A VJ's
controller wants "now", and a sender whose clock runs ahead would otherwise
delay its moves.
"""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import threading
import time
from collections.abc import Mapping

from ..audio.features import AudioFeatures
from .osc_addresses import (
    BAD,
    RELEASE,
    Decoder,
    TypeTags,
    address_table,
    parse_allow,
    parse_target,
    reply_port,
    routes,
    trigger_value,
)
from .osc_addresses import number as _number
from .osc_feedback import AudioOut, Feedback
from .osc_intake import BUDGET, Drain, SenderBudget
from .params import ParamBus, Params

__all__ = ["MAX_PACKET", "REJECT_KINDS", "OscControl", "address_table"]

log = logging.getLogger("livecppn.osc")

MAX_PACKET = 8192  # bytes; a controller's message is < 100, a bundle of every parameter < 2 KiB
REJECT_KINDS = ("bad_datagram", "unknown_address", "bad_args", "not_allowed", "too_large")
_DRAIN = 256  # datagrams read per wake-up at most, before sends get a turn
_SLICE = 0.002  # seconds per wake-up at most
_SHARE = 0.25  # of the time, at most, the server thread spends on incoming traffic while it lasts
_MIN_REST = 0.002  # seconds between wake-ups while traffic lasts: a flood is read in batches, not one by one


class OscControl:
    """One UDP server thread (no thread per packet) that turns OSC messages into ParamBus events.

    host: 127.0.0.1 by default; binding to the network ("0.0.0.0", "::" or an
    interface address) is opt-in. allow: source addresses or networks accepted
    ("192.168.1.20", "192.168.1.0/24"); others are dropped and counted. send:
    "HOST:PORT" to stream the audio features to. port=0 picks a free port;
    `.port` is the bound one after start(). budget: datagrams a second
    looked at per sender address (None: no limit).

    `stats` (written by the server thread, readable from any): datagrams
    `received`, messages `dispatched`, the REJECT_KINDS dropped, datagrams
    `over_budget`, parameter values `coalesced` (replaced by a newer one
    before reaching the bus), messages `feedback_sent` and bundles
    `audio_sent`, `send_failed`, `socket_error`, and `internal_error` (a bug:
    logged with its traceback). `last_fault` is the latest problem in words,
    for the HUD (a property).
    """

    def __init__(self, bus: ParamBus, host: str = "127.0.0.1", port: int = 9000,
                 allow: list[str] | None = None, send: str | None = None, max_packet: int = MAX_PACKET,
                 budget: int | None = BUDGET):
        self.bus = bus
        self.host = host
        self.port: int | None = None
        self._requested_port = port
        # A typo in one entry or the send target drops that entry, never OSC input (DESIGN §8); each is said
        # in `problems` for the caller to report (start_controls: the log, the HUD and the report).
        self.problems: list[str] = []
        self.allow = None if allow is None else self._allow_list(allow)
        self.send_target = None
        if send:
            try:
                self.send_target = parse_target(send)
            except ValueError as e:
                self.problems.append(f"{e}; not sending the audio features (OSC input stays on)")
        self.max_packet = max_packet
        self.routes = routes(list(bus.specs.values()), list(bus.registry.controller_triggers))
        self.decoder = Decoder(self.routes)
        self.budget = SenderBudget(budget)
        # The server thread reads these, never the bus's live state (DESIGN §1): the specs are fixed, and
        # the values before the first publish() are the bus's at construction (defaults and --set).
        self._specs = dict(bus.specs)
        self._trigger_specs = dict(bus.registry.trigger_specs)
        self._initial = bus.snapshot().values
        self.stats = dict.fromkeys(("received", "dispatched", *REJECT_KINDS, "over_budget", "coalesced",
                                    "feedback_sent", "audio_sent", "send_failed", "socket_error",
                                    "internal_error"), 0)
        self._last: tuple | None = None  # the latest fault, formatted only when read (last_fault)
        self._logged: set[str] = set()
        self._warned_senders: set[tuple[str, int]] = set()  # over budget: one warning per sender
        self._allowed: dict[str, bool] = {}
        self._latest: tuple[Params, AudioFeatures | None] | None = None  # the one-slot box from publish()
        self._listened = False  # someone wants publish() to wake the server thread
        self._thread: threading.Thread | None = None
        self._stopping = False

    def _allow_list(self, entries: list[str]) -> list:
        """The allow list's networks; a bad entry is dropped, and a list left empty accepts this machine
        only (never more than was asked for)."""
        allow = []
        for entry in entries:
            try:
                allow.append(parse_allow(entry))
            except ValueError as e:
                self.problems.append(f"{e}; dropped from the allow list")
        if not allow:
            self.problems.append("OSC allow list: no usable entry; accepting OSC from this machine only")
            allow = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
        return allow

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and start the server thread. OSError naming the address when it cannot listen."""
        if self._thread is not None:
            raise RuntimeError("OscControl is already running")
        self._stopping = False
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # absorb bursts (capped by the OS)
            self._sock.bind((self.host, self._requested_port))
            self.port = self._sock.getsockname()[1]
        except OSError as e:
            self._sock.close()
            raise OSError(e.errno, f"OSC: cannot listen on {self.host}:{self._requested_port}: {e.strerror or e}") from e
        if self.send_target:
            try:
                found = socket.getaddrinfo(*self.send_target, type=socket.SOCK_DGRAM)
            except OSError as e:  # an unknown host drops the target, not OSC input
                self.problems.append(f"OSC: cannot send to {self.send_target[0]}:{self.send_target[1]}: "
                                     f"{e.strerror or e}; not sending the audio features (OSC input stays on)")
                self.send_target = None
        if self.send_target:
            family, _, _, _, addr = min(found, key=lambda a: a[0] != socket.AF_INET)  # "localhost": IPv4 first
            self._out = socket.socket(family, socket.SOCK_DGRAM)  # unbound: may leave by any interface
            self._out.setblocking(False)
            self.audio_out = AudioOut(addr[:2], lambda d, a: self._sendto(self._out, d, a, "audio_sent"))
        self._sock.setblocking(False)
        self.feedback = Feedback(self._specs, lambda d, a: self._sendto(self._sock, d, a, "feedback_sent"))
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._listened = self.send_target is not None
        self._buffer = bytearray(65536)  # the largest UDP payload fits: size checks see the whole datagram
        if self.allow is None and not ipaddress.ip_address(self._sock.getsockname()[0]).is_loopback:
            log.warning("OSC listens on the network (%s:%d) and accepts every host; --osc-allow limits it",
                        self.host, self.port)
        self._thread = threading.Thread(target=self._serve, name="livecppn-osc", daemon=True)
        self._thread.start()
        log.info("OSC on %s:%d%s", self.host, self.port,
                 f", audio features to {self.send_target[0]}:{self.send_target[1]}" if self.send_target else "")

    def stop(self) -> None:
        """Stop the thread and close the sockets. Idempotent; any thread but the server's."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake()
        thread.join()
        for s in (self._sock, self._wake_r, self._wake_w, getattr(self, "_out", None)):
            if s is not None:
                s.close()

    def __enter__(self) -> OscControl:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- render thread ---------------------------------------------------------------------------

    def publish(self, params: Params, features: AudioFeatures | None) -> None:
        """This frame's values, for feedback and --osc-send. Render thread, once per frame; never blocks."""
        self._latest = (params, features)
        if self._listened:
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (a wake-up is pending anyway) or closed (stopping)
            pass

    # ---- server thread ---------------------------------------------------------------------------

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        seen_fb = seen_audio = None  # the last frame each output handled
        rest_until = 0.0  # perf_counter() before which traffic waits: the render thread's turn
        while not self._stopping:
            try:
                now = time.monotonic()
                latest = self._latest
                waits = []
                if latest is not None and latest is not seen_fb and self.feedback.subscribers:
                    if now >= self.feedback.due:
                        self.feedback.update(latest[0].values, now)
                        seen_fb = latest
                    else:
                        waits.append(self.feedback.due - now)
                if latest is not None and latest[1] is not None and latest[1] is not seen_audio and self.send_target:
                    if now >= self.audio_out.due:
                        self.audio_out.update(latest[1], now)
                        seen_audio = latest[1]
                    else:
                        waits.append(self.audio_out.due - now)
                for key, _ in sel.select(min(waits, default=1.0)):
                    if key.fileobj is self._wake_r:
                        self._wake_r.recv(4096)
                        continue
                    if (wait := rest_until - time.perf_counter()) > 0:
                        time.sleep(wait)  # lets go of the interpreter lock
                    began = time.perf_counter()
                    self._receive()
                    # At most _SHARE of the time while traffic lasts: rest (1/_SHARE - 1) times what this took
                    # (wall time: thread_time() is a system call, and the lock waited for is time taken too),
                    # and at least _MIN_REST. A message after a quiet spell is read at once.
                    now = time.perf_counter()
                    rest_until = max(rest_until, now) + max(_MIN_REST, (now - began) * (1 / _SHARE - 1))
            except Exception as e:  # a bug must not end the show: count, log once, go on
                self._fault("internal_error", ("-", 0), "%r", e, exc_info=True)
                time.sleep(0.001)  # no hot loop if it repeats
        sel.close()

    def _receive(self) -> None:
        """Read up to _DRAIN datagrams or for _SLICE s, then put what they asked for on the bus at once."""
        drain = Drain()
        now = time.monotonic()
        end = time.perf_counter() + _SLICE
        try:
            for _ in range(_DRAIN):
                try:
                    n, source = self._sock.recvfrom_into(self._buffer)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:  # e.g. an ICMP error reported on some systems: not fatal
                    self._fault("socket_error", ("-", 0), "recvfrom: %s", e)
                    break
                self.stats["received"] += 1
                source = source[:2]
                if self.allow is not None and not self._is_allowed(source[0]):
                    self._fault("not_allowed", source, "not in the allow list")
                elif not self.budget.take(source, now):
                    self._over_budget(source)
                elif n > self.max_packet:
                    self._fault("too_large", source, "%d bytes (limit %d)", n, self.max_packet)
                else:
                    self._datagram(n, source, drain, now)
                if time.perf_counter() > end:
                    break
        finally:  # what was decided is delivered, even when a bug ends the drain early
            self.stats["coalesced"] += drain.coalesced
            drain.put(self.bus)

    def _over_budget(self, source: tuple[str, int]) -> None:
        self.stats["over_budget"] += 1
        self._last = ("over_budget", source, "more than %d datagrams a second", (self.budget.per_second,))
        if source not in self._warned_senders and len(self._warned_senders) < 64:  # not one per port of a scan
            self._warned_senders.add(source)
            log.warning("%s; its excess datagrams are dropped and counted", self.last_fault)

    def _is_allowed(self, ip: str) -> bool:
        ok = self._allowed.get(ip)
        if ok is None:
            addr = ipaddress.ip_address(ip.split("%")[0])
            addr = getattr(addr, "ipv4_mapped", None) or addr
            ok = any(addr in net for net in self.allow)
            if len(self._allowed) > 1024:
                self._allowed.clear()
            self._allowed[ip] = ok
        return ok

    def _datagram(self, n: int, source: tuple[str, int], drain: Drain, now: float) -> None:
        try:
            messages = self.decoder.packet(self._buffer, n)
        except Exception as e:  # whatever the decoder raises, the datagram is bad, the server fine
            self._fault("bad_datagram", source, "%s: %s", type(e).__name__, e)
            return
        # Every message is checked before the drain puts any on the bus, so a bundle lands in one frame.
        for address, route, args in messages:
            if route is None:
                self._fault("unknown_address", source, "%s", address)
            elif isinstance(args, TypeTags):  # arguments no address takes: not even decoded
                self._fault("bad_args", source, "%s with type tags %s", address, args)
            else:
                self._message(address, route, args, source, drain, now)

    def _message(self, address: str, route: tuple[str, str], args: list, source: tuple[str, int], drain: Drain,
                 now: float) -> None:
        kind, name = route
        if kind in ("param", "norm"):
            value = _number(args)
            if value is None:
                return self._fault("bad_args", source, "%s %r", address, args)
            spec = self._specs[name]
            if kind == "norm":
                value = spec.minimum + min(max(value, 0.0), 1.0) * (spec.maximum - spec.minimum)
            value = spec.clamp(value)
            drain.set(name, value)
            if self.feedback.subscribers:
                self.feedback.touched(source, name, value, now)
        elif kind == "trigger":
            value = trigger_value(self._trigger_specs[name], args)
            if value is BAD:
                return self._fault("bad_args", source, "%s %r", address, args)
            if value is not RELEASE:
                drain.trigger(name, value)
        else:
            port = reply_port(args, source)
            if port is None or (port == self.port and ipaddress.ip_address(source[0].split("%")[0]).is_loopback):
                return self._fault("bad_args", source, "%s %r: expected a reply port", address, args)
            reply_to = (source[0], port)
            if kind in ("subscribe", "subscribe_norm"):
                self.feedback.subscribe(reply_to, source, kind == "subscribe_norm", self._values())
                self._listened = True
            elif kind == "unsubscribe":
                self.feedback.unsubscribe(reply_to)
                self._listened = bool(self.feedback.subscribers) or self.send_target is not None
            else:
                self.feedback.reply(reply_to, name, self._values()[name], kind == "get_norm")
        self.stats["dispatched"] += 1

    def _values(self) -> Mapping[str, float]:
        """The values the render thread last published; before its first frame, the bus's at construction."""
        latest = self._latest
        return latest[0].values if latest else self._initial

    def _sendto(self, sock: socket.socket, data: bytes, address: tuple[str, int], counter: str) -> None:
        try:
            sock.sendto(data, address)
            self.stats[counter] += 1
        except OSError as e:  # full buffer, unreachable host: drop it, the next frame sends again
            self._fault("send_failed", address, "%s", e)

    @property
    def last_fault(self) -> str | None:
        """The latest problem in words, for the HUD. Any thread."""
        if (last := self._last) is None:
            return None
        kind, source, detail, args = last
        return f"OSC {kind.replace('_', ' ')} ({source[0]}:{source[1]}): {(detail % args)[:100]}"

    def _fault(self, kind: str, source: tuple[str, int], detail: str, *args, exc_info: bool = False) -> None:
        """Count a problem; log the first of each kind. `detail % args` is formatted only when read: a
        flood of bad datagrams costs a counter and a tuple each."""
        self.stats[kind] += 1
        self._last = (kind, source, detail, args)
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("%s; further ones are only counted", self.last_fault, exc_info=exc_info)
