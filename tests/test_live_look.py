"""End to end on a headless show: post effects in the live loop, and the autopilot switched on over
OSC, changing styles by itself until a manual control takes over."""

import time

from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, start_show


def test_effects_run_in_the_live_loop(tmp_path):
    proc, report_path = start_show(tmp_path, "--no-osc", "--set", "kaleido=6", "--set", "trails=0.5",
                                   "--set", "vignette=1", "--set", "spin=20")
    try:
        time.sleep(2.0)
    finally:
        report, log = end_show(proc, report_path)
    assert report["frames"] > 10
    for name in ("kaleido", "trails", "vignette", "spin"):
        assert name in report["effects"], report["effects"]
    assert report["gl_errors"] == {}, log[-2000:]


def test_autopilot_takes_over_when_switched_on_and_hands_back_on_manual_input(tmp_path):
    port = free_port()
    proc, report_path = start_show(tmp_path, "--osc-port", str(port), "--set", "transition_time=0.5",
                                   "--set", "autopilot_bars=4")
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message("/livecppn/param/autopilot", 1.0)  # switched on: engages at once
        time.sleep(7.0)  # the first change comes at the next bar (2 s at 120 BPM), then a load and a go
        client.send_message("/livecppn/param/brightness", 0.8)  # a person plays: hand back
        time.sleep(3.0)
    finally:
        report, log = end_show(proc, report_path)
    auto = report["autopilot"]
    assert auto["changes"], log[-3000:]
    assert auto["handbacks"] and not auto["engaged"]
    handback = auto["handbacks"][0]
    assert all(c["time"] < handback for c in auto["changes"])
    # the style it cued went on air: a deck now holds a style other than the start's two
    assert {report["decks"]["a"], report["decks"]["b"]} != {"default", "ice"}
    assert auto["changes"][0]["family"] in ("fractal", "organic", "flowing", "geometric")
