"""The glfw window on a real X server (Xvfb): fullscreen at the monitor's native mode, keys."""

import glfw
import pytest

from livecppn.control.registry import default_registry
from livecppn.render.window import key_actions, list_monitors


@pytest.fixture
def window(gl_window):
    # the session's GL window; left as it came: hidden, windowed at 320x180 (going fullscreen maps it,
    # and a visible test window would take the keyboard focus from later tests' windows)
    yield gl_window
    gl_window.set_fullscreen(False)
    glfw.set_window_size(gl_window.handle, 320, 180)
    glfw.hide_window(gl_window.handle)
    gl_window.poll()


def wait_for_size(window, size, tries=50):
    for _ in range(tries):
        window.poll()
        if window.framebuffer_size == size:
            return True
        glfw.wait_events_timeout(0.02)
    return False


def test_monitors_are_listed_with_their_native_mode(gl_window):
    monitors = list_monitors()
    assert monitors, "Xvfb reports one screen"
    assert (monitors[0]["width"], monitors[0]["height"]) == (1920, 1080)  # tools/services.sh starts Xvfb at 1920x1080


def test_fullscreen_goes_to_the_monitor_native_mode_and_back(window):
    native = (list_monitors()[0]["width"], list_monitors()[0]["height"])
    window.resized = False
    window.set_fullscreen(True)
    assert window.fullscreen and window.resized
    assert wait_for_size(window, native), window.framebuffer_size
    window.toggle_fullscreen()
    assert not window.fullscreen
    assert wait_for_size(window, (320, 180)), window.framebuffer_size


def test_missing_monitor_falls_back_to_the_primary(window, caplog):
    window.monitor_index = 7
    window.set_fullscreen(True)
    assert window.fullscreen and window.monitor_index == 0
    assert "monitor 7 not found" in caplog.text


def test_keys_map_to_actions(gl_window):
    # the key callback as glfw calls it: the registry's keys are actions; other keys are ignored
    gl_window.key_actions = key_actions(default_registry().keys)
    for key, mods, action in [(glfw.KEY_F, 0, "fullscreen"), (glfw.KEY_H, 0, "hud"), (glfw.KEY_ESCAPE, 0, "quit"),
                              (glfw.KEY_Q, 0, "quit"), (glfw.KEY_T, 0, "tap"), (glfw.KEY_T, glfw.MOD_SHIFT, "tap_clear"),
                              (glfw.KEY_L, 0, "learn_next"), (glfw.KEY_L, glfw.MOD_SHIFT, "learn_prev"),
                              (glfw.KEY_BACKSPACE, 0, "learn_cancel"), (glfw.KEY_S, 0, "learn_save"),
                              (glfw.KEY_R, 0, "record"), (glfw.KEY_H, glfw.MOD_SHIFT, "hud_page"),
                              (glfw.KEY_F, glfw.MOD_SHIFT, "fullscreen")]:
        gl_window._on_key(gl_window.handle, key, 0, glfw.PRESS, mods)
        assert gl_window.poll() == [action]
    gl_window._on_key(gl_window.handle, glfw.KEY_A, 0, glfw.PRESS, 0)
    gl_window._on_key(gl_window.handle, glfw.KEY_F, 0, glfw.RELEASE, 0)
    assert gl_window.poll() == []
    assert set(gl_window.key_actions.values()) == {"fullscreen", "hud", "hud_page", "quit", "tap", "tap_clear",
                                                   "learn_next", "learn_prev", "learn_cancel", "learn_save", "record"}
    with pytest.raises(ValueError, match="not a key"):
        key_actions({"Ctrl+Q": "quit"})
    gl_window.key_actions = {}


def test_resizing_the_window_is_reported(window):
    window.resized = False
    glfw.set_window_size(window.handle, 500, 300)
    assert wait_for_size(window, (500, 300))
    assert window.resized
