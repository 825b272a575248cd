"""The show's problem log: each kind logged once, then counted (no log flood)."""

import logging

from livecppn.showlog import MAX_KEPT, ShowLog


def test_each_kind_is_logged_once_then_counted(caplog):
    showlog = ShowLog()
    with caplog.at_level(logging.WARNING, logger="livecppn"):
        for i in range(1000):
            showlog.error(f"deck A: no slot {i}", "deck load: no such slot")
        showlog.warn("audio source lost")
        showlog.warn("audio source lost")
    assert len(caplog.records) == 2
    assert "no slot 0" in caplog.records[0].getMessage() and "only counted" in caplog.records[0].getMessage()
    assert caplog.records[0].levelno == logging.ERROR
    assert showlog.messages == ["deck A: no slot 0", "audio source lost"]
    assert showlog.last == "audio source lost"
    assert showlog.report()["repeated"] == {"deck load: no such slot": 1000, "audio source lost": 2}


def test_the_kept_messages_are_bounded():
    showlog = ShowLog()
    for i in range(10 * MAX_KEPT):
        showlog.warn(f"problem {i}")
    assert len(showlog.messages) == MAX_KEPT and showlog.last == f"problem {10 * MAX_KEPT - 1}"
