"""What OSC's server thread does between the socket and the bus: a budget per sender, and one drain's events.

A flood must not starve the show (DESIGN §8): the server thread shares the
interpreter lock with the render thread, so every datagram it looks at is time
the render thread may wait. `SenderBudget` caps the datagrams a second one
sender gets looked at; `Drain` collects what one read of the socket decided
and puts it on the bus in one go, only the newest value of each parameter.
Both are server-thread only, and never log: osc.py counts and logs.
"""

from __future__ import annotations

from .params import ParamBus

Address = tuple[str, int]
BUDGET = 4000  # datagrams a second per sender: 64 unbundled channels at 60 Hz (3840) still fit
_SENDERS = 4096  # senders tracked in one second at most; beyond that every new one is over budget


class SenderBudget:
    """At most `per_second` datagrams per sender address (host, port) in each one-second window."""

    def __init__(self, per_second: int | None = BUDGET):
        self.per_second = per_second
        self._window = float("-inf")  # when the current second began
        self._counts: dict[Address, int] = {}

    def take(self, source: Address, now: float) -> bool:
        """Count one datagram from `source` at `now` (seconds); False when it is over its budget."""
        if self.per_second is None:
            return True
        if now - self._window >= 1.0:
            self._window = now
            self._counts.clear()
        n = self._counts.get(source, 0) + 1
        if n == 1 and len(self._counts) >= _SENDERS:  # a flood from ever-new ports cannot grow the table
            return False
        self._counts[source] = n
        return n <= self.per_second


class Drain:
    """The bus events of one drain of the socket, in arrival order, coalesced.

    A parameter set again in the same drain replaces its earlier value (and moves to the end): the bus
    would only have slewed toward the newer one anyway. Triggers are never coalesced: each one fires.
    Everything is put on the bus back to back by `put()`, so one datagram (or bundle) lands in one frame.
    """

    def __init__(self):
        self.coalesced = 0  # sets replaced by a newer one of the same parameter
        self._events: dict[tuple[str, object], object] = {}
        self._triggers = 0  # a trigger's key: its number, never reused

    def __len__(self) -> int:
        return len(self._events)

    def set(self, name: str, value: float) -> None:
        key = ("set", name)
        if key in self._events:
            del self._events[key]
            self.coalesced += 1
        self._events[key] = value

    def trigger(self, name: str, value: object) -> None:
        self._triggers += 1
        self._events[("trigger", self._triggers)] = (name, value)

    def put(self, bus: ParamBus) -> None:
        for (kind, name), value in self._events.items():
            if kind == "set":
                bus.set(name, value)
            else:
                bus.trigger(*value)
        self._events.clear()
