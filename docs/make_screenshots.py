"""Take the screenshots in docs/ from the real app (offscreen; no screen needed).

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py

Opens the bundled head-turn example, waits for final-quality frames, and
grabs: the main window mid-turn, the before/after view of the embedded face,
and the export dialog while it renders; then, at 1280x720 and at 1920x1080,
the window mid-drag (a draft on the canvas), the Curves panel and the Jobs
panel; at 1920x1080 the timeline with the cache band and in and out points;
the Project Settings and Export dialogs at their own size; and the timeline
with an imported audio track's waveform, and the Latent map panel.
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
                and window.preview.last_result.steps == final)
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
        dialog.close()
    for width, height in ((1280, 720), (1920, 1080)):
        await at_size(window, out, width, height, head_turn)
    frames = window.session.frame_count  # idle time fills the cache: the band under the ruler turns green
    await until(lambda: window.timeline.cache_status is not None
                and window.timeline.cache_status.frames.count("final") >= frames * 2 // 3, timeout=600)
    window.session.set_frame(12)
    window.timeline.set_in_point()
    window.session.set_frame(83)
    window.timeline.set_out_point()
    await final_frame(window)
    await until(lambda: window.timeline.cache_status is not None)
    window.grab().save(str(out / "screenshot_1080p_cache_and_range.png"))
    settings = window.project_settings()
    await asyncio.sleep(0.3)
    settings.grab().save(str(out / "screenshot_project_settings.png"))
    settings.reject()
    dialog = window.export()
    await asyncio.sleep(0.3)
    dialog.grab().save(str(out / "screenshot_export_dialog.png"))
    dialog.close()
    window.audio.use(beat_track(Path(tempfile.mkdtemp()) / "beat.wav"))  # File ▸ Import audio…
    await until(lambda: window.audio.track.peaks is not None)
    await asyncio.sleep(0.3)
    window.grab().save(str(out / "screenshot_1080p_audio.png"))
    window.map_dock.raise_()
    window.map_panel.samples.setValue(300)
    await window.map_panel.compute()
    window.map_panel.colour.setCurrentIndex(1)  # the head turn
    await asyncio.sleep(0.3)
    window.grab().save(str(out / "screenshot_1080p_map.png"))
    window.session.undo_stack.mark_clean()


def beat_track(path: Path, seconds: float = 4.0, bpm: float = 120.0) -> Path:
    """A kick on every beat and a soft tone over it: something with visible beats for the waveform row."""
    from fractions import Fraction

    import av
    import numpy as np

    rate = 48_000
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.08 * np.sin(2 * np.pi * 330 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    for beat in np.arange(0.0, seconds, 60.0 / bpm):
        i = int(beat * rate)
        n = min(6000, len(t) - i)
        signal[i : i + n] += 0.9 * np.sin(2 * np.pi * 60 * t[:n] * (1 - t[:n] * 3)) * np.exp(-t[:n] * 30)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.clip(np.stack([signal, signal]), -1, 1).astype(np.float32),
                                           format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


async def at_size(window: MainWindow, out: Path, width: int, height: int, direction: str) -> None:
    window.resize(width, height)
    window.timeline_dock.raise_()
    await asyncio.sleep(0.3)
    row = window.directions.rows[direction]
    final, shots = window.session.project.settings.final_steps, []

    def grab_draft(result) -> None:  # the draft is on screen only until the refinement lands: grab it as it shows
        if result.steps < final and not shots:
            window.grab().save(str(out / f"screenshot_{height}p_drag.png"))
            shots.append(result)

    window.preview.shown.connect(grab_draft)
    row.slider.setSliderDown(True)  # mid-drag: the canvas shows a draft
    row.slider.setValue(row.slider.value() + height // 6)  # a value not yet in the cache at either size
    await until(lambda: bool(shots))
    window.preview.shown.disconnect(grab_draft)
    row.slider.setSliderDown(False)
    window.session.undo()
    await final_frame(window)
    window.edit_curve(direction)
    await asyncio.sleep(0.3)
    window.grab().save(str(out / f"screenshot_{height}p_curves.png"))
    window.jobs_dock.raise_()
    await asyncio.sleep(0.3)
    window.grab().save(str(out / f"screenshot_{height}p_jobs.png"))
    window.timeline_dock.raise_()


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
