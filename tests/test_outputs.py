"""Output taps (show/outputs/): the interface, a consumer that misbehaves, NDI to a real receiver, the
virtual camera, and the options. NDI runs inside a private network namespace (tools/netns.sh) so its
discovery never leaves the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from realparts import run_in_netns, wait_for

from livecppn.live_options import LiveOptionsError, add_live_parser, options_from_args
from livecppn.show.outputs.tap import CpuTap, Mailbox, Picture, TapState
from livecppn.show.outputs.taps import TapConfig

ROOT = Path(__file__).resolve().parents[1]
RIG = Path(__file__).parent / "rig"


def run_rig(script: str, netns: bool = False, timeout: float = 120) -> dict:
    cmd = [sys.executable, str(RIG / script)]
    if netns:
        out = run_in_netns(cmd, timeout)
    else:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the mailbox and the readback -------------------------------------------------------------------

def test_the_mailbox_hands_the_newest_picture_and_counts_the_ones_replaced():
    box = Mailbox(depth=3)
    box.size = (2, 1)
    for i in range(3):
        slot = box.slot()
        box.buffer(slot)[:] = bytes([i] * 8)
        box.video(slot, float(i))
    slot, t, size = box.take(0.1)
    rgba = box.picture(slot, size)
    assert t == 2.0 and rgba.shape == (1, 2, 4) and (rgba == 2).all() and box.replaced == 2
    assert box.take(0.01) is None
    # One held by the thread, one waiting: the third is being filled; a replaced one is free again.
    assert box.slot() is not None and box.slot() is not None and box.slot() is None
    box.give_back(slot)
    assert box.slot() == slot


class Keeper(CpuTap):
    name = "keeper"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.kept = {}

    def send(self, rgba, t):
        self.kept[t] = rgba.copy()


@pytest.mark.parametrize("pbo", [False, True])
def test_a_cpu_tap_gets_exactly_the_picture_through_either_readback(ctx, pbo):
    w, h = 64, 36
    frames = []
    fbo = ctx.framebuffer(color_attachments=[ctx.texture((w, h), 4)])
    tap = Keeper(ctx).start()
    tap.pbo = pbo  # llvmpipe reads straight over by default; the pixel-buffer ring is the GPU's path
    compositor = SimpleNamespace(fbo=fbo, size=(w, h))
    rng = np.random.default_rng(1)
    for i in range(6):
        picture = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        fbo.color_attachments[0].write(picture.tobytes())
        frames.append(picture)
        tap.offer(Picture(compositor, float(i), i))
        wait_for(lambda: len(tap.kept) + tap.state().dropped >= (i - 1 if pbo else i + 1), 2)  # one at a time
    assert wait_for(lambda: len(tap.kept) >= (4 if pbo else 6), 5), tap.state()  # the ring holds the last two
    tap.close(wait=2)
    for t, rgba in tap.kept.items():
        assert np.array_equal(rgba, frames[int(t)]), f"picture {t} differs"
    fbo.color_attachments[0].release()
    fbo.release()


def test_a_flood_of_open_and_close_opens_a_kind_at_most_once_in_min_open_s(ctx, monkeypatch):
    from livecppn.show.outputs import taps as taps_module
    from livecppn.showlog import ShowLog

    monkeypatch.setattr(taps_module, "MIN_OPEN_S", 0.5)
    showlog = ShowLog()
    idle_recorder = SimpleNamespace(name="record", offer=lambda picture: None, failure=lambda: None,
                                    state=lambda: TapState("record", "off"), close=lambda wait=0: None)
    taps = taps_module.Taps(ctx, showlog, {}, idle_recorder, lambda: (64, 36))
    for i in range(200):  # Syphon fails to open on this OS at once: each open is one counted warning
        taps.set("syphon", 1)
        taps.set("syphon", 0 if i % 2 else None)
    assert showlog.counts["output syphon failed"] == 1
    taps.set("syphon", 1)  # within MIN_OPEN_S: waits for its moment ...
    assert showlog.counts["output syphon failed"] == 1 and taps.wanted == {"syphon": True}
    time.sleep(0.6)
    taps.offer(Picture(SimpleNamespace(), 0.0, 0))  # ... which comes on a later frame
    assert showlog.counts["output syphon failed"] == 2 and not taps.wanted
    taps.set("syphon", 1)
    taps.set("syphon", 0)  # a close before the moment drops the waiting open
    time.sleep(0.6)
    taps.offer(Picture(SimpleNamespace(), 0.0, 0))
    assert showlog.counts["output syphon failed"] == 2


# --- consumers that misbehave ------------------------------------------------------------------------

def test_slow_stuck_and_failing_consumers_never_stall_the_show():
    r = run_rig("taps_show.py")
    out = r["outputs"]
    # The slow consumer took what it could, dropped the rest, and stayed open.
    assert out["slow"]["state"] == "off"  # closed by the end of the show, not by a fault
    assert 0 < out["slow"]["sent"] <= 5.0 / 0.25 + 2 and out["slow"]["dropped"] > 0
    # The stuck one was closed after STALL_S; the failing one at its fault; Syphon is not on this OS.
    assert out["stuck"]["state"] == "failed" and "no picture for 2 s" in out["stuck"]["detail"]
    assert out["raises"]["state"] == "failed" and out["raises"]["sent"] == 2
    assert "the consumer went away" in out["raises"]["detail"]
    assert out["syphon"]["state"] == "failed" and "darwin only" in out["syphon"]["detail"]
    assert sum("output stuck closed" in w for w in r["warnings"]) == 1
    assert sum("output raises closed" in w for w in r["warnings"]) == 1
    # The render thread never waited for a consumer: a slow picture takes 250 ms, the taps' whole
    # share of any frame stays far below it, and the show went on drawing.
    assert r["outputs_ms"]["max"] < 100, r["outputs_ms"]
    assert r["frames"] >= 25


# --- NDI to a real receiver ------------------------------------------------------------------------

NDI_TOLERANCE = {"mean": 6.0, "p99": 24.0, "max": 64}  # 0-255 per channel; measured: 3.2-3.6, 13-14, 29-32


def test_ndi_receiver_gets_the_shows_picture_and_survives_a_pause_and_a_restart():
    pytest.importorskip("NDIlib", reason="ndi-python is not installed (pip install 'livecppn[rig]')")
    r = run_rig("ndi_show.py", netns=True)
    before = r["fps_before_pause"] * 3.0  # frames shown from 1 s to the pause at 4 s
    assert r["received_before_pause"] >= 0.5 * before, r
    # Pictures match what the show composited, within NDI's compression (a lossy codec).
    assert r["matched"] >= 10, r
    assert r["error_mean"] <= NDI_TOLERANCE["mean"] and r["error_p99"] <= NDI_TOLERANCE["p99"], r
    assert r["error_max"] <= NDI_TOLERANCE["max"], r
    assert r["distinct_timecodes"] == r["received"]  # every picture once, stamped with its show time
    # A receiver that stops reading: it gets nothing, and the show's pace does not follow it down.
    assert r["received_paused"] == 0
    assert r["fps_paused"] >= 0.5 * r["fps_before_pause"], r
    # `ndi 0` / `ndi 1` over OSC restarted the sender; the receiver (by address) picked it up again.
    assert r["received_after_restart"] >= 10, r
    assert r["outputs"]["ndi"]["state"] == "off" and r["outputs"]["ndi"]["sent"] > 0
    assert not r["warnings"], r["warnings"]


# --- the virtual camera ----------------------------------------------------------------------------

def loopback_device() -> str | None:
    for dev in sorted(Path("/sys/class/video4linux").glob("video*")):
        if "loopback" in (dev / "name").read_text().lower():
            return f"/dev/{dev.name}"
    return None


def test_a_virtual_camera_shows_the_picture(ctx):
    pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed (pip install 'livecppn[rig]')")
    device = loopback_device()
    if device is None:
        pytest.skip("no v4l2loopback device here (it needs the kernel module: modprobe v4l2loopback)")
    import av

    from livecppn.show.outputs.vcam import VirtualCameraTap

    fbo = ctx.framebuffer(color_attachments=[ctx.texture((320, 180), 4)])
    fbo.color_attachments[0].write(np.full((180, 320, 4), (200, 40, 90, 255), np.uint8).tobytes())
    tap = VirtualCameraTap(ctx, device, (320, 180), 30.0).start()
    compositor = SimpleNamespace(fbo=fbo, size=(320, 180))
    assert wait_for(lambda: tap.state().state == "on", 5), tap.state()
    for i in range(10):
        tap.offer(Picture(compositor, i / 30, i))
        time.sleep(1 / 30)
    with av.open(device, format="v4l2") as cam:
        frame = next(cam.decode(video=0)).to_ndarray(format="rgb24")
    tap.close(wait=2)
    assert np.abs(frame.astype(int) - (200, 40, 90)).mean() < 8


# --- options ---------------------------------------------------------------------------------------

def parse(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_live_parser(parser.add_subparsers())
    return options_from_args(parser.parse_args(["live", *argv]))


def test_output_options():
    assert parse().outputs == {}
    assert parse("--ndi").outputs == {"ndi": TapConfig("livecppn")}
    assert parse("--ndi", "stage left", "--ndi-size", "640x360", "--ndi-fps", "30").outputs == {
        "ndi": TapConfig("stage left", (640, 360), 30.0)}
    # A size alone is how the `ndi` trigger will open it; nothing opens at the start.
    assert parse("--ndi-size", "640x360").outputs == {"ndi": TapConfig(None, (640, 360), 0.0, at_start=False)}
    assert parse("--v4l2", "/dev/video3").outputs == {"vcam": TapConfig("/dev/video3")}
    assert set(parse("--syphon", "--spout", "x").outputs) == {"syphon", "spout"}
    with pytest.raises(LiveOptionsError, match="--ndi-fps"):
        parse("--ndi-fps", "-1")
