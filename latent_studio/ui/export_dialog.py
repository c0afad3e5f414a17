"""Export: format, fps, range, size, quality, steps, destination, a Ray cluster; progress, cancel, open folder.

The dialog only gathers options and shows progress: the work is
``app.export.export_project`` on the inference executor's job lane, on a
snapshot of the project taken when Export is pressed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import shiboken6
from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latent_studio.app.cache_fill import FINAL, CacheStatus
from latent_studio.app.cluster_render import INSTALL_HINT, RayFrames, ray_address, ray_available
from latent_studio.app.executor import Job, JobProgress
from latent_studio.app.export import (ExportOptions, ExportResult, check_destination, export_project, output_size,
                                      photo_output_size, plate_asset, sidecar_path)
from latent_studio.app.export_estimate import estimate
from latent_studio.app.projects import embedding_steps_note
from latent_studio.app.remaining import RemainingTime, describe_remaining
from latent_studio.app.session import Session
from latent_studio.core.errors import Cancelled, UserError
from latent_studio.core.project import FRAME_RATES, MAX_SIZE, MIN_SIZE, snapshot
from latent_studio.media.export import FORMATS, QUALITIES, export_format
from latent_studio.media.face_align import Alignment
from latent_studio.ui.errors import describe, log
from latent_studio.ui.inference import QtInference
from latent_studio.ui.preferences import Preferences

# key, label, scale (a multiple of the model's resolution) or exact size; "custom" takes the width and height fields
SIZES = (("project", "Project size", None, None), ("1x", "1× model", 1.0, None), ("2x", "2× model", 2.0, None),
         ("4x", "4× model", 4.0, None), ("8x", "8× model", 8.0, None), ("720p", "1280×720 (HD)", None, (1280, 720)),
         ("1080p", "1920×1080 (Full HD)", None, (1920, 1080)), ("2160p", "3840×2160 (4K UHD)", None, (3840, 2160)),
         ("custom", "Custom size", None, None))
FITS = (("fit", "Fit (black bars)"), ("fill", "Fill (crop)"), ("pad", "Pad (no scaling)"), ("stretch", "Stretch"))


def default_destination(session: Session, format_key: str, folder: Path | None = None) -> Path:
    """The project's name with the format's suffix, in ``folder`` (default: beside the project, else home)."""
    folder = folder or (session.path.parent if session.path else Path.home())
    stem = session.path.stem if session.path else (session.untitled_name or "untitled").removesuffix(" (example)")
    fmt = FORMATS[format_key]
    # a folder's name has no dot: "shot.v2_frames" would read as a file with the extension .v2_frames
    return folder / (f"{stem.replace('.', '_')}_frames" if not fmt.suffix else f"{stem}{fmt.suffix}")


class ExportDialog(QDialog):
    finished_export = Signal(object)  # ExportResult, or the exception that stopped it

    def __init__(self, session: Session, inference: QtInference, parent: QWidget | None = None,
                 preferences: Preferences | None = None,
                 seconds_per_step: Callable[[], float | None] = lambda: None,
                 cache_status: Callable[[], CacheStatus | None] = lambda: None) -> None:
        super().__init__(parent)
        self._seconds_per_step = seconds_per_step  # this machine's decode speed, as the preview measured it
        self._cache_status = cache_status  # which frames the cache holds at the project's final steps
        self.setWindowTitle("Export")
        self.setMinimumWidth(520)
        self.session = session
        self.inference = inference
        self.preferences = preferences
        self._folder: Path | None = None  # the folder the last export of this project went to
        self.job: Job | None = None
        self._confirmed: Path | None = None  # a destination the file dialog already confirmed replacing
        self.result: ExportResult | None = None
        self._remaining = RemainingTime()  # paced from the first frames on, as the command line is
        settings = session.project.settings
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.format = QComboBox()
        for key, fmt in FORMATS.items():
            self.format.addItem(fmt.label, key)
        self.fps = QComboBox()
        self.fps.addItems(list(FRAME_RATES))
        self.fps.setCurrentText(settings.fps)
        first, last = self._work_range = settings.work_range  # the timeline's in and out points
        self.first = QSpinBox(minimum=0, maximum=settings.frame_count - 1, value=first)
        self.last = QSpinBox(minimum=0, maximum=settings.frame_count - 1, value=last)
        range_row = QHBoxLayout()
        range_row.addWidget(self.first)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.last)
        self.range_hint = QLabel()
        range_row.addWidget(self.range_hint, 1)
        self.scale = QComboBox()
        for key, label, _, _ in SIZES:
            self.scale.addItem(f"{label} ({settings.width}×{settings.height})" if key == "project" else label, key)
        self.custom_width = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, singleStep=2, value=1920, suffix=" px")
        self.custom_height = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, singleStep=2, value=1080, suffix=" px")
        self.fit = QComboBox()
        for key, label in FITS:
            self.fit.addItem(label, key)
        size_row = QHBoxLayout()
        size_row.addWidget(self.scale, 1)
        self.times = QLabel("×")
        size_row.addWidget(self.custom_width)
        size_row.addWidget(self.times)
        size_row.addWidget(self.custom_height)
        self.quality = QComboBox()
        self.quality.addItems(list(QUALITIES))
        self.quality.setCurrentText("standard")
        self.steps = QSpinBox(minimum=1, maximum=1000, value=settings.final_steps)
        self.first_number = QSpinBox(minimum=0, maximum=10**9 - 1, value=0)
        self.first_number.setToolTip("Number of the first PNG file, e.g. 1001 to continue an editor's numbering")
        plate = plate_asset(session.project)
        self.paste_back = QCheckBox("Paste the face back into its photo" if plate is None else
                                    f"Paste the face back into its photo ({plate.name}, "
                                    f"{'×'.join(map(str, Alignment.from_metadata(plate.metadata).source_size))})")
        self.paste_back.setEnabled(plate is not None)
        song = Path(settings.audio_path).name if settings.audio_path else ""
        self.audio = QCheckBox(f"Include the audio ({song})" if song else "Include the audio")
        self.audio.setChecked(bool(song))
        self.audio.setToolTip("Cut to the frames' range: AAC in MP4, PCM in MOV, Opus in WebM, audio.wav beside PNG "
                              "frames; a GIF has no sound" if song else "File ▸ Import audio… gives the project audio")
        self.paste_back.setChecked(plate is not None and settings.paste_back)
        self.paste_back.setToolTip("Needs a face on the timeline embedded with alignment (File ▸ Embed a face with "
                                   "alignment…)" if plate is None else
                                   "Each frame is composited into the photo through the inverse alignment, "
                                   "at the photo's size (times the size's multiple)")
        self.cluster = QCheckBox("Render on a Ray cluster")
        self.cluster_address = QLineEdit("ray")
        self.cluster_address.setPlaceholderText("ray, auto or ray://HOST:10001")
        self.cluster_address.setToolTip("ray: the cluster this machine runs (ray start --head), else a local one for "
                                        "this export; auto: an existing one only; ray://HOST:10001: a remote head")
        self.cluster.setToolTip("Frames are rendered by workers on the cluster, each loading the model by its name "
                                "or shared path, and written here" if ray_available() else INSTALL_HINT)
        cluster_row = QHBoxLayout()
        cluster_row.addWidget(self.cluster)
        cluster_row.addWidget(self.cluster_address, 1)
        self.destination = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        destination_row = QHBoxLayout()
        destination_row.addWidget(self.destination, 1)
        destination_row.addWidget(browse)
        form.addRow("Format", self.format)
        form.addRow("Frame rate", self.fps)
        form.addRow("Frames", range_row)
        form.addRow("Size", size_row)
        form.addRow("Placement", self.fit)
        form.addRow("Quality", self.quality)
        form.addRow("Denoising steps", self.steps)
        self.steps_note = QLabel()  # the photos on the timeline reproduce only at the steps they were embedded at
        self.steps_note.setWordWrap(True)
        self.steps_note.setStyleSheet("color: #c77700;")
        form.addRow("", self.steps_note)
        form.addRow("First file number", self.first_number)
        form.addRow("Paste-back", self.paste_back)
        form.addRow("Audio", self.audio)
        form.addRow("Farm", cluster_row)
        form.addRow("Save to", destination_row)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        form.addRow("Estimate", self.estimate)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.open_folder = QPushButton("Open folder")
        self.open_folder.setEnabled(False)
        self.open_folder.clicked.connect(self._open_folder)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        buttons.addWidget(self.open_folder)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.destination.textEdited.connect(self._forget_confirmation)
        for spin in (self.first, self.last):
            spin.valueChanged.connect(self._update_range_hint)
        self.fps.currentTextChanged.connect(self._update_range_hint)
        for signal in (self.format.currentIndexChanged, self.scale.currentIndexChanged, self.quality.currentIndexChanged,
                       self.first.valueChanged, self.last.valueChanged, self.steps.valueChanged,
                       self.custom_width.valueChanged, self.custom_height.valueChanged, self.paste_back.toggled):
            signal.connect(self.update_estimate)
        self.scale.currentIndexChanged.connect(self._update_size_fields)
        self.steps.valueChanged.connect(self._update_steps_note)
        inference.progress.connect(self._on_progress)
        self._restore_choices()
        self._format_changed()
        self._update_size_fields()
        self._update_steps_note()
        self._set_running(False)
        self.update_estimate()

    # ------------------------------------------------------------ form

    @property
    def format_key(self) -> str:
        return self.format.currentData()

    def _forget_confirmation(self, *_) -> None:
        self._confirmed = None

    def _format_changed(self) -> None:
        self._confirmed = None
        self.destination.setText(str(default_destination(self.session, self.format_key, self._folder)))
        self.quality.setEnabled(bool(FORMATS[self.format_key].quality_option))
        self.first_number.setEnabled(not FORMATS[self.format_key].suffix)
        self.audio.setEnabled(bool(self.session.project.settings.audio_path) and self.format_key != "gif")
        self._update_range_hint()

    def size_choice(self) -> tuple[float | None, tuple[int, int] | None]:
        """(scale, exact size) of the chosen size: a multiple of the model's resolution, or pixels."""
        key = self.scale.currentData()
        if key == "custom":
            return None, (self.custom_width.value(), self.custom_height.value())
        _, _, scale, size = next(entry for entry in SIZES if entry[0] == key)
        return scale, size

    def _update_size_fields(self) -> None:
        custom = self.scale.currentData() == "custom"
        for widget in (self.custom_width, self.times, self.custom_height):
            widget.setVisible(custom)
        self.fit.setEnabled(self.size_choice()[1] is not None and self.job is None)

    def _restore_choices(self) -> None:
        """Format, frame rate, size, quality, steps, first number and folder of this project's last export."""
        choices = self.preferences.export_choices(self.session.path) if self.preferences else {}
        for combo, key in ((self.format, "format"), (self.scale, "size"), (self.fit, "fit")):
            index = combo.findData(choices.get(key, combo.currentData()))
            if key in choices and index >= 0:
                combo.setCurrentIndex(index)
        for combo, key in ((self.fps, "fps"), (self.quality, "quality")):
            if choices.get(key) in [combo.itemText(i) for i in range(combo.count())]:
                combo.setCurrentText(choices[key])
        for spin, key in ((self.steps, "steps"), (self.first_number, "first_number"), (self.custom_width, "width"),
                          (self.custom_height, "height")):
            if isinstance(choices.get(key), int):
                spin.setValue(choices[key])
        folder = Path(str(choices.get("folder", "")))
        self._folder = folder if choices.get("folder") and folder.is_dir() else None

    def _remember_choices(self, destination: Path) -> None:
        if self.preferences is None:
            return
        self.preferences.remember_export(self.session.path, {
            "format": self.format_key, "fps": self.fps.currentText(), "size": self.scale.currentData(),
            "fit": self.fit.currentData(), "width": self.custom_width.value(), "height": self.custom_height.value(),
            "quality": self.quality.currentText(), "steps": self.steps.value(),
            "first_number": self.first_number.value(), "folder": str(destination.parent),
        })

    def update_estimate(self, *_) -> None:
        """Time and size of the export as chosen now; frames the cache holds at these steps cost no time."""
        first, last = self.first.value(), self.last.value()
        frames = max(0, last - first + 1)
        model = self.inference.model
        if model is None or frames == 0:
            self.estimate.setText("")
            return
        scale, size = self.size_choice()
        try:
            if self.paste_back.isChecked() and size is None:  # the photo's size, as export_project makes it
                source = Alignment.from_metadata(plate_asset(self.session.project).metadata).source_size
                size = photo_output_size((round(source[0] * (scale or 1.0)), round(source[1] * (scale or 1.0))))
            size = output_size(self.session.project, model, scale, size)
        except UserError:
            self.estimate.setText("")
            return
        steps = self.steps.value()
        status = self._cache_status()
        cached = 0
        settings = self.session.project.settings
        if status is not None and len(status.frames) == settings.frame_count and steps == settings.final_steps:
            cached = sum(state == FINAL for state in status.frames[first:last + 1])
        guess = estimate(self.format_key, self.quality.currentText(), size, frames, frames - cached, steps,
                         self._seconds_per_step())
        held = f" ({cached} of {frames} frames already rendered)" if cached else ""
        self.estimate.setText(f"{guess.describe()}{held}")

    def follow_timeline(self) -> None:
        """The project's length or in and out points changed while the dialog is open: the frame range follows. A
        range left at the old work range becomes the new one; a range chosen here is only cut to the new length."""
        if self.job is not None:  # a render in progress has its own snapshot of the project
            return
        settings = self.session.project.settings
        chosen = (self.first.value(), self.last.value())
        end = settings.frame_count - 1
        for spin in (self.first, self.last):
            spin.setMaximum(end)
        if chosen == self._work_range:
            self.first.setValue(settings.work_range[0])
            self.last.setValue(settings.work_range[1])
        self._work_range = settings.work_range
        self._update_range_hint()
        self.update_estimate()

    def _update_steps_note(self, *_) -> None:
        note = embedding_steps_note(self.session.project, self.steps.value())
        self.steps_note.setText(note or "")
        self.steps_note.setVisible(note is not None)
        self.adjustSize()  # a wrapped note needs the room

    def _update_range_hint(self) -> None:
        frames = max(0, self.last.value() - self.first.value() + 1)
        self.range_hint.setText(f"{frames} frames, {frames / float(FRAME_RATES[self.fps.currentText()]):.2f} s")

    def _browse(self) -> None:
        fmt = FORMATS[self.format_key]
        if fmt.suffix:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.destination.text(), f"{fmt.label} (*{fmt.suffix})")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export PNG frames into (an empty or new folder)")
        if path:
            self.destination.setText(path)
            # the save dialog asked before choosing an existing file: not again, for this one export
            self._confirmed = Path(path) if fmt.suffix and Path(path).exists() else None

    def options(self, replace: bool = False) -> ExportOptions:
        scale, size = self.size_choice()
        return ExportOptions(
            format=export_format(self.format_key), fps=self.fps.currentText(), first_frame=self.first.value(),
            last_frame=self.last.value(), scale=scale, size=size, fit=self.fit.currentData(), steps=self.steps.value(),
            quality=self.quality.currentText(), first_number=self.first_number.value(), replace=replace,
            paste_back=self.paste_back.isChecked(), audio=self.audio.isChecked() and self.audio.isEnabled(),
        )

    def frame_source(self) -> dict:
        """``export_project``'s frame source: the Ray cluster at the address given when the box is ticked."""
        if not (self.cluster.isChecked() and ray_available()):
            return {}
        return {"source": RayFrames(ray_address(self.cluster_address.text()))}

    def ask_replace(self, path: Path) -> bool:
        """Whether to replace an existing destination (tests replace this method)."""
        side = sidecar_path(path)
        also = f" (and its frame list {side.name})" if path.suffix and side.exists() else ""
        return QMessageBox.question(self, "Replace?", f"{path.name}{also} already exists. Replace it with this export?",
                                    QMessageBox.Yes | QMessageBox.No, QMessageBox.No) == QMessageBox.Yes

    # ------------------------------------------------------------ running

    def start(self) -> asyncio.Task | None:
        """Check the destination now (nothing renders if it is wrong), then export on the job lane."""
        if self.job is not None:
            return None
        path = Path(self.destination.text().strip()).expanduser()
        try:
            check_destination(path, export_format(self.format_key), replace=True)  # what no answer can make possible
        except Exception as exc:
            self._show_error(exc)
            return None
        side = sidecar_path(path)
        occupied = (path.is_file() or path.is_symlink() or (path.is_dir() and any(path.iterdir()))
                    or (path.suffix != "" and side.exists()))
        confirmed, self._confirmed = self._confirmed, None
        if occupied and path != confirmed and not self.ask_replace(path):
            self.status.setText(f"Not exported: {path.name} was kept. Choose another name.")
            return None
        options = self.options(replace=occupied)
        try:
            source = self.frame_source()
        except UserError as exc:
            self._show_error(exc)
            return None
        project = snapshot(self.session.project)
        self._remember_choices(path)

        def work(context):
            return export_project(project, context.model, path, options, cache=context.cache, cancel=context.cancel,
                                  progress=lambda p: context.progress(p.done, p.total, f"{p.decoded} rendered"),
                                  **source)

        self.result = None
        self._remaining.restart()
        self.progress.setRange(0, 1)  # a second export starts from nothing, not from the last one's full bar
        self.progress.setValue(0)
        self.open_folder.setEnabled(False)
        self.job = self.inference.submit(f"Export {path.name}", work)
        self._set_running(True)
        self.status.setText(f"Rendering {path.name}…")
        return asyncio.ensure_future(self._wait(self.job))

    async def _wait(self, job: Job) -> None:
        try:
            outcome = await QtInference.wait(job)
        except (Exception, asyncio.CancelledError) as exc:
            outcome = exc
        if not shiboken6.isValid(self):
            return  # the window closed while the job ran; the job was cancelled with it
        self.job = None
        self._set_running(False)
        if isinstance(outcome, (Cancelled, asyncio.CancelledError)):
            self.status.setText("Cancelled. Nothing was written.")
            self.finished_export.emit(Cancelled())
        elif isinstance(outcome, BaseException):
            self._show_error(outcome)
            self.finished_export.emit(outcome)
        else:
            self.result = outcome
            self.progress.setValue(self.progress.maximum())
            self.status.setText(f"Done: {outcome.frames} frames ({outcome.size[0]}×{outcome.size[1]}) in "
                                f"{outcome.seconds:.1f} s → {outcome.path}\nFrame data: {outcome.sidecar.name}")
            self.open_folder.setEnabled(True)
            log.info("exported %s (%d frames in %.1f s)", outcome.path, outcome.frames, outcome.seconds)
            self.finished_export.emit(outcome)

    def _on_progress(self, progress: JobProgress) -> None:
        if self.job is None or progress.job_id != self.job.id:
            return
        self.progress.setRange(0, progress.total)
        self.progress.setValue(progress.done)
        left = self._remaining.update(progress.done, progress.total)
        pace = "estimating the time left" if left is None else \
            f"{self._remaining.rate:.1f} frames/s · {describe_remaining(left)}"
        self.status.setText(f"Frame {progress.done} of {progress.total} · {pace}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def reject(self) -> None:
        if self.job is not None:  # closing the dialog while it renders cancels the render
            self.job.cancel()
        super().reject()

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.format, self.fps, self.first, self.last, self.scale, self.custom_width, self.custom_height,
                       self.quality, self.steps, self.first_number, self.destination):
            widget.setEnabled(not running)
        self.fit.setEnabled(not running and self.size_choice()[1] is not None)
        if not running:
            self.quality.setEnabled(bool(FORMATS[self.format_key].quality_option))
            self.first_number.setEnabled(not FORMATS[self.format_key].suffix)
        self.paste_back.setEnabled(not running and plate_asset(self.session.project) is not None)
        self.audio.setEnabled(not running and bool(self.session.project.settings.audio_path) and self.format_key != "gif")
        self.cluster.setEnabled(not running and ray_available())
        self.cluster_address.setEnabled(not running and ray_available())

    def _show_error(self, error: BaseException) -> None:
        self.status.setText(f"<span style='color:#ff7070'>{describe(error)}</span>")

    def _open_folder(self) -> None:
        if self.result is not None:
            folder = self.result.path if self.result.path.is_dir() else self.result.path.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

