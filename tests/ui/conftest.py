"""UI fixtures: the real main window on the bundled demo model, offscreen, on a qasync loop.

Every test ends by closing the window the way a user does and checks that no
thread it started is still running.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import numpy as np
import pytest
import shiboken6

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6")
qasync = pytest.importorskip("qasync")

from PySide6.QtCore import QCoreApplication, QEvent, QSettings  # noqa: E402

from latent_studio.ui.main_window import MainWindow  # noqa: E402
from latent_studio.ui.preferences import Preferences  # noqa: E402

MODEL_TIMEOUT_MS = 120_000


@pytest.fixture(scope="session")
def event_loop_qasync(qapp):
    """One qasync loop over the test QApplication, running while Qt processes events (as in the app).

    It is never stopped: stopping a qasync loop asks the QApplication to exit,
    after which a later loop's callbacks never run. At the end of the session
    asyncio forgets it, so nothing after the UI tests sees a running loop.
    """
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def no_thread_left():
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {[t.name for t in left]}"


@pytest.fixture
def preferences(tmp_path):
    prefs = Preferences(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    prefs.final_steps = 12  # keeps embedding and final previews quick on a CPU
    prefs.preview_steps = 6
    prefs.fill_cache = False  # idle-time rendering would race the tests that count decodes; its own tests turn it on
    return prefs


def open_window(qtbot, preferences, data_dir, **kwargs) -> MainWindow:
    window = MainWindow(preferences, data_dir, **kwargs)
    window.ask = lambda title, text: True
    window.ask_save = lambda: "discard"
    window.show()
    qtbot.waitUntil(lambda: window.inference.model is not None and bool(window.session.project.anchors),
                    timeout=MODEL_TIMEOUT_MS)
    return window


def close_window(qtbot, window: MainWindow) -> None:
    window.ask_save = lambda: "discard"
    window.ask = lambda title, text: True
    window.close()
    assert not window.isVisible()
    assert not window.inference.executor.alive
    destroy(window)


def destroy(window) -> None:
    """Delete the window's C++ side now, not at interpreter exit (where PySide6 may crash tearing it down)."""
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()


@pytest.fixture
def window(qtbot, preferences, tmp_path, event_loop_qasync, no_thread_left):
    w = open_window(qtbot, preferences, tmp_path / "data")
    yield w
    if shiboken6.isValid(w):  # tests that close the window themselves have destroyed it
        close_window(qtbot, w)


def canvas_pixels(window) -> np.ndarray:
    image = window.canvas.image
    assert image is not None
    image = image.convertToFormat(image.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].copy()


def wait_for_final(qtbot, window, timeout=60_000):
    """Wait until the canvas shows the frame at the playhead at final quality."""
    final = window.session.project.settings.final_steps

    def done():
        spec = window.session.spec()
        shown = window.preview.last_result
        return shown is not None and shown.request.key == spec and shown.steps == final

    qtbot.waitUntil(done, timeout=timeout)
