"""Take the screenshots in docs/ from the real app (offscreen; no screen needed).

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py

Opens the bundled head-turn example, waits for final-quality frames, and
grabs: the main window mid-turn, the before/after view of the embedded face,
and the export dialog while it renders.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.ui.app import make_application  # noqa: E402
from latent_studio.ui.main_window import MainWindow  # noqa: E402
from latent_studio.ui.preferences import Preferences  # noqa: E402
from latent_studio.ui.theme import apply_theme  # noqa: E402

DOCS = Path(__file__).resolve().parent


async def until(condition, timeout=120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.05)


async def final_frame(window: MainWindow) -> None:
    final = window.session.project.settings.final_steps
    await until(lambda: window.preview.last_result is not None
                and window.preview.last_result.request.key == window.session.spec()
                and window.preview.last_result.request.steps == final)
    await asyncio.sleep(0.2)


async def shoot(window: MainWindow, out: Path) -> None:
    await until(lambda: window.inference.model is not None)
    window.session.set_frame(34)
    head_turn = next(iter(window.session.project.directions))
    window.directions.last_touched = head_turn
    await final_frame(window)
    window.grab().save(str(out / "screenshot_main.png"))
    face = next(iter(window.session.project.assets))
    window.assets.select(face)
    window.assets.compare.setChecked(True)
    await asyncio.sleep(0.3)
    window.grab().save(str(out / "screenshot_before_after.png"))
    window.assets.compare.setChecked(False)
    with tempfile.TemporaryDirectory() as folder:
        dialog = window.export()
        dialog.destination.setText(str(Path(folder) / "head_turn.mp4"))
        dialog.start()
        await until(lambda: dialog.progress.value() >= 30)
        dialog.grab().save(str(out / "screenshot_export.png"))
        dialog.cancel()
        await until(lambda: dialog.job is None)
    window.session.undo_stack.mark_clean()


def main() -> int:
    app = make_application()
    apply_theme(app, "dark")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as scratch:
        preferences = Preferences(QSettings(str(Path(scratch) / "settings.ini"), QSettings.IniFormat))
        example = resources_dir() / "examples" / "head_turn.lsproj"
        window = MainWindow(preferences, Path(scratch) / "data", project_path=example)
        window.resize(1400, 900)
        window.show()
        with loop:
            loop.run_until_complete(shoot(window, DOCS))
        window.session.path = None
        window.close()
    print("wrote", ", ".join(sorted(p.name for p in DOCS.glob("screenshot_*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
