"""What went wrong during a show, said once (DESIGN §8).

Bad input can arrive thousands of times a second (a fuzzing client, a
controller in a loop, a flood of deck loads with a wrong name). Each distinct
message is logged the first time and counted after that, so a different
mistake is always said (a second bad deck load with another name is not
hidden behind the first); a *kind* of problem (a caller's label for messages
that differ only in their details) is said with at most PER_KIND distinct
messages, then only counted, so the log stays readable and the frame loop
never spends its time writing it. The report and the HUD read the kept
messages and the counts.
"""

from __future__ import annotations

import logging

log = logging.getLogger("livecppn")

MAX_KEPT = 50  # distinct messages kept for the report; the counts go on
PER_KIND = 5  # distinct messages of one kind that are logged; further ones of that kind are only counted


class ShowLog:
    def __init__(self) -> None:
        self.messages: list[str] = []  # each distinct message logged, in order
        self.counts: dict[str, int] = {}  # occurrences per kind
        self.last: str | None = None  # the newest message, logged or not (for the HUD)
        self._said: dict[str, set[str]] = {}  # kind -> its distinct messages logged so far

    def __bool__(self) -> bool:
        return bool(self.messages)

    def warn(self, msg: str, kind: str | None = None, level: int = logging.WARNING) -> bool:
        """Record `msg`; log it when it is new and its kind has had fewer than PER_KIND distinct messages
        (`kind=None`: the message is its own kind). Returns whether it was logged."""
        kind = kind or msg
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.last = msg
        said = self._said.setdefault(kind, set())
        if msg in said or len(said) >= PER_KIND:
            return False
        said.add(msg)
        suffix = ""
        if kind != msg:
            suffix = (" (repeats are only counted)" if len(said) < PER_KIND
                      else " (repeats, and further ones like it, are only counted)")
        log.log(level, "%s%s", msg, suffix)
        if len(self.messages) < MAX_KEPT:
            self.messages.append(msg)
        return True

    def error(self, msg: str, kind: str | None = None) -> bool:
        return self.warn(msg, kind, logging.ERROR)

    def report(self) -> dict:
        repeated = {kind: n for kind, n in self.counts.items() if n > 1}
        return {"messages": list(self.messages), "repeated": repeated}
