"""Live recording: a headless show with --record driven over real UDP OSC, its automation log replayed
by `livecppn render`; recording failures that must not stop the show (DESIGN §8)."""

import json
import resource
import signal
import time
from pathlib import Path

import av
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, start_show

import livecppn
from livecppn.media.automation import read_automation
from livecppn.media.encode import EncodeOptions
from livecppn.offline.render import RenderOptions, render_file
from livecppn.audio.analyzer import AudioSpan
from livecppn.show import recorder as recorder_module
from livecppn.render.compositor import Compositor
from livecppn.showlog import ShowLog


def state(comp):
    """What a show hands the recorder for its log's start line (show/show.py: LiveShow._record_state)."""
    return lambda: {"values": {}, "targets": {}, "decks": {}, "size": comp.size}


def frame_times(path):
    with av.open(str(path)) as c:
        return [f.time for f in c.decode(video=0)]


def audio_seconds(path):
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        return sum(f.samples for f in c.decode(audio=0)) / rate


def test_record_a_show_and_render_it_again_from_its_automation(ctx, tmp_path):
    port = free_port()
    rec = tmp_path / "set.mp4"
    proc, report_path = start_show(tmp_path, "--osc-port", str(port), "--record", str(rec))
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        time.sleep(0.8)
        client.send_message("/livecppn/param/kaleido", 4.0)
        time.sleep(0.5)
        client.send_message("/livecppn/param/zoom", 2.0)
        client.send_message("/livecppn/trigger/tap", [])
        time.sleep(0.5)
        client.send_message("/livecppn/param/hue", 0.25)
        time.sleep(0.5)
        client.send_message("/livecppn/trigger/record", 0)  # stop; then a second take
        time.sleep(0.5)
        client.send_message("/livecppn/trigger/record", 1)
        time.sleep(0.5)
    finally:
        report, log = end_show(proc, report_path)
    recording = report["recording"]
    assert recording["files"] == [str(rec), str(tmp_path / "set-2.mp4")] and not recording["errors"]
    # The encoder runs below the show's priority: on a loaded machine it may drop frames, never the show.
    assert recording["frames"] + recording["dropped"] > 20 and recording["frames"] > 5

    # The video: one frame per recorded show frame (minus any dropped), stamped on the audio clock;
    # the audio beside it as long as the take (its stop in the log), the video's frames within it.
    times = frame_times(rec)
    stop = json.loads((tmp_path / "set.automation.jsonl").read_text().splitlines()[-1])
    assert stop["kind"] == "stop"
    assert len(times) > 2 and times == sorted(times) and times[-1] <= stop["t"] + 0.05
    assert audio_seconds(rec) == pytest.approx(stop["t"], abs=0.05)
    assert (tmp_path / "set.wav").is_file() and (tmp_path / "set-2.mp4").is_file()
    # Provenance: which livecppn made the take, in the report, the file's metadata and the log's start line.
    assert report["livecppn"] == livecppn.__version__
    with av.open(str(rec)) as c:
        assert c.metadata.get("comment") == f"livecppn {livecppn.__version__}"
    assert json.loads((tmp_path / "set.automation.jsonl").read_text().splitlines()[0])["livecppn"] == \
        livecppn.__version__

    # The automation log has each change with its audio time.
    automation = read_automation(tmp_path / "set.automation.jsonl")
    sets = {e["name"]: e for e in automation.events if e["kind"] == "set"}
    assert sets["kaleido"]["value"] == 4.0 and sets["zoom"]["value"] == 2.0 and sets["hue"]["value"] == 0.25
    assert sets["kaleido"]["t"] < sets["zoom"]["t"] < sets["hue"]["t"]
    assert any(e["kind"] == "trigger" and e["name"] == "tap" for e in automation.events)
    assert not any(e.get("name") == "hue" for e in read_automation(tmp_path / "set-2.automation.jsonl").events)

    # Rendered again from the log against the recorded audio, at another size: each change lands on
    # the frame that sees the same audio (within half a frame), and the picture changes there.
    fps = 30
    out = tmp_path / "again"
    summary = render_file(RenderOptions(tmp_path / "set.wav", out, size=(160, 90), fps=fps, progress=False,
                                        automation=tmp_path / "set.automation.jsonl",
                                        encode=EncodeOptions(codec="png")), ctx=ctx)
    replayed = {e["name"]: e for e in summary["events"] if e["kind"] == "set"}
    for name in ("kaleido", "zoom", "hue"):
        assert abs(replayed[name]["t"] - sets[name]["t"]) <= 0.5 / fps + 1e-6, name
    assert any(e["kind"] == "trigger" and e["name"] == "tap" for e in summary["events"])
    from PIL import Image

    k = replayed["kaleido"]["frame"]
    before, at = (np.asarray(Image.open(out / f"{i:06d}.png")).astype(int) for i in (k - 1, k))
    assert np.array_equal(at, at[:, ::-1]) and not np.array_equal(before, before[:, ::-1])  # mirrored from k


def test_a_failing_recording_leaves_the_show_running(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc, report_path = start_show(tmp_path, "--no-osc", "--record", str(blocker / "set.mp4"))
    time.sleep(1.5)
    report, log = end_show(proc, report_path)
    assert report["frames"] > 10 and report["recording"]["errors"]
    assert str(blocker / "set.mp4") in report["recording"]["errors"][0]
    assert any("recording stopped" in w for w in report["warnings"])


def test_ctrl_c_in_the_terminal_ends_the_show_and_finishes_the_recording(tmp_path):
    """Ctrl-C reaches the whole process group, the encoder process too: the show still ends the take
    itself, so the file is whole and the log ends with its stop."""
    import os

    rec = tmp_path / "set.mp4"
    proc, report_path = start_show(tmp_path, "--no-osc", "--record", str(rec), preexec_fn=os.setpgrp)
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does
    proc.wait(timeout=30)
    assert proc.returncode == 0, proc.log_path.read_text()[-3000:]
    report = json.loads(report_path.read_text())
    assert not report["recording"]["errors"] and report["recording"]["frames"] > 0
    stop = json.loads((tmp_path / "set.automation.jsonl").read_text().splitlines()[-1])
    assert stop["kind"] == "stop"
    assert len(frame_times(rec)) == report["recording"]["frames"]  # every frame sent is in the file
    assert audio_seconds(rec) == pytest.approx(stop["t"], abs=0.05)


def _ignore_sigxfsz():  # a write past RLIMIT_FSIZE then fails with EFBIG, as on a full disk (inherited by the encoder)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _encoder_of(proc, timeout=10.0) -> int:
    """The pid of the show's encoder process (its child running livecppn.media.encoder_process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in (Path("/proc") / str(proc.pid) / "task").iterdir():
            for pid in (task / "children").read_text().split():
                if b"livecppn.media.encoder_process" in (Path("/proc") / pid / "cmdline").read_bytes():
                    return int(pid)
        time.sleep(0.05)
    raise AssertionError("the show started no encoder process")


def test_a_full_disk_stops_the_recording_not_the_show(tmp_path):
    rec = tmp_path / "set.mp4"
    proc, report_path = start_show(tmp_path, "--no-osc", "--record", str(rec), "--record-crf", "12",
                                   preexec_fn=_ignore_sigxfsz)
    # The encoder's files may not grow past 512 KiB: a write beyond fails, as on a full disk.
    resource.prlimit(_encoder_of(proc), resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))
    deadline = time.monotonic() + 40  # the WAV alone (96 KB/s) fills 512 KiB in 5.5 s of show
    while "recording stopped" not in proc.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the show goes on after it
    report, log = end_show(proc, report_path)
    errors = report["recording"]["errors"]
    assert errors and "set." in errors[0] and "too large" in errors[0], report["recording"]  # the MP4 or the WAV
    assert any("recording stopped" in w for w in report["warnings"])
    frames_after = report["frames_per_second"][-2:]
    assert all(n > 0 for n in frames_after)  # still rendering at the end
    assert len(frame_times(rec)) > 0  # what was written plays


def test_a_slow_encoder_drops_frames_instead_of_stalling(ctx, tmp_path, monkeypatch):
    """With room for one pending frame and a slow encoder, frames are dropped and counted."""
    monkeypatch.setattr(recorder_module, "PENDING_FRAMES", 1)
    comp = Compositor(ctx, 640, 360)
    rec = recorder_module.Recorder(ctx, tmp_path / "r.mp4", ShowLog(), 48000, state(comp),
                                   EncodeOptions(preset="veryslow", crf=0), fps=0)
    noise = np.random.default_rng(0)
    for i in range(40):
        audio = noise.standard_normal(1600).astype(np.float32) * 0.1  # the span the analyser consumed
        comp.ctx.clear()  # a different picture each frame: the encoder has real work
        comp.fbo.use()
        comp.ctx.clear(*(noise.random(3)), 1.0)
        rec.frame(AudioSpan(i * 1600, 1600, audio), [])
        rec.capture(comp)
    rec.stop()
    report = rec.report()
    assert report["dropped"] > 0 and report["frames"] + report["dropped"] == 40
    assert len(frame_times(tmp_path / "r.mp4")) == report["frames"]
    assert json.loads((tmp_path / "r.automation.jsonl").read_text().splitlines()[-1])["kind"] == "stop"


def test_a_60_fps_show_records_30_pictures_a_second(ctx, tmp_path):
    """--record-fps 30 (the default) on a 60 fps show: every other frame, on a 1/30 s grid."""
    comp = Compositor(ctx, 160, 90)

    rec = recorder_module.Recorder(ctx, tmp_path / "r.mp4", ShowLog(), 48000, state(comp))  # from the first frame
    start = time.monotonic()
    for i in range(120):  # 2 s at 60 fps (800 samples a frame), in real time as a show
        time.sleep(max(0.0, start + i / 60 - time.monotonic()))
        rec.frame(AudioSpan(i * 800, 800, np.zeros(800, np.float32)), [])
        rec.capture(comp)
    rec.stop()
    report = rec.report()
    # Every other frame is due; each due one recorded (or, on a loaded machine, dropped and counted).
    assert report["frames"] + report["dropped"] == 60 and report["frames"] > 30
    times = frame_times(tmp_path / "r.mp4")
    steps = np.diff(times)[1:] * 30  # (the first frame decodes at 0, the rest ~21 ms later: AAC's priming)
    assert len(times) == report["frames"] and np.allclose(steps, np.round(steps), atol=0.06) and steps.min() > 0.9
    assert audio_seconds(tmp_path / "r.mp4") == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("gpu_yuv", [True, False], ids=["yuv-in-gl", "rgba-to-encoder"])
def test_the_recording_shows_the_output_picture(ctx, tmp_path, gpu_yuv):
    """The picture goes through the yuv420p conversion (in GL as on a GPU, or in the encoder process as on
    a software driver), shared memory and H.264: it decodes to what was shown."""
    w, h = 320, 180
    comp = Compositor(ctx, w, h)
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256 // 2 + 64], axis=-1).astype(np.uint8)  # top row first
    comp.fbo.color_attachments[0].write(np.dstack([image[::-1], np.full((h, w), 255, np.uint8)]).tobytes())

    rec = recorder_module.Recorder(ctx, tmp_path / "r.mp4", ShowLog(), 48000, state(comp), fps=0, gpu_yuv=gpu_yuv)
    for i in range(8):
        rec.frame(AudioSpan(i * 1600, 1600, np.zeros(1600, np.float32)), [])
        rec.capture(comp)
    rec.stop()
    with av.open(str(tmp_path / "r.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 8
    assert np.abs(frames[-1].astype(int) - image.astype(int)).mean() < 3.0


def test_a_flood_of_record_triggers_cannot_fill_the_disk(ctx, tmp_path):
    """`record 1` / `record 0` every frame for 3 s: a take starts at most once a second (not 90 takes);
    no file is overwritten."""
    comp = Compositor(ctx, 160, 90)
    (tmp_path / "r.mp4").write_bytes(b"last night's set")  # a file from an earlier show
    rec = recorder_module.Recorder(ctx, tmp_path / "r.mp4", ShowLog(), 48000, state(comp), fps=0)
    rec.want = False  # not from the first frame: only the triggers start takes
    start = time.monotonic()
    for i in range(180):
        time.sleep(max(0.0, start + i / 60 - time.monotonic()))
        rec.record(1 - i % 2)
        rec.frame(AudioSpan(i * 800, 800, np.zeros(800, np.float32)), [])
        rec.capture(comp)
    rec.stop()
    assert (tmp_path / "r.mp4").read_bytes() == b"last night's set"
    assert 2 <= len(rec.files) <= 4 and not rec.errors, rec.files  # at 0, 1, 2 (and 3) s
    assert tmp_path / "r.mp4" not in map(Path, rec.files)
    for f in rec.files:
        assert json.loads(Path(f).with_suffix(".automation.jsonl").read_text().splitlines()[-1])["kind"] == "stop"
