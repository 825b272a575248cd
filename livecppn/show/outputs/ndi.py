"""NDI out (`--ndi [NAME]`, the `ndi` trigger): the show as an NDI source on the network, any OS.

ndi-python's wheels carry the NDI runtime. The sender is made, fed and
destroyed on the tap's own thread (show/outputs/tap.py); `clock_video` is off,
so a send never waits for a frame time or a receiver: the show's pace is the
stream's. Each picture's NDI timecode is the show time it was shown at
(100 ns units), so a receiver can tell frames apart and line them up.
"""

from __future__ import annotations

import threading

import numpy as np

from .tap import CpuTap

DEFAULT_NAME = "livecppn"
NOMINAL_FPS = 60  # the rate a receiver is told when the tap sends every frame shown (the show's own pace)

_init_lock = threading.Lock()
_initialised = False


def ndi_lib():
    """NDIlib, initialised once per process; a clear error where it is missing."""
    global _initialised
    try:
        import NDIlib
    except ImportError:
        raise RuntimeError("NDI needs ndi-python: pip install 'livecppn[rig]'") from None
    with _init_lock:
        if not _initialised:
            if not NDIlib.initialize():
                raise RuntimeError("the NDI runtime did not start (this CPU or OS is not supported by NDI)")
            _initialised = True
    return NDIlib


class NdiTap(CpuTap):
    name = "ndi"

    def __init__(self, ctx, source_name: str = DEFAULT_NAME, size: tuple[int, int] | None = None, fps: float = 0.0):
        super().__init__(ctx, size, fps)
        self.source_name = source_name
        self._ndi = self._sender = self._frame = None

    def open(self) -> str:
        ndi = self._ndi = ndi_lib()
        create = ndi.SendCreate()
        create.ndi_name = self.source_name
        create.clock_video = False  # the show paces the stream; a send never sleeps
        self._sender = ndi.send_create(create)
        if self._sender is None:
            raise RuntimeError(f"could not create an NDI source named {self.source_name!r}")
        frame = self._frame = ndi.VideoFrameV2()
        frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX  # opaque: receivers need not blend
        fps = self.fps or NOMINAL_FPS
        frame.frame_rate_N, frame.frame_rate_D = int(round(fps * 1000)), 1000
        size = "the show's size" if self.fixed_size is None else "%dx%d" % self.fixed_size
        return f"NDI source {self.source_name!r}, {size}" + (f", {self.fps:g} fps" if self.fps else "")

    def send(self, rgba: np.ndarray, t: float) -> None:
        frame = self._frame
        frame.data = np.ascontiguousarray(rgba[::-1])  # NDI wants the top row first; GL keeps the bottom first
        frame.timecode = int(round(t * 1e7))
        self._ndi.send_send_video_v2(self._sender, frame)

    def shut(self) -> None:
        if self._sender is not None:
            self._ndi.send_destroy(self._sender)
            self._sender = None
