"""ShowStatus (DESIGN §1): one frozen value per frame, built by the render thread, read by the HUD,
the report and the controllers' feedback — never live objects."""

import dataclasses
import threading
import time
from types import MappingProxyType

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, start_show

from livecppn.audio.features import AudioFeatures
from livecppn.control.params import ParamBus
from livecppn.show.outputs.tap import TapState
from livecppn.show.status import ShowStatus, changed_lines, hud_lines


def status(**changes) -> ShowStatus:
    bus = ParamBus()
    bus.set("crossfader", 0.25)
    s = ShowStatus(frame=7, params=bus.step(100.0), features=dataclasses.replace(AudioFeatures.silent(), bpm=128.0),
                   fps=59.9, frame_p50=16.6, frame_p99=18.0, gpu_p50=None, backend="glsl", internal=(640, 360),
                   decks=MappingProxyType({"a": "ice", "b": "ember"}), source="synthetic",
                   audio=MappingProxyType({"status": "ok", "overflows": 0, "bpm": 128.0, "bpm_confidence": 0.82,
                                           "beats_per_bar": 4, "tempo_source": "tracker"}),
                   effects="fx kaleido", autopilot="AUTO flowing +3 bars", recording=True, recorded=120, rec_dropped=2,
                   outputs=(TapState("record", "on", 120, 2), TapState("ndi", "on", 300, 4, "NDI source 'livecppn'")),
                   controls=("osc :9000 12 msgs",), warning="deck B: bad file",
                   changed=(("kaleido", 4.0, "segments"), ("zoom", 2.0, "×"), ("crossfader", 0.25, "")))
    return dataclasses.replace(s, **changes)


def test_it_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        status().fps = 1.0


def test_the_hud_reads_the_status():
    lines = hud_lines(status())
    assert lines[0].startswith(" 59.9 fps") and "REC 120 frames (2 dropped)" in lines[0]
    assert lines[1] == "backend glsl 640x360   fx kaleido"
    assert lines[2] == "A ice  B ember   x 0.25   AUTO flowing +3 bars"
    assert "128.0 BPM (tracker 0.82)  beat 1/4" in lines[4]
    assert lines[5] == "out ndi on 300/4 dropped"  # the recorder has its own REC, on the first line
    assert lines[6] == "! deck B: bad file" and lines[7] == "osc :9000 12 msgs"
    assert "REC" not in hud_lines(status(recording=False))[0]
    assert not any(line.startswith("out ") for line in hud_lines(status(outputs=(TapState("record", "off"),))))


def test_the_hud_shows_the_confidence_and_the_beat_in_the_bar_of_its_meter():
    waltz = dataclasses.replace(AudioFeatures.silent(), bpm=90.0, bar_phase=0.4, beats_per_bar=3)
    audio = {"status": "ok", "overflows": 0, "bpm": 90.0, "bpm_confidence": 0.3, "beats_per_bar": 3,
             "tempo_source": "tracker"}
    assert hud_lines(status(features=waltz, audio=MappingProxyType(audio)))[4].endswith(
        " 90.0 BPM (tracker 0.30)  beat 2/3")
    tapped = {**audio, "tempo_source": "tap", "bpm_confidence": 1.0}
    assert hud_lines(status(features=waltz, audio=MappingProxyType(tapped)))[4].endswith(" 90.0 BPM (tap)  beat 2/3")
    assert hud_lines(status(audio=MappingProxyType({**audio, "bpm": 0.0})))[4].endswith("tempo: listening")


def test_the_hud_page_of_changed_values():
    lines = changed_lines(status())
    assert lines[0].startswith("changed from default") and "kaleido 4" in lines[1] and "zoom 2×" in lines[1]
    assert changed_lines(status(changed=())) == ["all parameters at their defaults"]
    assert "beat_lookahead 75ms" in changed_lines(status(changed=(("beat_lookahead", 75.0, "ms"),)))[1]
    many = tuple((f"param_{i}", float(i), "") for i in range(20))
    assert all(len(line) <= 48 for line in changed_lines(status(changed=many))[1:])


def test_a_show_publishes_it_to_the_report_and_the_osc_feedback(tmp_path):
    """A real headless show: --set kaleido=4; the report's `changed` and an OSC /get reply (answered from
    what the render thread published) agree. With --set meter=1 (3 beats) and a tapped tempo, the report's
    audio section and the features sent with --osc-send carry the confidence (1: tapped) and the meter."""
    port, replies, audio = free_port(), [], {}
    dispatcher = Dispatcher()
    dispatcher.map("/livecppn/param/kaleido", lambda address, *args: replies.append(args))
    dispatcher.map("/livecppn/audio/*", lambda address, *args: audio.__setitem__(address.rsplit("/", 1)[1], args))
    listener = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    proc, report_path = start_show(tmp_path, "--osc-port", str(port), "--set", "kaleido=4", "--set", "meter=1",
                                   "--osc-send", f"127.0.0.1:{listener.server_address[1]}")
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        deadline = time.monotonic() + 30
        while not replies and time.monotonic() < deadline:
            client.send_message("/livecppn/get/kaleido", listener.server_address[1])
            time.sleep(0.2)
        for _ in range(3):  # a tapped tempo: confidence 1, whatever the tracker makes of the beat
            client.send_message("/livecppn/trigger/tap", 1)
            time.sleep(0.5)
        while audio.get("bpm_confidence") != (1.0,) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)  # a bundle or two more
    finally:
        report, _ = end_show(proc, report_path)
        listener.shutdown()
    assert report["changed"] == {"kaleido": 4.0, "meter": 1.0}
    assert replies and replies[-1] == (4.0,)
    tempo = report["audio"]
    assert tempo["tempo_source"] == "tap" and tempo["bpm_confidence"] == 1.0 and tempo["beats_per_bar"] == 3
    assert report["features"]["beats_per_bar"] == 3 and report["features"]["bpm_confidence"] == 1.0
    assert audio["bpm_confidence"] == (1.0,) and audio["beats_per_bar"] == (3,)  # an int, not a float
    assert isinstance(audio["beats_per_bar"][0], int)
