"""What went wrong during a show, said once (DESIGN §8).

Bad input can arrive thousands of times a second (a fuzzing client, a
controller in a loop, a flood of deck loads with a wrong name). Each *kind* of
problem is logged the first time and counted after that, so the log stays
readable and the frame loop never spends its time writing it. The report and
the HUD read the kept messages and the counts.
"""

from __future__ import annotations

import logging

log = logging.getLogger("livecppn")

MAX_KEPT = 50  # distinct messages kept for the report; the counts go on


class ShowLog:
    def __init__(self) -> None:
        self.messages: list[str] = []  # the first message of each kind, in order
        self.counts: dict[str, int] = {}  # occurrences per kind
        self.last: str | None = None  # the newest message, logged or not (for the HUD)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def warn(self, msg: str, kind: str | None = None, level: int = logging.WARNING) -> bool:
        """Record `msg`; log it when its kind is new (`kind=None`: the message is its own kind).
        Returns whether it was logged."""
        kind = kind or msg
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        self.last = msg
        if n > 1:
            return False
        suffix = " (further ones like it are only counted)" if kind != msg else ""
        log.log(level, "%s%s", msg, suffix)
        if len(self.messages) < MAX_KEPT:
            self.messages.append(msg)
        return True

    def error(self, msg: str, kind: str | None = None) -> bool:
        return self.warn(msg, kind, logging.ERROR)

    def report(self) -> dict:
        repeated = {kind: n for kind, n in self.counts.items() if n > 1}
        return {"messages": list(self.messages), "repeated": repeated}
