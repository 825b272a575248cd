"""A headless show with output taps whose consumers misbehave; prints the report's figures as JSON.

A slow consumer (each picture takes SLOW_S), a stuck one (its first picture never returns), one that
raises on its third picture, and Syphon asked for on a machine that is not a Mac. Run by tests/test_outputs.py; the show runs
SECONDS of wall time and ends as on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from livecppn.live import run_live
from livecppn.live_options import LiveOptions
from livecppn.show.outputs.tap import CpuTap
from livecppn.show.outputs.taps import TapConfig

SECONDS = 5.0
SLOW_S = 0.25


class Slow(CpuTap):
    name = "slow"

    def send(self, rgba, t):
        time.sleep(SLOW_S)


class Stuck(CpuTap):
    name = "stuck"

    def send(self, rgba, t):
        threading.Event().wait()  # a consumer that never comes back (a hung device, a dead peer)


class Raises(CpuTap):
    name = "raises"

    def send(self, rgba, t):
        if self.sent == 2:
            raise OSError("the consumer went away")


def main() -> None:
    shown: list[float] = []

    def on_frame(index, start, end, params, changed):
        shown.append(end)
        if end - shown[0] >= SECONDS and len(shown) > 1 and shown[-2] - shown[0] < SECONDS:
            os.kill(os.getpid(), signal.SIGTERM)

    taps = (lambda ctx: Slow(ctx).start(), lambda ctx: Stuck(ctx).start(), lambda ctx: Raises(ctx).start())
    opts = LiveOptions(headless=True, frames=100000, audio="synthetic", size=(320, 180), internal=(64, 36),
                       vsync=False, hud=False, osc_port=None, on_frame=on_frame,
                       extra_taps=taps, outputs={"syphon": TapConfig()})
    report = run_live(opts)
    print(json.dumps({"frames": report["frames"], "fps": report["fps"], "outputs": report["outputs"],
                      "outputs_ms": report["outputs_ms"], "warnings": report["warnings"]}))


if __name__ == "__main__":
    main()
