"""How responsive the desktop app stays, on the bundled demo model on this machine.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_ui.py

1. Event-loop stall: a 5 ms timer runs on the GUI thread and its longest
   lateness is recorded (a) with nothing running, (b) while Export renders the
   head-turn example on the app's job lane, and (c) for comparison, while the
   same render runs on the GUI thread itself (what a naive app would do).
2. Slider latency: a direction slider is dragged and released; the time from
   the first move to the first (draft) frame and from the release to the
   final-quality frame on the canvas.
3. Playback: frames a second shown on the canvas while the example plays,
   with an empty cache (drafts) and once idle time has filled the cache.

Targets: no stall over 50 ms while rendering; playback from the cache at 12 frames/s or more.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402

from latent_studio.app.export import ExportOptions, export_project  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.media.export import export_format  # noqa: E402
from latent_studio.ui.app import make_application  # noqa: E402
from latent_studio.ui.main_window import MainWindow  # noqa: E402
from latent_studio.ui.preferences import Preferences  # noqa: E402

TICK_MS = 5
RENDER_FRAMES = 48
RENDER_STEPS = 20
SLIDER_TRIALS = 8
PLAY_SECONDS = 4.0


class StallMeter:
    """A 5 ms timer on the GUI thread; a tick later than its due time means the loop was blocked."""

    def __init__(self) -> None:
        self.timer = QTimer(interval=TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.worst = 0.0
        self._last = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - TICK_MS / 1000)
        self._last = now

    def start(self) -> None:
        self.worst, self._last = 0.0, time.perf_counter()  # a block before the first tick counts too
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst * 1000


async def until(condition, timeout=300.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.002)


async def measure(window: MainWindow, out: Path) -> list[tuple]:
    await until(lambda: window.inference.model is not None)
    final = window.session.project.settings.final_steps
    await until(lambda: window.preview.last_result is not None and window.preview.last_result.steps == final)
    meter = StallMeter()
    rows = []

    meter.start()
    await asyncio.sleep(2.0)
    idle = meter.stop()
    rows.append(("idle window", f"{idle:.1f}", "", "-"))

    options = ExportOptions(export_format("png"), last_frame=RENDER_FRAMES - 1, steps=RENDER_STEPS)
    project, model = window.session.project, window.inference.model
    window.inference.executor.cache.clear()
    meter.start()
    started = time.perf_counter()
    job = window.inference.submit("bench export", lambda c: export_project(project, c.model, out / "worker", options,
                                                                             progress=lambda p: c.progress(p.done, p.total)))
    await asyncio.wrap_future(job.future)
    worker_seconds = time.perf_counter() - started
    worker = meter.stop()

    meter.start()
    started = time.perf_counter()
    finished = []
    QTimer.singleShot(0, lambda: finished.append(export_project(project, model, out / "gui", options)))  # blocks the loop
    await until(lambda: bool(finished))
    gui_seconds = time.perf_counter() - started
    await asyncio.sleep(0.1)  # let the timer tick once more: that late tick measures the block
    blocked = meter.stop()
    rows.append((f"render {RENDER_FRAMES} frames on the job lane", f"{worker:.1f}", f"{worker_seconds:.1f}",
                 f"{blocked / max(worker, 1e-3):.0f}x shorter"))
    rows.append(("same render on the GUI thread", f"{blocked:.1f}", f"{gui_seconds:.1f}", "1x"))

    direction = next(iter(window.session.project.directions))
    row = window.directions.rows[direction]
    drafts, finals = [], []
    for trial in range(SLIDER_TRIALS):
        shown = []
        window.preview.shown.connect(shown.append)
        row.slider.setSliderDown(True)
        moved = time.perf_counter()
        row.slider.setValue(100 + trial * 100)
        await until(lambda shown=shown: bool(shown))
        drafts.append(time.perf_counter() - moved)
        row.slider.setSliderDown(False)
        released = time.perf_counter()
        spec = window.session.spec()
        await until(lambda shown=shown, spec=spec: any(r.steps == final and r.request.key == spec for r in shown))
        finals.append(time.perf_counter() - released)
        window.preview.shown.disconnect(shown.append)
    rows.append(("slider move -> first draft frame (median / max)", "",
                 f"{statistics.median(drafts) * 1000:.0f} / {max(drafts) * 1000:.0f} ms", ""))
    rows.append((f"slider release -> final frame, {final} steps (median / max)", "",
                 f"{statistics.median(finals) * 1000:.0f} / {max(finals) * 1000:.0f} ms", ""))
    window.session.undo_stack.mark_clean()

    for label in ("empty cache (drafts)", "cache filled in idle time"):
        if label.startswith("empty"):
            window.inference.executor.cache.clear()
        else:
            frames = window.session.frame_count
            filled = time.perf_counter()
            window.set_fill_cache(True)
            await until(lambda: window.timeline.cache_status is not None
                        and window.timeline.cache_status.frames.count("final") == frames, timeout=1800)
            label += f" ({time.perf_counter() - filled:.0f} s to fill)"
            window.set_fill_cache(False)
        shown = []
        window.preview.shown.connect(shown.append)
        window.session.set_frame(0)
        window.playback.play()
        started = time.perf_counter()
        await asyncio.sleep(PLAY_SECONDS)
        window.playback.stop()
        elapsed = time.perf_counter() - started
        window.preview.shown.disconnect(shown.append)
        finals = sum(r.steps == final for r in shown)
        rows.append((f"playback, {label}", "", f"{len(shown) / elapsed:.1f} frames/s",
                     f"{finals} of {len(shown)} final"))
    return rows


def table(headers: list[str], rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in [tuple(headers), *rows]) + 2 for i in range(len(headers))]
    for line in [tuple(headers), *rows]:
        print("".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width) for i, (cell, width) in enumerate(zip(line, widths, strict=True))))


def main() -> int:
    app = make_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as scratch:
        preferences = Preferences(QSettings(str(Path(scratch) / "settings.ini"), QSettings.IniFormat))
        preferences.fill_cache = False  # sections 1 and 2 measure a worker that is otherwise idle; 3 turns it on
        window = MainWindow(preferences, Path(scratch) / "data", project_path=resources_dir() / "examples" / "head_turn.lsproj")
        window.show()
        with loop:
            rows = loop.run_until_complete(measure(window, Path(scratch)))
        window.close()
    print(f"Desktop app responsiveness: bundled demo model, {RENDER_FRAMES} frames at {RENDER_STEPS} steps, "
          f"{os.cpu_count()} CPU cores, Qt platform {os.environ['QT_QPA_PLATFORM']}")
    table(["what", "longest stall (ms)", "time (s)", "stall vs GUI-thread render"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
