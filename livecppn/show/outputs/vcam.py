"""A virtual camera (`--vcam [DEVICE]`, the `vcam` trigger): the show as a webcam for OBS, Zoom, a browser.

pyvirtualcam writes to a v4l2loopback device on Linux (`/dev/videoN`, made
with `modprobe v4l2loopback`), and to OBS's virtual camera on Windows and
macOS. A camera has a fixed size and rate, so the tap has both (default
1280x720 at 30 fps). `CameraSender` runs in the tap's sender process
(show/outputs/sender.py). Only the Linux path can be tested, on a machine
with a loopback device.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0


class CameraSender:
    """One virtual camera. `open()` returns what it is; `send(rgba, t)` takes GL's rows, bottom first."""

    def __init__(self, device: str | None, size: tuple[int, int], fps: float):
        self.device, self.size, self.fps = device, size, fps or DEFAULT_FPS
        self._camera = None

    def open(self) -> str:
        try:
            import pyvirtualcam
        except ImportError:
            raise RuntimeError("a virtual camera needs pyvirtualcam: pip install 'livecppn[rig]'") from None
        w, h = self.size
        self._camera = pyvirtualcam.Camera(w, h, self.fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                           device=self.device or None, print_fps=False)
        return f"virtual camera {self._camera.device}, {w}x{h}, {self.fps:g} fps"

    def send(self, rgba: np.ndarray, t: float) -> None:
        self._camera.send(np.ascontiguousarray(rgba[::-1, :, :3]))  # RGB, top row first

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
