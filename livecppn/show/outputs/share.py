"""GPU texture sharing: Syphon (macOS, `--syphon [NAME]`) and Spout (Windows, `--spout [NAME]`).

Zero copies: the composited picture's GL texture is handed to the sharing
library on the render thread, which owns the GL context; a receiver (Resolume,
TouchDesigner, MadMapper, OBS) reads it on the GPU. Each library is imported
only on its own platform, when its tap opens.

UNTESTED: written from syphon-python's (`SyphonOpenGLServer.publish_frame_texture`)
and SpoutGL's (`SpoutSender.sendTexture`, `setFrameSync`) documented APIs;
neither can run on the Linux machines this was built on. Until someone has
run them on macOS and Windows (README, In a rig), treat them as untested.
"""

from __future__ import annotations

import sys

from .tap import Picture, TapState

GL_TEXTURE_2D = 0x0DE1


class _ShareTap:
    """A tap that publishes the picture's texture on the render thread; a library error closes it."""

    name = "share"
    platform = ""

    def __init__(self, ctx, share_name: str = "livecppn"):
        if sys.platform != self.platform:
            raise RuntimeError(f"{self.name} runs on {self.platform} only (this is {sys.platform})")
        self.ctx, self.share_name = ctx, share_name
        self.sent = 0
        self._error: str | None = None
        self._closed = False

    def start(self):
        return self

    def offer(self, picture: Picture) -> None:
        if self._closed or self._error is not None:
            return
        texture = picture.compositor.fbo.color_attachments[0]
        try:
            self._publish(texture.glo, texture.size)
            self.sent += 1
        except Exception as e:  # noqa: BLE001 - said once by the show, which closes the tap
            self._error = f"{self.name}: {e}"

    def failure(self) -> str | None:
        return self._error

    def state(self) -> TapState:
        state = "failed" if self._error else "off" if self._closed else "on"
        return TapState(self.name, state, self.sent, 0, self._error or f"{self.name} {self.share_name!r}")

    def close(self, wait: float = 0.0) -> None:
        if not self._closed:
            self._closed = True
            self._stop()

    def _publish(self, texture_id: int, size: tuple[int, int]) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        pass


class SyphonTap(_ShareTap):
    name, platform = "syphon", "darwin"

    def __init__(self, ctx, share_name: str = "livecppn"):
        super().__init__(ctx, share_name)
        try:
            import syphon
        except ImportError:
            raise RuntimeError("Syphon needs syphon-python: pip install 'livecppn[rig]'") from None
        self._server = syphon.SyphonOpenGLServer(share_name)  # the current context: the render thread's

    def _publish(self, texture_id: int, size: tuple[int, int]) -> None:
        # GL's rows are bottom first, as Syphon's OpenGL server expects (not flipped).
        self._server.publish_frame_texture(texture_id, size=size, target=GL_TEXTURE_2D)

    def _stop(self) -> None:
        self._server.stop()


class SpoutTap(_ShareTap):
    name, platform = "spout", "win32"

    def __init__(self, ctx, share_name: str = "livecppn"):
        super().__init__(ctx, share_name)
        try:
            import SpoutGL
        except ImportError:
            raise RuntimeError("Spout needs SpoutGL: pip install 'livecppn[rig]'") from None
        self._sender = SpoutGL.SpoutSender()
        self._sender.setSenderName(share_name)

    def _publish(self, texture_id: int, size: tuple[int, int]) -> None:
        w, h = size
        # invert: GL's rows are bottom first, Spout's top first. 0: no host framebuffer to restore.
        if not self._sender.sendTexture(texture_id, GL_TEXTURE_2D, w, h, True, 0):
            raise RuntimeError("SpoutGL sendTexture failed")
        self._sender.setFrameSync(self.share_name)

    def _stop(self) -> None:
        self._sender.releaseSender()
