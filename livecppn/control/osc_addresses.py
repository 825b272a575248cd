"""The OSC address space, derived from the parameter registry, and the decoding of what arrives.

Pure functions and one stateless Decoder, no sockets: the server thread (osc.py)
calls them per datagram, the README generator calls `address_table()`. Every
check here is one a sender can fail, so each returns a value or raises, and
never logs.
"""

from __future__ import annotations

import ipaddress
import math
import struct
from collections.abc import Mapping

from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

from .osc_feedback import AUDIO_DESCRIPTIONS, AUDIO_FIELDS, AUDIO_INT_FIELDS, PREFIX
from .registry import ParamSpec, Registry, TriggerSpec

MAX_BUNDLE_DEPTH = 8
RESERVED = ("param", "trigger", "subscribe", "unsubscribe", "get", "audio")  # not usable as short forms
_TAGS = frozenset("ihfdsbrmtTFN[]")  # the type tags python-osc decodes (it logs any other to the root logger)
RELEASE, BAD = object(), object()  # trigger_value(): a button's release (ignored); arguments that do not fit
# Type tags Decoder reads itself, when the message has exactly their size: tags -> (struct format, bytes).
_ONE_VALUE = {b",f\0\0": (">f", 4), b",i\0\0": (">i", 4), b",d\0\0": (">d", 8), b",h\0\0": (">q", 8)}
_CONSTANT = {b",T\0\0": True, b",F\0\0": False}
_ARGUMENT = frozenset("ifhdTFs")  # every address takes no argument or one of these: anything else is wrong


class TypeTags(str):
    """Arguments no address takes (more than one, or a blob, nil, array ...): their type tags, undecoded."""


Route = tuple[str, str]  # (kind, name): "param", "zoom"
Message = tuple[str, Route | None, list | TypeTags | None]  # address, route, arguments (None: unknown address)


def parse_target(text: str) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 as '[::1]:PORT') -> (host, port); ValueError naming the text otherwise."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"OSC target {text!r}: expected HOST:PORT such as 127.0.0.1:9001")
    return host, int(port)


def parse_allow(text: str):
    """One --osc-allow entry ('192.168.1.20', '192.168.1.0/24') -> an ip_network; ValueError naming the entry."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"OSC allow entry {text!r}: expected an address or network such as 192.168.1.20 "
                         "or 192.168.1.0/24") from None


def short_names(params: list[str], triggers: list[str]) -> set[str]:
    """Names that may also be addressed as /livecppn/<name>: unique and not a reserved word."""
    names = params + triggers
    return {n for n in names if names.count(n) == 1 and n not in RESERVED}


def routes(specs: list[ParamSpec], triggers: list[TriggerSpec]) -> dict[str, Route]:
    """Every incoming address -> (kind, name)."""
    r = {f"{PREFIX}/subscribe": ("subscribe", ""), f"{PREFIX}/subscribe/norm": ("subscribe_norm", ""),
         f"{PREFIX}/unsubscribe": ("unsubscribe", "")}
    short = short_names([s.name for s in specs], [t.name for t in triggers])
    for s in specs:
        for base in [f"{PREFIX}/param/{s.name}"] + ([f"{PREFIX}/{s.name}"] if s.name in short else []):
            r[base] = ("param", s.name)
            r[base + "/norm"] = ("norm", s.name)
        r[f"{PREFIX}/get/{s.name}"] = ("get", s.name)
        r[f"{PREFIX}/get/{s.name}/norm"] = ("get_norm", s.name)
    for t in triggers:
        for address in [f"{PREFIX}/trigger/{t.name}"] + ([f"{PREFIX}/{t.name}"] if t.name in short else []):
            r[address] = ("trigger", t.name)
    return r


class Decoder:
    """Datagrams -> messages, bundles flattened in order; looks at the raw bytes before anything is decoded.

    A message's address is read from its first bytes only (at most the longest known address + 1): an
    address not in `known` comes back undecoded, and so does nothing else of it. A message of one
    number of the exact size is decoded here (what controllers send, 60 times a second); type tags
    no address takes come back as TypeTags, undecoded; the rest (strings, sizes that need python-osc's
    leniency) go to python-osc. Bundles are walked in place.
    """

    def __init__(self, known: Mapping[str, Route]):
        self.known = {address.encode(): (address, route) for address, route in known.items()}
        self.longest = max(map(len, self.known), default=0)

    def packet(self, data: bytes | bytearray, end: int | None = None) -> list[Message]:
        """The messages of data[:end] as (address, route, args); route and args are None for an unknown
        address. Raises ParseError on any framing error (then no message of the datagram counts).
        Bundle timetags are read past, not honoured: every message applies at once."""
        return self._walk(data, 0, len(data) if end is None else end, 0)

    def _walk(self, data, start: int, end: int, depth: int) -> list[Message]:
        if not data.startswith(b"#bundle\0", start, end):
            return [self._message(data, start, end)]
        if depth >= MAX_BUNDLE_DEPTH or end - start < 16:
            raise osc_types.ParseError("bundle too deep or too short")
        messages, i = [], start + 16  # after "#bundle\0" and the 8-byte timetag
        while i < end:
            size = struct.unpack_from(">i", data, i)[0] if i + 4 <= end else -1
            if size <= 0 or size % 4 or i + 4 + size > end:
                raise osc_types.ParseError(f"bundle element of size {size} at byte {i}")
            messages += self._walk(data, i + 4, i + 4 + size, depth + 1)
            i += 4 + size
        return messages

    def _message(self, data, start: int, end: int) -> Message:
        if not data.startswith(b"/", start, end):
            raise osc_types.ParseError("neither a message nor a bundle")
        nul = data.find(b"\0", start, min(end, start + self.longest + 1))
        if nul < 0:
            if end - start > self.longest:  # longer than any address: unknown, whatever follows
                return bytes(data[start:start + 80]).decode("utf-8", "replace"), None, None
            raise osc_types.ParseError("address not terminated")
        found = self.known.get(bytes(data[start:nul]))
        if found is None:
            return bytes(data[start:nul]).decode("utf-8", "replace"), None, None
        text, route = found
        tags = start + ((nul - start + 4) & ~3)  # past the address's NUL and padding
        head = bytes(data[tags:tags + 4])
        if (one := _ONE_VALUE.get(head)) is not None and end - tags == 4 + one[1]:
            return text, route, [struct.unpack_from(one[0], data, tags + 4)[0]]
        if head in _CONSTANT and end == tags + 4:
            return text, route, [_CONSTANT[head]]
        if tags < end:
            tag_end = data.find(b"\0", tags, end)
            tag_string = bytes(data[tags:tag_end if tag_end >= 0 else end]).decode("latin-1")
            if tag_end < 0 or not tag_string.startswith(",") or not _TAGS.issuperset(tag_string[1:]):
                raise osc_types.ParseError(f"type tags {tag_string[:40]!r}")
            if len(tag_string) > 2 or (len(tag_string) == 2 and tag_string[1] not in _ARGUMENT):
                return text, route, TypeTags(tag_string)
        return text, route, OscMessage(bytes(data[start:end])).params


def number(args: list) -> float | None:
    """The one finite number (int, float or bool) in args, else None."""
    if len(args) != 1 or not isinstance(args[0], (int, float)):  # bool is an int
        return None
    value = float(args[0])
    return value if math.isfinite(value) else None


def reply_port(args: list, source: tuple[str, int]) -> int | None:
    """The port to answer on: the one argument (whole; TouchOSC sends floats) or the packet's source port."""
    if not args:
        return source[1]
    value = number(args)
    return int(value) if value is not None and value == int(value) and 1 <= value <= 65535 else None


def trigger_value(spec: TriggerSpec, args: list) -> object:
    """What a trigger fires with: None, a number or a string; RELEASE (ignore) or BAD.

    A trigger without an argument fires on no argument or a non-zero number;
    0 is a button's release. One that takes an argument passes it through: a
    whole number as int (TouchOSC sends 3.0 for slot 3), else a float or a
    string; no argument fires it with None.
    """
    if not args:
        return None
    if spec.argument and len(args) == 1 and isinstance(args[0], str):
        return args[0] if 0 < len(args[0]) <= 256 else BAD
    value = number(args)
    if value is None:
        return BAD
    if spec.argument:
        return int(value) if value == int(value) else value
    return None if value != 0 else RELEASE


def address_table(registry: Registry) -> str:
    """The OSC addresses as markdown tables, generated from the registry (for the README)."""
    triggers = registry.controller_triggers
    short = short_names([s.name for s in registry.params], [t.name for t in triggers])
    rows = ["| parameter | range | default | unit | what it does |", "| --- | --- | --- | --- | --- |"]
    for s in registry.params:
        also = f" or `{PREFIX}/{s.name}`" if s.name in short else ""
        rows.append(f"| `{PREFIX}/param/{s.name}`{also} | {s.minimum:g} – {s.maximum:g} | {s.default:g} "
                    f"| {s.unit or '–'} | {s.description} |")
    rows += ["", "| trigger | argument | what it does |", "| --- | --- | --- |"]
    for t in triggers:
        also = f" or `{PREFIX}/{t.name}`" if t.name in short else ""
        rows.append(f"| `{PREFIX}/trigger/{t.name}`{also} | {t.argument or 'none, or 1 (0 is ignored)'} "
                    f"| {t.description} |")
    rows += [
        "", "| session | arguments | what it does |", "| --- | --- | --- |",
        f"| `{PREFIX}/param/<name>/norm` | 0 – 1 | Set a parameter as a fraction of its range (TouchOSC faders). |",
        (f"| `{PREFIX}/subscribe` | [port] | Send the sender every parameter's value now, then each change "
         f"(at most 30 per second), on `{PREFIX}/param/<name>`; to the given port, else the packet's source port. |"),
        f"| `{PREFIX}/subscribe/norm` | [port] | The same, as 0 – 1 on `{PREFIX}/param/<name>/norm`. |",
        f"| `{PREFIX}/unsubscribe` | [port] | Stop sending to that address. |",
        (f"| `{PREFIX}/get/<name>` | [port] | Reply once with `{PREFIX}/param/<name> <value>` "
         f"(`{PREFIX}/get/<name>/norm`: 0 – 1 on `…/norm`). |"),
    ]
    rows += ["", "| sent with `--osc-send HOST:PORT`, one bundle per frame | arguments | what it is |",
             "| --- | --- | --- |"]
    for name in AUDIO_FIELDS:
        rows.append(f"| `{PREFIX}/audio/{name}` | float | {AUDIO_DESCRIPTIONS.get(name, '')} |")
    for name in AUDIO_INT_FIELDS:
        rows.append(f"| `{PREFIX}/audio/{name}` | int | {AUDIO_DESCRIPTIONS.get(name, '')} |")
    rows.append(f"| `{PREFIX}/audio/spectrum` | 32 floats | log-spaced band levels, low to high, 0–1 |")
    return "\n".join(rows)
