"""`latent-studio --self-test`: prove an installation (or a frozen bundle) works end to end, without a screen.

Loads the bundled model, renders frames of an example project, writes a short
MP4 and a PNG into a temporary folder, reads them back, and checks that Qt
can start offscreen with its image plugins. One line per check; the exit
status is 0 only if every check passed.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable

FRAMES = 6
STEPS = 10


class _Checks:
    def __init__(self) -> None:
        self.failed = 0
        self.values: dict[str, object] = {}

    def run(self, name: str, check: Callable[[], str]) -> bool:
        started = time.perf_counter()
        try:
            detail = check()
        except Exception as exc:  # every failure is one line; the next checks still run where they can
            self.failed += 1
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}", flush=True)
            return False
        print(f"ok    {name}: {detail} ({time.perf_counter() - started:.1f} s)", flush=True)
        return True


def run_self_test() -> int:
    from latent_studio import __version__

    print(f"Latent Studio {__version__} self-test", flush=True)
    checks = _Checks()
    v = checks.values
    with tempfile.TemporaryDirectory(prefix="latent-studio-self-test-") as folder:
        out = Path(folder)
        checks.run("resources", lambda: _resources(v))
        if checks.run("load the bundled model", lambda: _load_model(v)) and "example" in v:
            if checks.run("render example frames", lambda: _render(v)):
                checks.run("write and read an MP4", lambda: _mp4(v, out))
                checks.run("write and read a PNG", lambda: _png(v, out))
        checks.run("Qt offscreen with image plugins", _qt)
    print("self-test passed" if not checks.failed else f"self-test FAILED: {checks.failed} check(s)", flush=True)
    return 0 if not checks.failed else 1


def _resources(v: dict) -> str:
    from latent_studio.core.project_file import load_project
    from latent_studio.core.resources import bundled_models, resources_dir

    root = resources_dir()
    if root is None:
        raise RuntimeError("no resources folder found next to the program")
    models = bundled_models()
    if not models:
        raise RuntimeError(f"no bundled model under {root / 'models'}")
    example = root / "examples" / "head_turn.lsproj"
    v["example"] = load_project(example)
    return f"{root} (models: {', '.join(models)}; example {example.name})"


def _load_model(v: dict) -> str:
    from latent_studio.engine.models import DEFAULT_MODEL, load_model

    model = load_model(DEFAULT_MODEL)
    v["model"] = model
    return f"{model.source.spec} {model.short_hash} on {model.placement.describe()}"


def _render(v: dict) -> str:
    import numpy as np

    from latent_studio.engine.render import render_frames

    frames = [frame.image for frame in render_frames(v["model"], v["example"], range(FRAMES), STEPS)]
    stack = np.stack(frames)
    if stack.dtype != np.uint8 or stack.ndim != 4 or stack.shape[-1] != 3:
        raise RuntimeError(f"frames have shape {stack.shape} and type {stack.dtype}")
    if float(stack.std()) < 5.0:
        raise RuntimeError("the frames are flat: the model produced no picture")
    return f"{FRAMES} frames {stack.shape[2]}x{stack.shape[1]} at {STEPS} steps"


def _export(v: dict, out: Path, key: str, last: int) -> object:
    from latent_studio.app.export import ExportOptions, export_project
    from latent_studio.media.export import export_format

    options = ExportOptions(export_format(key), first_frame=0, last_frame=last, steps=STEPS)
    return export_project(v["example"], v["model"], out, options)


def _mp4(v: dict, out: Path) -> str:
    import av

    result = _export(v, out / "check.mp4", "mp4", FRAMES - 1)
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        codec = stream.codec_context.name
    if count != FRAMES:
        raise RuntimeError(f"the MP4 holds {count} frames, not {FRAMES}")
    return f"{count} frames, {codec}, {result.size[0]}x{result.size[1]}, {result.path.stat().st_size} bytes"


def _png(v: dict, out: Path) -> str:
    from PIL import Image

    result = _export(v, out / "frames", "png", 0)
    files = sorted(Path(result.path).glob("frame_*.png"))
    if len(files) != 1:
        raise RuntimeError(f"expected one PNG, found {len(files)}")
    with Image.open(files[0]) as image:
        image.load()
        size, mode = image.size, image.mode
    if size != result.size or mode != "RGB":
        raise RuntimeError(f"the PNG is {size} {mode}, expected {result.size} RGB")
    return f"{files[0].name} {size[0]}x{size[1]} {mode}"


def _qt() -> str:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # the self-test never needs a screen
    try:
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice
        from PySide6.QtGui import QGuiApplication, QImage, QImageReader
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:
        raise RuntimeError(f"PySide6 is not installed ({exc.name}); install latent-studio[gui] for the desktop app") from None
    app = QApplication.instance() or QApplication(["latent-studio-self-test"])
    formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
    missing = {"png", "jpeg"} - formats
    if missing:
        raise RuntimeError(f"Qt cannot read {', '.join(sorted(missing))}: its image format plugins are missing")
    image = QImage(8, 8, QImage.Format_RGB888)
    image.fill(0x336699)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt could not encode a PNG")
    return f"platform {QGuiApplication.platformName()}, {len(formats)} image formats ({app.applicationName()})"
