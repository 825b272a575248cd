"""The show's problem log: each kind logged once, then counted (no log flood)."""

import logging

from livecppn.showlog import MAX_KEPT, PER_KIND, ShowLog


def test_each_distinct_message_is_logged_once_and_a_kind_at_most_per_kind_times(caplog):
    showlog = ShowLog()
    with caplog.at_level(logging.WARNING, logger="livecppn"):
        for i in range(1000):
            showlog.error(f"deck A: no slot {i % 500}", "deck load: no such slot")
        showlog.warn("audio source lost")
        showlog.warn("audio source lost")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == PER_KIND + 1
    assert said[0] == "deck A: no slot 0 (repeats are only counted)"
    assert said[PER_KIND - 1].endswith("(repeats, and further ones like it, are only counted)")
    assert caplog.records[0].levelno == logging.ERROR
    assert showlog.messages == [f"deck A: no slot {i}" for i in range(PER_KIND)] + ["audio source lost"]
    assert showlog.last == "audio source lost"
    assert showlog.report()["repeated"] == {"deck load: no such slot": 1000, "audio source lost": 2}


def test_a_different_mistake_of_the_same_kind_is_said(caplog):
    showlog = ShowLog()
    with caplog.at_level(logging.WARNING, logger="livecppn"):
        showlog.error("deck_b: no style named 'mos'", "deck load failed")
        showlog.error("deck_b: no style named 'mos'", "deck load failed")
        showlog.error("deck_b: no style named 'moss'", "deck load failed")
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "deck_b: no style named 'mos'", "deck_b: no style named 'moss'"]


def test_the_kept_messages_are_bounded():
    showlog = ShowLog()
    for i in range(10 * MAX_KEPT):
        showlog.warn(f"problem {i}")
    assert len(showlog.messages) == MAX_KEPT and showlog.last == f"problem {10 * MAX_KEPT - 1}"
