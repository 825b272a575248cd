"""Shared fixtures: a real GL context (glfw hidden window on Xvfb + Mesa).

tools/test.sh starts Xvfb and sets DISPLAY. Without a display these tests
fail, rather than skip: the GL path is part of what the suite must prove.
"""

import moderngl
import pytest

from livecppn.render.window import Window, WindowError


@pytest.fixture(scope="session")
def gl_window():
    try:
        window = Window((320, 180), visible=False, vsync=False)
    except WindowError as e:
        pytest.fail(f"no GL window ({e}); run the tests through tools/test.sh, which starts Xvfb")
    yield window
    window.close()


@pytest.fixture(scope="session")
def ctx(gl_window):
    return moderngl.create_context(require=330)
