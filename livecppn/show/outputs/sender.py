"""Output taps whose consumer runs in a process of its own: NDI and the virtual camera.

Why a process (as the recorder's encoder, media/encoder_process.py): the
consumers are C libraries that keep Python's lock while they work. Measured on
the 2-core machine, `NDIlib.send_send_video_v2` (and its async form) held it
for ~5 ms per 1280x720 picture: in a thread of the show, every NDI picture
stopped the render thread that long. In a process of its own, at a lower
priority than the show (`NICE`), it costs the show nothing but the CPU it
uses, and when the CPU is short the stream drops pictures, not the show.

The render thread reads the picture straight into shared memory (a few slots,
one picture each, at the tap's fixed size: the show's at open, or the option's;
a resized window is scaled into it); the tap's thread (show/outputs/tap.py)
tells the process which slot to send and waits for it to be done, which is
where a slow consumer drops pictures. A consumer that fails says why once and
exits; one that hangs is closed by the show after STALL_S.

`python -m livecppn.show.outputs.sender CONFIG_JSON` is the process's entry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np

from ...media.encoder_process import attach_shared_memory, child_start
from .tap import MAILBOX_DEPTH, OPEN_S, CpuTap, Mailbox

NICE = 5  # below the show (which must never wait), above the recorder's encoder (19)
KINDS = ("ndi", "vcam")


class ProcessTap(CpuTap):
    """A CpuTap whose `send` happens in a sender process. `kind`: "ndi" or "vcam"; `options`: what that
    consumer opens with (NDI source name, camera device); `size`: the pictures' size (fixed)."""

    def __init__(self, ctx, kind: str, options: dict, size: tuple[int, int], fps: float = 0.0):
        if kind not in KINDS:
            raise ValueError(f"no sender for {kind!r} (there are: {', '.join(KINDS)})")
        self.name, self.options = kind, options
        w, h = size
        self._memory = SharedMemory(create=True, size=MAILBOX_DEPTH * w * h * 4)
        super().__init__(ctx, size, fps, Mailbox(MAILBOX_DEPTH, self._memory.buf))
        self._process: subprocess.Popen | None = None
        self._commands = self._replies = None

    def open(self) -> str:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        config = {"kind": self.name, "options": self.options, "size": list(self.fixed_size),
                  "fps": self.fps, "memory": self._memory.name, "commands": to_child_r, "replies": from_child_w,
                  "nice": NICE}
        package_root = str(Path(__file__).resolve().parents[3])  # so the process finds livecppn from a checkout
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "livecppn.show.outputs.sender", json.dumps(config)],
                pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
                process_group=0)  # Ctrl-C goes to the show, which closes its taps itself
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._commands = Connection(to_child_w, readable=False)
        self._replies = Connection(from_child_r, writable=False)
        if not self._replies.poll(OPEN_S):
            raise RuntimeError(f"its sender process did not start in {OPEN_S:g} s")
        reply = self._reply()
        return reply[1]

    def deliver(self, slot: int, size: tuple[int, int], t: float) -> None:
        self._commands.send(("send", slot, t))
        self._reply()  # ("done", slot): the process has sent it; the slot is free again

    def _reply(self) -> tuple:
        try:
            reply = self._replies.recv()
        except EOFError:
            code = self._process.wait(5) if self._process else None
            raise RuntimeError(f"its sender process ended (exit status {code})") from None
        if reply[0] == "error":
            raise RuntimeError(reply[1])
        return reply

    def shut(self) -> None:
        """The tap's thread, when it ends: the process finishes its last picture and exits."""
        if self._process is not None:
            try:
                self._commands.send(None)
            except OSError:
                pass
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(2)
            for conn in (self._commands, self._replies):
                conn.close()
        self._free_memory()

    def close(self, wait: float = 0.0) -> None:
        super().close(wait)
        if not self._thread.is_alive():
            self._free_memory()

    def _free_memory(self) -> None:
        if self._memory is None:
            return
        try:
            self._memory.close()
            self._memory.unlink()
        except BufferError:  # a view is still out (the render thread's readback): the owner's exit frees it
            return
        except FileNotFoundError:
            pass
        self._memory = None


# --- the sender process ----------------------------------------------------------------------------


def make_consumer(kind: str, options: dict, size, fps: float):
    if kind == "ndi":
        from .ndi import NdiSender

        return NdiSender(options.get("name") or "livecppn", size, fps)
    from .vcam import CameraSender

    return CameraSender(options.get("device"), size, fps)


def run(config: dict) -> int:
    commands, replies = child_start(config)  # the show closes the tap; an interrupt is for the show
    w, h = config["size"]
    n = w * h * 4
    consumer = None
    memory = attach_shared_memory(config["memory"])
    try:
        consumer = make_consumer(config["kind"], config["options"], (w, h), config["fps"])
        replies.send(("ready", consumer.open()))
        while True:
            try:
                message = commands.recv()
            except EOFError:  # the show has gone
                break
            if message is None:
                break
            _, slot, t = message
            consumer.send(np.frombuffer(memory.buf, np.uint8, n, slot * n).reshape(h, w, 4), t)
            replies.send(("done", slot))
    except Exception as e:  # noqa: BLE001 - said once by the show, which closes the tap
        try:
            replies.send(("error", f"{type(e).__name__}: {e}" if not isinstance(e, RuntimeError) else str(e)))
        except OSError:
            pass
        return 1
    finally:
        if consumer is not None:
            try:
                consumer.close()
            except Exception:  # noqa: BLE001
                pass
        time.sleep(0)  # let numpy's views of the memory go before it is closed
        try:
            memory.close()
        except BufferError:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(run(json.loads(sys.argv[1])))
