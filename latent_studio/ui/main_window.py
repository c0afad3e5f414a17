"""The main window: canvas in the middle, assets left, directions right, timeline below, jobs in the status bar.

The window wires views to one Session (the document) and one QtInference
(the model's thread). Long work is submitted as jobs and awaited in
coroutines on the qasync loop; their errors land in the error banner, never
in the event loop.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import shiboken6
from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latent_studio import __version__
from latent_studio.app.executor import JobProgress
from latent_studio.app.projects import (
    arithmetic_asset,
    direction_from_groups,
    image_asset,
    model_mismatch,
    place_face,
    seed_asset,
)
from latent_studio.app.session import DOCUMENT, FILE, PLAYHEAD, Session, untitled_recovery_file
from latent_studio.app.workspace import Workspace
from latent_studio.core.errors import Cancelled
from latent_studio.core.edits import AddAsset, AddDirection, Batch, RemoveAsset
from latent_studio.core.metrics import describe_psnr
from latent_studio.core.project import ModelRef, Project, Settings, snapshot
from latent_studio.core.project_file import SUFFIX
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import default_model_spec, load_model
from latent_studio.ui.assets import AssetPanel
from latent_studio.ui.canvas import Canvas, png_to_qimage
from latent_studio.ui.dialogs import ArithmeticDialog, DirectionFromGroups, ModelPicker, checked_ids, show_about
from latent_studio.ui.errors import EDIT_ERRORS, ErrorReporter, apply_edit, describe, log
from latent_studio.ui.export_dialog import ExportDialog
from latent_studio.ui.inference import QtInference
from latent_studio.ui.preferences import Preferences, PreferencesDialog
from latent_studio.ui.project_settings import ProjectSettingsDialog
from latent_studio.ui.preview import PlaybackController, PreviewController
from latent_studio.ui.sliders import DirectionPanel
from latent_studio.ui.theme import apply_theme
from latent_studio.ui.timeline import TimelineView

FIRST_FACE_SEED = 7  # the face a new untitled project opens on
AUTOSAVE_MS = 30_000
BANNER_MS = 12_000
PROJECT_FILTER = f"Latent Studio projects (*{SUFFIX})"


class MainWindow(QMainWindow):
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)

    def __init__(
        self,
        preferences: Preferences,
        data_dir: Path,
        project_path: Path | None = None,
        model_spec: str | None = None,
        first_face: bool = True,
    ) -> None:
        super().__init__()
        self.preferences = preferences
        self.data_dir = Path(data_dir)
        self.reporter = ErrorReporter(self)
        self.inference = QtInference(self)
        self.session = Session(Project(ModelRef("", "")), untitled_recovery=untitled_recovery_file(self.data_dir / "recovery"))
        self.workspace = Workspace(self.session, self.data_dir, self, remember=self.preferences.add_recent,
                                   new_settings=lambda: Settings(preview_steps=self.preferences.preview_steps,
                                                                 final_steps=self.preferences.final_steps))
        self._tasks: set[asyncio.Task] = set()
        self._progress: dict[int, JobProgress] = {}
        self._embed_jobs: set[int] = set()  # job ids of embeddings, whose progress the assets panel shows
        self._export_dialog: ExportDialog | None = None
        self._closing = False
        self._build_views()
        self._build_actions()
        self._build_status_bar()
        self.session.subscribe(self._on_session)
        self.reporter.shown.connect(self.show_error)
        self.inference.progress.connect(self._on_progress)
        self.inference.jobs_changed.connect(self._on_jobs_changed)
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.workspace.autosave)
        self.autosave_timer.start()
        self._restore_layout()
        self._update_title()
        self.spawn(self._start(project_path, model_spec, first_face), "Starting")

    # ------------------------------------------------------------ layout

    def _build_views(self) -> None:
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.banner.setToolTip("Click to dismiss; the full details are in the log file.")
        self.banner.mousePressEvent = lambda event: self.banner.setVisible(False)
        self._banner_timer = QTimer(self, singleShot=True, interval=BANNER_MS)
        self._banner_timer.timeout.connect(lambda: self.banner.setVisible(False))
        self.canvas = Canvas()
        self.canvas.files_dropped.connect(lambda paths: self.spawn(self.embed_files(paths), "Embed"))
        column.addWidget(self.banner)
        column.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.assets = AssetPanel(self.session)
        self.directions = DirectionPanel(self.session)
        self.timeline = TimelineView(self.session, self.assets.current_id)
        self.preview = PreviewController(self.session, self.inference, self.canvas, self)
        self.playback = PlaybackController(self.session, self.preview, self)

        self.transport = QToolBar("Transport")
        self.transport.setObjectName("transport")
        timeline_host = QWidget()
        timeline_column = QVBoxLayout(timeline_host)
        timeline_column.setContentsMargins(0, 0, 0, 0)
        timeline_column.setSpacing(0)
        timeline_column.addWidget(self.transport)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.timeline)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        timeline_column.addWidget(scroll, 1)

        self.assets_dock = self._dock("Assets", self.assets, Qt.LeftDockWidgetArea)
        self.directions_dock = self._dock("Directions", self.directions, Qt.RightDockWidgetArea)
        self.timeline_dock = self._dock("Timeline", timeline_host, Qt.BottomDockWidgetArea)

        for view in (self.timeline, self.directions, self.assets):
            view.error.connect(self.show_error)
        self.directions.released.connect(self.preview.refine_now)
        self.directions.new_direction_requested.connect(self.new_direction)
        self.directions.arithmetic_requested.connect(self.arithmetic)
        self.assets.embed_requested.connect(self.choose_images)
        self.assets.random_requested.connect(lambda: self.spawn(self.random_face(), "Random face"))
        self.assets.place_requested.connect(self.place_at_playhead)
        self.assets.remove_requested.connect(self.remove_assets)
        self.assets.cancel_requested.connect(self.inference.cancel_jobs)
        self.assets.compare_toggled.connect(lambda _: self._update_compare())
        self.assets.selection_changed.connect(self._update_compare)

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower())
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel("Model: loading…")
        self.device_label = QLabel("")
        self.job_label = QLabel("")
        self.job_bar = QProgressBar(maximumWidth=180)
        self.job_cancel = QToolButton(text="Cancel", toolTip="Cancel the running job")
        self.job_cancel.clicked.connect(self.inference.cancel_jobs)
        bar.addWidget(self.model_label)
        bar.addWidget(self.device_label)
        bar.addPermanentWidget(self.job_label)
        bar.addPermanentWidget(self.job_bar)
        bar.addPermanentWidget(self.job_cancel)
        self._on_jobs_changed()

    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ApplicationShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New", self.new_project, QKeySequence.New)
        self._action(file, "&Open…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self.examples_menu = file.addMenu("Open &Example")
        file.addSeparator()
        self._action(file, "&Save", self.save, QKeySequence.Save)
        self._action(file, "Save &As…", self.save_as, QKeySequence.SaveAs)
        file.addSeparator()
        self.export_action = self._action(file, "&Export…", self.export, "Ctrl+E")
        self._action(file, "Project se&ttings…", self.project_settings, "Ctrl+Alt+S")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.Quit)
        file.aboutToShow.connect(self._fill_file_menus)

        edit = bar.addMenu("&Edit")
        self.undo_action = self._action(edit, "&Undo", self.undo, QKeySequence.Undo)
        self.redo_action = self._action(edit, "&Redo", self.redo, "Ctrl+Shift+Z")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addSeparator()
        self._action(edit, "&Preferences…", self.preferences_dialog, QKeySequence.Preferences)

        view = bar.addMenu("&View")
        self._action(view, "&Fit to window", lambda: self.canvas.set_zoom(None), "Ctrl+0")
        self._action(view, "&Actual size", lambda: self.canvas.set_zoom(1.0), "Ctrl+1")
        self._action(view, "Zoom &in", lambda: self.canvas.zoom_by(1), QKeySequence.ZoomIn)
        self._action(view, "Zoom &out", lambda: self.canvas.zoom_by(-1), QKeySequence.ZoomOut)
        self.smooth_action = self._action(view, "&Smooth upscaling", self.canvas.set_smooth, checkable=True)
        view.addSeparator()
        for dock in (self.assets_dock, self.directions_dock, self.timeline_dock):
            view.addAction(dock.toggleViewAction())

        play = bar.addMenu("&Playback")
        self.play_action = self._action(play, "&Play / pause", self.playback.toggle, Qt.Key_Space)
        self.loop_action = self._action(play, "&Loop", lambda on: setattr(self.playback, "loop", on), checkable=True)
        self.loop_action.setChecked(True)
        self._action(play, "Go to &start", lambda: self.session.set_frame(0), Qt.Key_Home)
        self._action(play, "Go to &end", lambda: self.session.set_frame(self.session.frame_count - 1), Qt.Key_End)
        self._action(play, "Previous frame", lambda: self.session.set_frame(self.session.frame - 1), Qt.Key_Left)
        self._action(play, "Next frame", lambda: self.session.set_frame(self.session.frame + 1), Qt.Key_Right)
        play.addSeparator()
        self._action(play, "&Key the last slider used", self.directions.toggle_key, Qt.Key_K)
        self._action(play, "&Delete selected keyframes", self.timeline.delete_selection)

        model = bar.addMenu("&Model")
        self._action(model, "&Choose model…", self.choose_model)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Latent Studio", lambda: show_about(self, self._model_line()))
        self._action(help_menu, "Open &log folder", self._open_log_folder)

        self.transport.addAction(self.play_action)
        self.transport.addAction(self.loop_action)
        self.transport.addSeparator()
        icon = self.style().standardIcon
        self.play_action.setIcon(icon(QStyle.SP_MediaPlay))
        self.transport.addAction(icon(QStyle.SP_MediaSkipBackward), "Start (Home)", lambda: self.session.set_frame(0))
        self.transport.addAction(icon(QStyle.SP_MediaSeekBackward), "Previous frame (Left)",
                                 lambda: self.session.set_frame(self.session.frame - 1))
        self.transport.addAction(icon(QStyle.SP_MediaSeekForward), "Next frame (Right)",
                                 lambda: self.session.set_frame(self.session.frame + 1))
        self.transport.addAction(icon(QStyle.SP_MediaSkipForward), "End (End)",
                                 lambda: self.session.set_frame(self.session.frame_count - 1))
        self.transport.addSeparator()
        self.frame_label = QLabel()
        self.transport.addWidget(self.frame_label)
        self.playback.playing_changed.connect(self._show_playing)
        self._show_playing(False)

    def _show_playing(self, playing: bool) -> None:
        self.play_action.setText("Pause" if playing else "Play")
        self.play_action.setIcon(self.style().standardIcon(QStyle.SP_MediaPause if playing else QStyle.SP_MediaPlay))

    # ------------------------------------------------------------ startup

    async def _start(self, project_path: Path | None, model_spec: str | None, first_face: bool) -> None:
        if project_path is not None:
            self.workspace.open(Path(project_path))
            model_spec = model_spec or self.session.project.model.spec or None
        elif self.workspace.recover_untitled():
            first_face = False
        model = await self.load_model(model_spec or self.preferences.model or default_model_spec())
        if model is None:
            return
        if not self.session.project.model.content_hash and not self.session.project.assets:
            self.session.replace_project(self.workspace.new_document(model), None)
            if first_face:
                await self.random_face(FIRST_FACE_SEED, place=True, undoable=False)

    async def load_model(self, spec: str):
        self.model_label.setText(f"Model: loading {spec}…")
        device = None if self.preferences.device == "auto" else self.preferences.device
        job = self.inference.load_model(lambda: load_model(spec, device=device), f"Load {spec}")
        try:
            model = await QtInference.wait(job)
        except Exception as exc:
            message = describe(exc)
            self.model_label.setText("Model: none")
            self.reporter.report(exc, f"Loading model {spec}")
            self.canvas.show_placeholder(f"No model is loaded.\n\n{message}\n\nChoose one in Model > Choose model…")
            self.model_failed.emit(message)
            return None
        self.model_label.setText(f"Model: {model.source.spec} ({model.short_hash})")
        self.device_label.setText(model.placement.describe())
        mismatch = model_mismatch(self.session.project, model)
        if mismatch:
            self.show_error(f"{mismatch} Model > Choose model… to switch.")
        self.model_ready.emit(model)
        self.preview.update_preview()
        return model

    # ------------------------------------------------------------ coroutines and errors

    def spawn(self, coroutine, context: str) -> asyncio.Task:
        """Run a coroutine on the qasync loop; whatever it raises is reported, never lost or re-raised."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            if not shiboken6.isValid(self):
                return  # the window is gone; its tasks were cancelled when it closed
            if not finished.cancelled() and finished.exception() is not None:
                self.reporter.report(finished.exception(), context)

        task.add_done_callback(done)
        return task

    def show_error(self, message: str) -> None:
        self.banner.setText(f"⚠  {message}")
        self.banner.setVisible(True)
        self._banner_timer.start()
        self.statusBar().showMessage(message, BANNER_MS)
        log.warning("%s", message)

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace this method)."""
        return QMessageBox.question(self, title, text) == QMessageBox.Yes

    def confirm_replace(self, title: str, text: str) -> bool:
        """A yes/no question whose "yes" replaces something: No is the default (tests replace this method)."""
        return QMessageBox.question(self, title, text, QMessageBox.Yes | QMessageBox.No, QMessageBox.No) == QMessageBox.Yes

    def choose_save_path(self, start: Path) -> Path | None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Save project", str(start), PROJECT_FILTER)
        return Path(chosen) if chosen else None

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 4000)

    def ask_save(self) -> str:
        """'save', 'discard' or 'cancel' for unsaved changes (tests replace this method)."""
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.session.title} before closing it?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def apply(self, command) -> bool:
        return apply_edit(self.session, command, self.show_error)

    # ------------------------------------------------------------ jobs

    async def embed_files(self, paths: list[Path]) -> list[str]:
        """Embed each image on the job lane; each becomes an asset (the first face also goes on the timeline)."""
        added = []
        for path in paths:
            steps = self.session.project.settings.final_steps
            name = Path(path).name

            def work(context, path=Path(path), steps=steps):
                return image_asset(context.model, path, steps, cancel=context.cancel,
                                   progress=lambda done, total: context.progress(done, total, f"Embedding {path.name}"))

            job = self.inference.submit(f"Embed {name}", work)
            self._embed_jobs.add(job.id)  # its progress shows in the assets panel too
            self.assets.show_progress(f"Embedding {name}…", 0, 1)
            try:
                asset = await QtInference.wait(job)
            except Cancelled:
                self.assets.show_progress("")
                self.statusBar().showMessage(f"Embedding {name} was cancelled; nothing was added.", 8000)
                continue  # what the user asked for: not an error
            except Exception as exc:
                self.assets.show_progress("")
                self.reporter.report(exc, f"Embedding {name}")
                continue
            self.assets.show_progress("")
            if self.apply(AddAsset(asset, f"Embed {name}")):
                added.append(asset.id)
                self.assets.select(asset.id)
                self.statusBar().showMessage(f"Embedded {name}: reconstruction PSNR {describe_psnr(asset.psnr)}", 8000)
                if "out_of_domain" in asset.metadata:
                    self.show_error(asset.metadata["out_of_domain"])
                if not self.session.project.anchors:
                    self.place_at_playhead()
        return added

    async def random_face(self, seed: int | None = None, place: bool = False, undoable: bool = True) -> str | None:
        seed = random.randrange(2**31) if seed is None else seed
        job = self.inference.submit(f"Random face {seed}", lambda context: seed_asset(context.model, seed))
        try:
            asset = await QtInference.wait(job)
        except Exception as exc:
            self.reporter.report(exc, "New random face")
            return None
        if not self.apply(AddAsset(asset, "Random face")):
            return None
        self.assets.select(asset.id)
        if place or not self.session.project.anchors:
            self.place_at_playhead()
        if not undoable:  # the face a new project opens with is part of the new document, not an edit
            self.session.forget_history()
        return asset.id

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Embed images", str(Path.home()),
                                                "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
        if paths:
            self.spawn(self.embed_files([Path(p) for p in paths]), "Embed")

    def place_at_playhead(self) -> None:
        asset_id = self.assets.current_id()
        if asset_id is None:
            self.show_error("Select a face in Assets first.")
            return
        try:
            self.apply(place_face(self.session.project, asset_id, self.session.time))
        except EDIT_ERRORS as exc:
            self.show_error(describe(exc))

    def remove_assets(self) -> None:
        ids = self.assets.selected_ids()
        if ids:
            self.apply(Batch([RemoveAsset(i) for i in ids], "Remove asset" if len(ids) == 1 else f"Remove {len(ids)} assets"))

    def new_direction(self) -> None:
        if len(self.session.project.assets) < 2:
            self.show_error("A direction needs at least two assets: one with the feature and one without.")
            return
        dialog = DirectionFromGroups(self.session.project, self)
        if dialog.exec() != DirectionFromGroups.Accepted:
            return
        try:
            entry = direction_from_groups(self.session.project, dialog.name.text(), checked_ids(dialog.with_feature),
                                          checked_ids(dialog.without_feature))
        except EDIT_ERRORS as exc:
            self.show_error(describe(exc))
            return
        self.apply(AddDirection(entry, f"New direction {entry.name}"))

    def arithmetic(self) -> None:
        if not self.session.project.assets:
            self.show_error("Latent arithmetic needs assets: embed images or make random faces first.")
            return
        dialog = ArithmeticDialog(self.session.project, self)
        if dialog.exec() == ArithmeticDialog.Accepted:
            self.spawn(self.arithmetic_face(*dialog.ids), "Latent arithmetic")

    async def arithmetic_face(self, a: str, b: str, c: str) -> str | None:
        project = snapshot(self.session.project)  # the worker reads a copy; the user keeps editing the original
        job = self.inference.submit("Latent arithmetic", lambda context: arithmetic_asset(context.model, project, a, b, c))
        asset = await QtInference.wait(job)
        if self.apply(AddAsset(asset, "Latent arithmetic")):
            self.assets.select(asset.id)
            return asset.id
        return None

    def _on_progress(self, progress: JobProgress) -> None:
        self._progress[progress.job_id] = progress
        self.job_label.setText(f"{progress.name}: {progress.done}/{progress.total}")
        self.job_bar.setRange(0, max(1, progress.total))
        self.job_bar.setValue(progress.done)
        if progress.job_id in self._embed_jobs:
            self.assets.show_progress(progress.message or progress.name, progress.done, progress.total)

    def _on_jobs_changed(self) -> None:
        jobs = self.inference.busy_jobs
        for widget in (self.job_label, self.job_bar, self.job_cancel):
            widget.setVisible(bool(jobs))
        if jobs:
            waiting = f" (+{len(jobs) - 1} waiting)" if len(jobs) > 1 else ""
            self.job_label.setText(f"{jobs[0].name}{waiting}")

    # ------------------------------------------------------------ view updates

    def _on_session(self, event: str) -> None:
        if event in (FILE, DOCUMENT):
            self._update_title()
        if event in (PLAYHEAD, DOCUMENT):
            s = self.session
            self.frame_label.setText(f"  frame {s.frame} / {s.frame_count - 1}   {s.time:.2f} s   "
                                     f"{s.project.settings.fps} fps")
        if event == DOCUMENT:
            self._update_compare()

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.session.title}[*] — Latent Studio {__version__}")
        self.setWindowModified(self.session.modified)
        self.undo_action.setEnabled(self.session.undo_stack.can_undo)
        self.redo_action.setEnabled(self.session.undo_stack.can_redo)
        self.undo_action.setText(f"&Undo {self.session.undo_stack.undo_label or ''}".strip())
        self.redo_action.setText(f"&Redo {self.session.undo_stack.redo_label or ''}".strip())

    def _update_compare(self) -> None:
        asset = self.session.project.assets.get(self.assets.current_id() or "")
        if self.assets.compare.isChecked() and asset is not None and asset.original:
            psnr = f" · PSNR {describe_psnr(asset.psnr)}" if asset.psnr is not None else ""
            self.canvas.set_compare(png_to_qimage(asset.original), png_to_qimage(asset.thumbnail),
                                    f"{asset.name}: original | reconstruction{psnr}  (drag to move the divider)")
        else:
            self.canvas.set_compare(None, None)

    def _model_line(self) -> str:
        model = self.inference.model
        return f"{model.source.spec} ({model.short_hash}) on {model.placement.describe()}" if model else "none loaded"

    # ------------------------------------------------------------ undo

    def undo(self) -> None:
        label = self.session.undo()
        if label:
            self.statusBar().showMessage(f"Undid {label}", 3000)

    def redo(self) -> None:
        label = self.session.redo()
        if label:
            self.statusBar().showMessage(f"Redid {label}", 3000)

    # ------------------------------------------------------------ files

    def new_project(self) -> None:
        model = self.inference.model
        if model is None:
            self.show_error("Wait for the model to load before starting a new project.")
            return
        if self.workspace.new_project(model):
            self.spawn(self.random_face(random.randrange(2**31), place=True, undoable=False), "New project")

    def open_dialog(self) -> None:
        if not self.workspace.maybe_save():
            return
        start = str(self.session.path.parent if self.session.path else Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, PROJECT_FILTER)
        if path:
            self.open_project(Path(path), ask_first=False)

    def open_project(self, path: Path, ask_first: bool = True) -> bool:
        return self.workspace.open(Path(path), self.inference.model, ask_first=ask_first)

    def open_example(self, path: Path) -> bool:
        return self.workspace.open_example(Path(path), self.inference.model)

    def save(self) -> bool:
        return self.workspace.save()

    def save_as(self) -> bool:
        return self.workspace.save_as()

    def _fill_file_menus(self) -> None:
        self.recent_menu.clear()
        for path in self.preferences.recent_files:
            self.recent_menu.addAction(str(path), lambda p=path: self.open_project(p))
        self.recent_menu.setEnabled(bool(self.preferences.recent_files))
        self.examples_menu.clear()
        root = resources_dir()
        examples = sorted((root / "examples").glob(f"*{SUFFIX}")) if root else []
        for path in examples:
            self.examples_menu.addAction(path.stem.replace("_", " ").capitalize(), lambda p=path: self.open_example(p))
        self.examples_menu.setEnabled(bool(examples))

    # ------------------------------------------------------------ dialogs

    def export(self) -> ExportDialog | None:
        if not self.session.project.anchors:
            self.show_error("Nothing to export yet: put a face on the timeline first.")
            return None
        self._export_dialog = ExportDialog(self.session, self.inference, self, self.preferences)
        self._export_dialog.setModal(False)
        self._export_dialog.show()
        return self._export_dialog

    def project_settings(self) -> ProjectSettingsDialog:
        """Frame rate, length, size, filter and steps of this project, changed as one undo step."""
        dialog = ProjectSettingsDialog(self.session.project.settings, self)

        def apply() -> None:
            edit = dialog.edit()
            if edit is not None:
                self.session.apply(edit)

        dialog.accepted.connect(apply)
        dialog.open()
        return dialog

    def choose_model(self) -> None:
        picker = ModelPicker(self.inference.model.source.spec if self.inference.model else "", self)
        if picker.exec() == ModelPicker.Accepted and picker.spec:
            self.spawn(self.switch_model(picker.spec), "Choose model")

    async def switch_model(self, spec: str) -> None:
        model = await self.load_model(spec)
        if model is None:
            return
        self.preferences.model = spec
        if not self.session.project.assets:
            self.session.replace_project(self.workspace.new_document(model), None)
            await self.random_face(FIRST_FACE_SEED, place=True, undoable=False)

    def preferences_dialog(self) -> None:
        dialog = PreferencesDialog(self.preferences, self)
        if dialog.exec() == PreferencesDialog.Accepted:
            apply_theme(QApplication.instance(), self.preferences.theme)

    def _open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.data_dir)))

    # ------------------------------------------------------------ closing

    def _restore_layout(self) -> None:
        geometry = self.preferences.settings.value("window/geometry")
        state = self.preferences.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if not (isinstance(state, QByteArray) and self.restoreState(state)):
            self.resizeDocks([self.assets_dock, self.directions_dock], [300, 400], Qt.Horizontal)
            self.resizeDocks([self.timeline_dock], [300], Qt.Vertical)

    def closeEvent(self, event) -> None:
        if self._closing:
            event.accept()
            return
        if not self.workspace.maybe_save():
            event.ignore()
            return
        jobs = self.inference.busy_jobs
        if jobs and not self.ask("Quit while working?", f"“{jobs[0].name}” is still running. Cancel it and quit?"):
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop playback and timers, cancel and join the worker thread, drop the recovery file, save the layout."""
        self._closing = True
        self.playback.stop()
        self.autosave_timer.stop()
        self.preview.stop()
        if self._export_dialog is not None:
            self._export_dialog.close()
        stopped = self.inference.shutdown(timeout=30.0)
        if not stopped:
            log.error("the inference thread did not stop within 30 s")
        for task in list(self._tasks):
            task.cancel()
        self.session.close()  # saved or deliberately discarded by now: the recovery file has done its job
        self.preferences.settings.setValue("window/geometry", self.saveGeometry())
        self.preferences.settings.setValue("window/state", self.saveState())
        self.preferences.sync()
