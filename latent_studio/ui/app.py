"""Start the desktop app: QApplication, theme, logging, the qasync event loop and the main window."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import qasync
from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from latent_studio import __version__
from latent_studio.core.resources import resources_dir
from latent_studio.ui.errors import log, setup_logging
from latent_studio.ui.main_window import MainWindow
from latent_studio.ui.preferences import Preferences
from latent_studio.ui.theme import apply_theme


def data_folder() -> Path:
    """Where logs and autosaves of untitled projects live (per user; LATENT_STUDIO_DATA overrides)."""
    override = os.environ.get("LATENT_STUDIO_DATA")
    if override:
        return Path(override)
    return Path(QStandardPaths.writableLocation(QStandardPaths.AppDataLocation))


def app_icon() -> QIcon:
    icon = QIcon()
    root = resources_dir()
    if root is not None:
        for png in sorted((root / "icons").glob("latent-studio-*.png")):
            icon.addFile(str(png))
    return icon


def make_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setOrganizationName("Latent Studio")
    app.setApplicationName("Latent Studio")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("latent-studio")
    app.setWindowIcon(app_icon())
    return app


def run_gui(project: Path | None = None, model: str | None = None, quit_after_first_frame: bool = False) -> int:
    started = time.perf_counter()
    app = make_application()
    data = data_folder()
    log_file = setup_logging(data)
    log.info("Latent Studio %s starting (log: %s)", __version__, log_file)
    preferences = Preferences()
    apply_theme(app, preferences.theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(preferences, data, project_path=project, model_spec=model)
    window.reporter.install()
    loop.set_exception_handler(lambda _loop, context: window.reporter.report(
        context.get("exception") or context.get("message", "unknown error"), "Background task"))
    window.show()
    if quit_after_first_frame:
        _quit_on_first_final_frame(window, started)
    with loop:
        loop.run_forever()
    window.reporter.uninstall()
    return 0


def _quit_on_first_final_frame(window: MainWindow, started: float) -> None:
    def shown(result) -> None:
        if result.steps >= window.session.project.settings.final_steps:
            print(f"first frame on the canvas after {time.perf_counter() - started:.2f} s "
                  f"({result.steps} steps, model {window.inference.model.source.spec})", flush=True)
            window.session.undo_stack.mark_clean()
            window.close()

    window.preview.shown.connect(shown)
