"""CUDA-GL interop: the generator's CUDA image goes straight into the GL texture (DESIGN §6).

The texture is registered with CUDA once (write-discard: CUDA overwrites all of
it, GL keeps nothing). Each frame, on torch's current stream and on the thread
that owns the GL context: map → the mapped CUDA array → one asynchronous 2D
device-to-device copy from the frame tensor → unmap. Unmapping orders the copy
before GL's next use of the texture, so nothing waits on the host and no frame
queues up between CUDA and GL. The pixels never visit host memory.

Registration is redone on resize, and always undone before the texture (or
the context) is destroyed. Uses `cuda.bindings.runtime` from cuda-python,
13.0.3 or newer (pyproject): 12.9.3 and 13.0.2 report success for
cudaGraphicsGLRegisterImage and return a null handle (NVIDIA/cuda-python#1122),
which is also checked here.
"""

from __future__ import annotations

import logging

import moderngl
import torch

log = logging.getLogger("livecppn.render")

GL_TEXTURE_2D = 0x0DE1


class InteropError(RuntimeError):
    """CUDA-GL interop cannot run here (no CUDA, GL on another GPU or a software driver, a bad binding)."""


def _cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError as e:  # not installed (it is a dependency on Linux and Windows)
        raise InteropError(f"cuda-python is not installed ({e}); pip install 'cuda-bindings>=13.0.3,<14'") from e
    return cudart


def _check(cudart, result, call: str):
    """cuda-python returns (err, *values): raise InteropError naming the call unless err is success."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(err)
        name = name.decode() if isinstance(name, bytes) else str(name)
        raise InteropError(f"{call} failed: {name}")
    return values[0] if len(values) == 1 else values


class CudaGLSink:
    """A GL texture written by CUDA: `upload()` takes a contiguous RGBA uint8 CUDA tensor (H, W, 4).
    Render thread only (the thread whose GL context is current)."""

    name = "cuda-gl"

    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        if not torch.cuda.is_available():
            raise InteropError("CUDA is not available")
        self.ctx = ctx
        self.cudart = _cudart()
        self.texture: moderngl.Texture | None = None
        self._resource = None
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if self.texture is not None and self.texture.size == (width, height):
            return
        self.release()
        self.texture = self.ctx.texture((width, height), 4, dtype="f1")  # GL_RGBA8
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.repeat_x = self.texture.repeat_y = False
        cudart = self.cudart
        flags = cudart.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsWriteDiscard
        try:
            resource = _check(cudart, cudart.cudaGraphicsGLRegisterImage(self.texture.glo, GL_TEXTURE_2D, flags),
                              "cudaGraphicsGLRegisterImage")
            if resource is None or int(resource) == 0:
                raise InteropError("cudaGraphicsGLRegisterImage returned a null handle (a broken cuda-bindings "
                                   "version? 12.9.3 and 13.0.2 do this; use 13.0.3 or newer)")
        except Exception:
            self.texture.release()
            self.texture = None
            raise
        self._resource = resource

    def upload(self, frame: torch.Tensor) -> None:
        h, w, c = frame.shape
        if (w, h) != self.texture.size or c != 4 or frame.dtype != torch.uint8:
            raise ValueError(f"frame is {w}x{h}x{c} {frame.dtype}, texture is "
                             f"{self.texture.size[0]}x{self.texture.size[1]}x4 uint8")
        if not frame.is_cuda or not frame.is_contiguous():
            raise ValueError("the cuda-gl sink takes a contiguous CUDA tensor")
        cudart = self.cudart
        stream = cudart.cudaStream_t(torch.cuda.current_stream(frame.device).cuda_stream)
        _check(cudart, cudart.cudaGraphicsMapResources(1, self._resource, stream), "cudaGraphicsMapResources")
        try:
            array = _check(cudart, cudart.cudaGraphicsSubResourceGetMappedArray(self._resource, 0, 0),
                           "cudaGraphicsSubResourceGetMappedArray")
            row = w * 4
            _check(cudart, cudart.cudaMemcpy2DToArrayAsync(
                array, 0, 0, frame.data_ptr(), row, row, h, cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice, stream),
                "cudaMemcpy2DToArrayAsync")
        finally:
            _check(cudart, cudart.cudaGraphicsUnmapResources(1, self._resource, stream), "cudaGraphicsUnmapResources")

    def release(self) -> None:
        """Unregister, then free the texture (never the other way round)."""
        if self._resource is not None:
            try:
                _check(self.cudart, self.cudart.cudaGraphicsUnregisterResource(self._resource),
                       "cudaGraphicsUnregisterResource")
            except InteropError as e:  # the context may already be going away; nothing else to do
                log.warning("%s", e)
            self._resource = None
        if self.texture is not None:
            self.texture.release()
            self.texture = None


def probe(ctx: moderngl.Context) -> str | None:
    """None if interop works on this GL context (a tiny texture written and read back), else why not."""
    if not torch.cuda.is_available():
        return "CUDA is not available"
    try:
        sink = CudaGLSink(ctx, 4, 2)
    except InteropError as e:
        return str(e)
    try:
        frame = torch.arange(4 * 2 * 4, dtype=torch.uint8, device="cuda").reshape(2, 4, 4)
        sink.upload(frame)
        torch.cuda.current_stream().synchronize()
        back = torch.frombuffer(bytearray(sink.texture.read()), dtype=torch.uint8).reshape(2, 4, 4)
        if not torch.equal(back, frame.cpu()):
            return "CUDA-GL interop wrote the wrong pixels"
        return None
    except (InteropError, RuntimeError) as e:
        return str(e)
    finally:
        sink.release()
