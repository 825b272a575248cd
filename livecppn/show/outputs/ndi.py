"""NDI out (`--ndi [NAME]`, the `ndi` trigger): the show as an NDI source on the network, any OS.

ndi-python's wheels carry the NDI runtime. `NdiSender` runs in the tap's
sender process (show/outputs/sender.py says why a process): made, fed and
destroyed there. `clock_video` is off, so a send never waits for a frame time
or a receiver: the show's pace is the stream's. Each picture's NDI timecode is
the show time it was shown at (100 ns units), so a receiver can tell frames
apart and line them up.
"""

from __future__ import annotations

import numpy as np

DEFAULT_NAME = "livecppn"
NOMINAL_FPS = 60  # the rate a receiver is told when the tap sends every frame shown (the show's own pace)


def ndi_lib():
    """NDIlib, initialised; a clear error where it is missing."""
    try:
        import NDIlib
    except ImportError:
        raise RuntimeError("NDI needs ndi-python: pip install 'livecppn[rig]'") from None
    if not NDIlib.initialize():
        raise RuntimeError("the NDI runtime did not start (this CPU or OS is not supported by NDI)")
    return NDIlib


class NdiSender:
    """One NDI source. `open()` returns what it is; `send(rgba, t)` takes GL's rows, bottom first."""

    def __init__(self, name: str, size: tuple[int, int], fps: float):
        self.name, self.size, self.fps = name, size, fps
        self._ndi = self._sender = self._frame = None

    def open(self) -> str:
        ndi = self._ndi = ndi_lib()
        create = ndi.SendCreate()
        create.ndi_name = self.name
        create.clock_video = False  # the show paces the stream; a send never sleeps
        self._sender = ndi.send_create(create)
        if self._sender is None:
            raise RuntimeError(f"could not create an NDI source named {self.name!r} (is one running already?)")
        frame = self._frame = ndi.VideoFrameV2()
        frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX  # opaque: receivers need not blend
        fps = self.fps or NOMINAL_FPS
        frame.frame_rate_N, frame.frame_rate_D = int(round(fps * 1000)), 1000
        w, h = self.size
        return f"NDI source {self.name!r}, {w}x{h}" + (f", {self.fps:g} fps" if self.fps else "")

    def send(self, rgba: np.ndarray, t: float) -> None:
        frame = self._frame
        frame.data = np.ascontiguousarray(rgba[::-1])  # NDI wants the top row first; GL keeps the bottom first
        frame.timecode = int(round(t * 1e7))
        self._ndi.send_send_video_v2(self._sender, frame)

    def close(self) -> None:
        if self._sender is not None:
            self._ndi.send_destroy(self._sender)
            self._sender = None
