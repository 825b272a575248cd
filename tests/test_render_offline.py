"""`livecppn render`: real PyAV encode/decode, real GL (Xvfb + Mesa), the frame clock (DESIGN §2)."""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from realparts import write_wav

from livecppn import paths
from livecppn.audio.analyzer import Analyzer
from livecppn.audio.decode import load_audio
from livecppn.audio.synth import synthetic_beat
from livecppn.control.params import ParamBus
from livecppn.model.generator import Generator
from livecppn.model.style import load_style
from livecppn.media.encode import EncodeOptions
from livecppn.offline.render import RenderError, RenderOptions, render_file
from livecppn.render.compositor import Compositor
from livecppn.render.sinks import PBOSink

ROOT = Path(__file__).resolve().parent.parent
SR = 48000


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    """1.5 s of the synthetic beat, stereo."""
    return write_wav(tmp_path_factory.mktemp("track") / "beat.wav", synthetic_beat(1.5, SR), SR, channels=2)


def decode(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [f.to_ndarray() for f in c.decode(audio=0)]
        channels = c.streams.audio[0].channels if c.streams.audio else 0
    return frames, (np.concatenate(audio, axis=1) if audio else np.zeros((1, 0))), channels


def pngs(folder):
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(Path(folder).glob("*.png"))]


def live_path_frame(ctx, track_path, k, fps, size):
    """Frame k as the live path's parts render it, driven by hand: the analyser fed the offline clock's
    audio, the generator at the network time after k + 1 frames, the compositor with default params."""
    mono, rate = load_audio(track_path)
    analyzer, dt, pos = Analyzer(rate), 1.0 / fps, 0
    for n in range(k + 1):
        end = round(n * rate / fps)
        features = analyzer.process(mono[pos:end], dt)
        pos = end
    style = load_style(paths.default_style_path())
    gen, sink, comp = Generator(style, *size), PBOSink(ctx, *size), Compositor(ctx, *size)
    params = ParamBus().snapshot()
    sink.upload(gen.render((k + 1) * dt, features.vector() * np.float32(params.audio_gain)))
    comp.draw(sink.texture, None, params)
    return comp.read()


def test_render_makes_an_mp4_of_the_track(ctx, track, tmp_path):
    out = tmp_path / "out.mp4"
    summary = render_file(RenderOptions(track, out, size=(160, 90), fps=20, progress=False), ctx=ctx)
    frames, audio, channels = decode(out)
    assert abs(len(frames) - 30) <= 1 and summary["frames"] == 30  # fps × duration
    assert frames[0].shape == (90, 160, 3)
    assert channels == 2 and audio.shape[1] / SR == pytest.approx(1.5, abs=0.05)  # AAC pads to its block size

    # The same frames as PNGs (lossless): frame k is what the live path's parts make for that instant,
    # and the H.264 frame is that picture within codec tolerance.
    folder = tmp_path / "png"
    render_file(RenderOptions(track, folder, size=(160, 90), fps=20, progress=False), ctx=ctx)
    still = pngs(folder)
    assert len(still) == 30 and (folder / "audio.wav").is_file()
    for k in (0, 17):
        ref = live_path_frame(ctx, track, k, 20, (160, 90)).astype(int)
        assert np.abs(still[k].astype(int) - ref).max() <= 1
        assert np.abs(frames[k].astype(int) - ref).mean() < 4.0


def test_two_renders_give_identical_frames(ctx, track, tmp_path):
    outs = []
    for name in ("a", "b"):
        opts = RenderOptions(track, tmp_path / name, size=(96, 54), fps=15, progress=False,
                             initial={"pulse": 1.0, "spin": 30.0, "trails": 0.5}, encode=EncodeOptions(codec="png"))
        render_file(opts, ctx=ctx)
        outs.append(pngs(tmp_path / name))
    assert len(outs[0]) == 22 or len(outs[0]) == 23
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
    assert not np.array_equal(outs[0][3], outs[0][12])  # and the picture moves


def test_a_render_replays_beat_lookahead_from_the_automation(ctx, tmp_path):
    """The renderer hands beat_lookahead to the analyser every frame, as live: a tap tempo (three taps
    replayed from the log, at frames 6, 18 and 30 of 24 fps: beats at (5 + 12 k) / 24 s) flashes white on
    each beat; the lookahead starts at 10 ms and the log sets it to 110 ms at 1.5 s (frame 36). Beat k
    flashes on the first frame n with n / 24 + lookahead >= its time: frame 29 (10 ms), then 2.64 frames
    early: 39, 51 and 63 (not 41, 53 and 65)."""
    import json

    from livecppn.media.automation import VERSION

    track = write_wav(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32), SR, channels=2)
    log = tmp_path / "take.automation.jsonl"
    values = {"flash": 1.0, "flash_sync": 1.0, "fx_decay": 0.05, "beat_lookahead": 10.0}
    lines = [{"kind": "start", "version": VERSION, "frame": 0, "t": 0.0, "values": values, "targets": {},
              "decks": {}}]
    lines += [{"kind": "trigger", "name": "tap", "value": None, "t": n / 24} for n in (6, 18, 30)]
    lines += [{"kind": "set", "name": "beat_lookahead", "value": 110.0, "t": 1.5}]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    render_file(RenderOptions(track, tmp_path / "png", size=(32, 18), fps=24, progress=False, automation=log,
                              encode=EncodeOptions(codec="png")), ctx=ctx)
    white = [n for n, frame in enumerate(pngs(tmp_path / "png")) if frame.min() > 250]
    assert white == [29, 39, 51, 63]


def run_cli(*args, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "livecppn", "render", *map(str, args), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn)


def test_bad_output_paths_and_codecs_fail_clearly(track, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli(track, blocker / "out.mp4", "--size", "64x36", "--fps", "10")
    assert proc.returncode == 1 and str(blocker / "out.mp4") in proc.stderr
    proc = run_cli(track, tmp_path / "x.mp4", "--codec", "vp99", "--size", "64x36")
    assert proc.returncode == 2 and "unknown codec 'vp99'" in proc.stderr
    with pytest.raises(RenderError, match="no such file"):
        render_file(RenderOptions(tmp_path / "missing.wav", tmp_path / "y.mp4", progress=False))



def test_outputs_that_would_surprise_are_refused_or_said(track, tmp_path, caplog):
    # A new folder is made (as the live recorder does), not refused.
    proc = run_cli(track, tmp_path / "new" / "dir" / "o.mp4", "--size", "64x36", "--fps", "10", "--seconds", "0.5")
    assert proc.returncode == 0 and (tmp_path / "new" / "dir" / "o.mp4").is_file(), proc.stderr[-2000:]
    # A video name with the png codec, or a container we do not write, is refused before any work.
    proc = run_cli(track, tmp_path / "x.mp4", "--codec", "png", "--size", "64x36")
    assert proc.returncode == 1 and "names a video file" in proc.stderr and not (tmp_path / "x.mp4").exists()
    proc = run_cli(track, tmp_path / "o.avi", "--size", "64x36")
    assert proc.returncode == 1 and "not .avi" in proc.stderr and not (tmp_path / "o.avi").exists()
    # NVENC asked for where it cannot open says why, not "Operation not permitted".
    from livecppn.media.encode import EncodeError, EncodeOptions, VideoWriter, nvenc_works

    if not nvenc_works():
        with pytest.raises(EncodeError, match="needs an NVIDIA GPU"):
            VideoWriter(tmp_path / "n.mp4", (64, 36), 10, options=EncodeOptions(codec="h264_nvenc"))
    # An odd size is rounded down, and said.
    with caplog.at_level("WARNING", logger="livecppn"):
        writer = VideoWriter(tmp_path / "odd.mp4", (65, 37), 10, options=EncodeOptions(codec="libx264"))
        writer.close()
    assert writer.size == (64, 36) and "65x37 written as 64x36" in caplog.text


def _small_disk():  # the process's files may not grow past 128 KiB: writes beyond fail with EFBIG, as on a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (128 * 1024, 128 * 1024))


def test_a_full_disk_fails_with_a_playable_partial_file(tmp_path):
    track = write_wav(tmp_path / "long.wav", synthetic_beat(6.0, SR), SR)
    out = tmp_path / "out.mp4"
    proc = run_cli(track, out, "--size", "320x180", "--fps", "20", "--crf", "10", "--internal", "80x45",
                   preexec_fn=_small_disk)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert str(out) in proc.stderr and "plays up to" in proc.stderr
    frames, _, _ = decode(out)
    assert 5 <= len(frames) < 120  # what was written before the disk filled still plays


def test_ctrl_c_leaves_a_playable_file(tmp_path):
    track = write_wav(tmp_path / "long.wav", synthetic_beat(30.0, SR), SR)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "livecppn", "render", str(track), str(out), "--size", "160x90",
                             "--fps", "20"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        while not (out.exists() and out.stat().st_size > 20_000) and proc.poll() is None:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted at frame" in err
    frames, audio, _ = decode(out)
    assert 20 <= len(frames) < 600 and audio.shape[1] > 0
    assert os.path.getsize(out) > 20_000
