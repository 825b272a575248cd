"""A headless show with NDI out, and a real NDI receiver beside it; run inside tools/netns.sh.

Prints one JSON object on its last line, for tests/test_outputs_ndi.py. The scenario, on the show's
own frame times:
  0 s - PAUSE_AT:   the receiver reads; each NDI frame is compared with the picture a probe tap kept
                    for the same show time (the NDI timecode) — NDI's compression error, measured
  PAUSE_AT - RESUME: the receiver stops reading; the show's frame rate is measured
  RESTART_AT:       `ndi 0` then `ndi 1` over OSC (real UDP to the show's server): the sender restarts
  RESTART_AT + 1.5: a new receiver finds the source again and connects (an NDI receiver does not
                    reliably follow a sender that went and came back: seen both ways here)
  until END:        it gets frames from the restarted sender; then SIGTERM ends the show
The receiver finds the source by name with NDI's finder (told to ask 127.0.0.1: there is no mDNS
daemon here) and connects to the address it reports.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import OrderedDict

import numpy as np

import NDIlib as ndi
from private_net import in_private_namespace, interfaces  # tests/rig/, beside this script
from pythonosc.udp_client import SimpleUDPClient

from livecppn.live import run_live
from livecppn.live_options import LiveOptions
from livecppn.show.outputs.tap import CpuTap
from livecppn.show.outputs.taps import TapConfig

SIZE = (320, 180)
OSC_PORT = 19000  # a private namespace: no other program has it
PAUSE_AT, RESUME_AT, RESTART_AT, END_AT = 4.0, 6.0, 7.0, 11.0
KEEP = 240  # probe pictures kept (the newest)


class Probe(CpuTap):
    """Keeps the show's pictures by show time (the same readback path as NDI's, so exactly what NDI got)."""

    name = "probe"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.pictures: OrderedDict[int, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def send(self, rgba, t):
        with self.lock:
            self.pictures[int(round(t * 1e7))] = rgba[::-1].copy()
            while len(self.pictures) > KEEP:
                self.pictures.popitem(last=False)

    def get(self, timecode: int):
        with self.lock:
            return self.pictures.get(timecode)


class Receiver(threading.Thread):
    def __init__(self, probe_holder: list):
        super().__init__(daemon=True)
        self.probe_holder = probe_holder
        self.paused = threading.Event()
        self.renew = threading.Event()
        self.addresses: list[str] = []  # where the finder found the source, each time
        self.done = threading.Event()
        self.frames: list[tuple[float, int]] = []  # (arrival, timecode)
        self.errors: list[np.ndarray] = []  # |NDI - show| per matched frame (all channels but alpha)

    def connect(self) -> None:
        """Find the show's source by name, as Resolume or OBS would, and connect to it."""
        finder = self.finder
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ndi.find_wait_for_sources(finder, 200)
            found = [s for s in ndi.find_get_current_sources(finder) if s.ndi_name.endswith("(livecppn-test)")]
            if found:
                self.addresses.append(found[0].url_address)
                ndi.recv_connect(self.recv, found[0])
                return
        raise RuntimeError("the NDI finder did not find livecppn-test")

    def open(self) -> None:
        create = ndi.RecvCreateV3()
        create.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
        create.bandwidth = ndi.RECV_BANDWIDTH_HIGHEST
        self.recv = ndi.recv_create_v3(create)
        self.connect()

    def run(self) -> None:
        create = ndi.FindCreate()
        create.show_local_sources = True
        create.extra_ips = "127.0.0.1"  # no mDNS daemon here: the finder asks this address as well
        self.finder = ndi.find_create_v2(create)
        self.open()
        while not self.done.is_set():
            if self.renew.is_set():  # a receiver opened after the restart, as a program started now would
                self.renew.clear()
                ndi.recv_destroy(self.recv)
                self.open()
            if self.paused.is_set():
                time.sleep(0.01)
                continue
            kind, video, _, _ = ndi.recv_capture_v2(self.recv, 100)
            if kind != ndi.FRAME_TYPE_VIDEO:
                continue
            self.frames.append((time.monotonic(), int(video.timecode)))
            picture = np.copy(video.data)
            ndi.recv_free_video_v2(self.recv, video)
            probe = self.probe_holder[0] if self.probe_holder else None
            shown = probe.get(int(video.timecode)) if probe else None
            if shown is not None and shown.shape == picture.shape and len(self.errors) < 60:
                self.errors.append(np.abs(picture[..., :3].astype(np.int16) - shown[..., :3]).ravel())
        ndi.recv_destroy(self.recv)
        ndi.find_destroy(self.finder)


def main() -> None:
    if not in_private_namespace():
        sys.exit(f"refused: not in a private network namespace (interfaces {interfaces()}); use tools/netns.sh")
    assert ndi.initialize()
    probes: list[Probe] = []
    receiver = Receiver(probes)
    shown: list[float] = []  # wall time of each frame shown
    marks: dict[str, float] = {}
    osc = SimpleUDPClient("127.0.0.1", OSC_PORT)

    def make_probe(ctx):
        probe = Probe(ctx).start()
        probes.append(probe)
        return probe

    def on_frame(index, start, end, params, changed):
        shown.append(end)
        t = end - shown[0]
        if "start" not in marks:
            marks["start"] = time.monotonic()
            receiver.start()
        elif t >= PAUSE_AT and "pause" not in marks:
            marks["pause"] = time.monotonic()
            receiver.paused.set()
        elif t >= RESUME_AT and "resume" not in marks:
            marks["resume"] = time.monotonic()
            receiver.paused.clear()
        elif t >= RESTART_AT and "restart" not in marks:
            marks["restart"] = time.monotonic()
            osc.send_message("/livecppn/trigger/ndi", 0)
            threading.Timer(0.5, lambda: osc.send_message("/livecppn/trigger/ndi", 1)).start()
        elif t >= RESTART_AT + 1.5 and "renew" not in marks:
            marks["renew"] = time.monotonic()
            receiver.renew.set()
        elif t >= END_AT and "end" not in marks:
            marks["end"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)  # the show ends as on Ctrl-C: the report is written

    opts = LiveOptions(headless=True, frames=100000, audio="synthetic", size=SIZE, vsync=False, hud=False,
                       osc_port=OSC_PORT, outputs={"ndi": TapConfig("livecppn-test")},
                       extra_taps=(make_probe,), on_frame=on_frame)
    report = run_live(opts)
    receiver.done.set()
    receiver.join(timeout=5)

    def fps(a: float, b: float) -> float:
        return sum(1 for s in shown if a <= s - shown[0] < b) / (b - a)

    def received(a: float, b: float) -> int:
        return sum(1 for arrival, _ in receiver.frames if a <= arrival - marks["start"] < b)

    errors = np.concatenate(receiver.errors) if receiver.errors else np.zeros(0)
    print(json.dumps({
        "frames_shown": len(shown),
        "fps_before_pause": fps(1.0, PAUSE_AT), "fps_paused": fps(PAUSE_AT + 0.2, RESUME_AT),
        "received_before_pause": received(1.0, PAUSE_AT), "received_paused": received(PAUSE_AT + 0.3, RESUME_AT),
        "received_after_restart": received(RESTART_AT + 2.0, END_AT),
        "distinct_timecodes": len({tc for _, tc in receiver.frames}), "received": len(receiver.frames),
        "matched": len(receiver.errors), "addresses": receiver.addresses,
        "error_max": int(errors.max()) if errors.size else None,
        "error_mean": float(errors.mean()) if errors.size else None,
        "error_p99": float(np.percentile(errors, 99)) if errors.size else None,
        "outputs": report["outputs"], "outputs_ms": report["outputs_ms"], "warnings": report["warnings"],
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
