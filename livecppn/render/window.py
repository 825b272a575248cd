"""The window: glfw, one GL 3.3+ core context per process, keys, fullscreen on a chosen monitor.

Owned by the render thread (glfw requires the main thread for events on most
platforms, so `livecppn live` renders on the main thread).
"""

from __future__ import annotations

import logging

import glfw

log = logging.getLogger("livecppn.render")

# Key labels as the registry writes them (control/registry.py: each trigger's `keys`) -> glfw keys.
_NAMED = {"Esc": glfw.KEY_ESCAPE, "Backspace": glfw.KEY_BACKSPACE, "Space": glfw.KEY_SPACE, "Tab": glfw.KEY_TAB}


def key_actions(keys: dict[str, str]) -> dict[tuple[int, bool], str]:
    """The registry's key labels ("T", "Shift+T", "Esc") -> {(glfw key, shift held): action}."""
    out = {}
    for label, action in keys.items():
        shift, _, name = label.rpartition("+")
        code = _NAMED.get(name) or getattr(glfw, f"KEY_{name.upper()}", None)
        if code is None or shift not in ("", "Shift"):
            raise ValueError(f"key {label!r} for {action!r}: not a key this window knows")
        out[(code, shift == "Shift")] = action
    return out


class WindowError(RuntimeError):
    pass


def list_monitors() -> list[dict]:
    """Monitors glfw can see (index, name, native mode). Needs glfw initialised."""
    out = []
    for i, mon in enumerate(glfw.get_monitors() or []):
        mode = glfw.get_video_mode(mon)
        name = glfw.get_monitor_name(mon)
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        out.append({"index": i, "name": name, "width": mode.size.width,
                    "height": mode.size.height, "refresh": mode.refresh_rate})
    return out


class Window:
    def __init__(self, size: tuple[int, int] = (1280, 720), title: str = "livecppn",
                 fullscreen: bool = False, monitor: int = 0, visible: bool = True, vsync: bool = True,
                 keys: dict[str, str] | None = None):
        """`keys`: key label -> the action poll() reports (the registry's `keys`; none: no key actions)."""
        if not glfw.init():
            raise WindowError(f"cannot start glfw (no display? DISPLAY unset or X server down): {glfw.get_error()}")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, visible)
        glfw.window_hint(glfw.RESIZABLE, True)
        self.windowed_size = size
        self.windowed_pos: tuple[int, int] | None = None
        self.monitor_index = monitor
        self.handle = glfw.create_window(size[0], size[1], title, None, None)
        if not self.handle:
            glfw.terminate()
            raise WindowError(f"cannot open an OpenGL 3.3 core window: {glfw.get_error()}")
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1 if vsync else 0)
        self.actions: list[str] = []
        self.key_actions = key_actions(keys or {})
        self.resized = False
        # Resizes are noticed by comparing sizes in poll(): glfw's size
        # callback does not fire for hidden (unmapped) windows on X11.
        self._last_size = self.framebuffer_size
        glfw.set_key_callback(self.handle, self._on_key)
        self.fullscreen = False
        if fullscreen:
            self.set_fullscreen(True)

    def _on_key(self, _win, key, _scancode, action, mods) -> None:
        if action == glfw.PRESS:
            shift = bool(mods & glfw.MOD_SHIFT)
            name = self.key_actions.get((key, shift)) or self.key_actions.get((key, False))
            if name is not None:
                self.actions.append(name)

    def _monitor(self):
        monitors = glfw.get_monitors() or []
        if not monitors:
            return None
        if not 0 <= self.monitor_index < len(monitors):
            log.warning("monitor %d not found (%d connected); using the primary monitor",
                        self.monitor_index, len(monitors))
            self.monitor_index = 0
            return glfw.get_primary_monitor()
        return monitors[self.monitor_index]

    def set_fullscreen(self, on: bool) -> None:
        """Fullscreen on the chosen monitor at its native mode, or back to the windowed size."""
        if on == self.fullscreen:
            return
        if on:
            mon = self._monitor()
            if mon is None:
                log.warning("no monitor reported by the display; staying windowed")
                return
            self.windowed_pos = glfw.get_window_pos(self.handle)
            self.windowed_size = glfw.get_window_size(self.handle)
            mode = glfw.get_video_mode(mon)
            glfw.set_window_monitor(self.handle, mon, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate)
        else:
            x, y = self.windowed_pos or (64, 64)
            w, h = self.windowed_size
            glfw.set_window_monitor(self.handle, None, x, y, w, h, 0)
        self.fullscreen = on
        self.resized = True

    def toggle_fullscreen(self) -> None:
        self.set_fullscreen(not self.fullscreen)

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return glfw.get_framebuffer_size(self.handle)

    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.handle))

    def poll(self) -> list[str]:
        """Process window events; return the key actions since the last poll. Sets `resized`."""
        glfw.poll_events()
        size = self.framebuffer_size
        if size != self._last_size:
            self._last_size = size
            self.resized = True
        actions, self.actions = self.actions, []
        return actions

    def swap(self) -> None:
        glfw.swap_buffers(self.handle)

    def close(self) -> None:
        if self.handle:
            glfw.destroy_window(self.handle)
            self.handle = None
        glfw.terminate()


class OffscreenSurface:
    """Stands in for a window where no display exists (headless runs on a
    server): an EGL context with no window. Same interface as Window."""

    fullscreen = False
    resized = False

    def __init__(self, size: tuple[int, int]):
        self.size = size

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return self.size

    def should_close(self) -> bool:
        return False

    def poll(self) -> list[str]:
        return []

    def swap(self) -> None:
        pass

    def toggle_fullscreen(self) -> None:
        pass

    def close(self) -> None:
        pass
