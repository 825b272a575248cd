"""A virtual camera (`--vcam [DEVICE]`, the `vcam` trigger): the show as a webcam for OBS, Zoom, a browser.

pyvirtualcam writes to a v4l2loopback device on Linux (`/dev/videoN`, made
with `modprobe v4l2loopback`), and to OBS's virtual camera on Windows and
macOS. A camera has a fixed size and rate, so the tap has both (default
1280x720 at 30 fps); the camera is opened, fed and closed on the tap's own
thread. Only the Linux path can be tested on a machine with a loopback device.
"""

from __future__ import annotations

import numpy as np

from .tap import CpuTap

DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0


class VirtualCameraTap(CpuTap):
    name = "vcam"

    def __init__(self, ctx, device: str | None = None, size: tuple[int, int] | None = None,
                 fps: float = 0.0):
        super().__init__(ctx, size or DEFAULT_SIZE, fps or DEFAULT_FPS)
        self.device = device
        self._camera = None

    def open(self) -> str:
        try:
            import pyvirtualcam
        except ImportError:
            raise RuntimeError("a virtual camera needs pyvirtualcam: pip install 'livecppn[rig]'") from None
        w, h = self.fixed_size
        self._camera = pyvirtualcam.Camera(w, h, self.fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                           device=self.device, print_fps=False)
        return f"virtual camera {self._camera.device}, {w}x{h}, {self.fps:g} fps"

    def send(self, rgba: np.ndarray, t: float) -> None:
        self._camera.send(np.ascontiguousarray(rgba[::-1, :, :3]))  # RGB, top row first

    def shut(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
