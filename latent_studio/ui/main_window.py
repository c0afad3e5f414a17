"""The main window: canvas in the middle, assets left, directions right, timeline below, jobs in the status bar.

The window wires views to one Session (the document), one Workspace (its
lifecycle) and one QtInference (the model's thread), and answers the
Workspace's questions with dialogs. What the buttons do lives beside it:
asset_flows.py and model_flows.py (coroutines on the qasync loop that await
jobs), menus.py, job_status.py and banner.py. Errors land in the banner,
never in the event loop.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import shiboken6
from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from latent_studio import __version__
from latent_studio.app.selection import Selection
from latent_studio.app.session import DOCUMENT, FILE, PLAYHEAD, Session, untitled_recovery_file
from latent_studio.app.workspace import Workspace
from latent_studio.core.edits import ASSETS, SETTINGS
from latent_studio.core.metrics import describe_psnr
from latent_studio.core.project import ModelRef, Project, Settings
from latent_studio.core.project_file import SUFFIX
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import default_model_spec
from latent_studio.ui.asset_flows import AssetFlows
from latent_studio.ui.audio_flow import AudioFlow
from latent_studio.ui.assets import AssetPanel
from latent_studio.ui.banner import BANNER_MS, Banner
from latent_studio.ui.cache_fill import CacheFillController
from latent_studio.ui.canvas import Canvas, png_to_qimage
from latent_studio.ui.curve_editor import CurveEditor
from latent_studio.ui.errors import ErrorReporter, apply_edit, log
from latent_studio.ui.export_dialog import ExportDialog
from latent_studio.ui.inference import QtInference
from latent_studio.ui.job_status import JobStatus
from latent_studio.ui.jobs_panel import JobsPanel
from latent_studio.ui.map_panel import MapPanel
from latent_studio.ui.menus import build_menus, build_transport
from latent_studio.ui.model_flows import ModelFlows
from latent_studio.ui.pace_flow import PaceFlow
from latent_studio.ui.preferences import Preferences, PreferencesDialog
from latent_studio.ui.project_settings import ProjectSettingsDialog
from latent_studio.ui.preview import PlaybackController, PreviewController
from latent_studio.ui.sliders import DirectionPanel
from latent_studio.ui.theme import apply_theme
from latent_studio.ui.timeline import TimelineView

AUTOSAVE_MS = 30_000
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
        self._export_dialog: ExportDialog | None = None
        self._closing = False
        self._build_views()
        self.job_status = JobStatus(self.statusBar(), self.inference)
        self.jobs_dock = self._dock("Jobs", JobsPanel(self.job_status.log), Qt.BottomDockWidgetArea)
        self.curves_dock = self._dock("Curves", self.curves, Qt.BottomDockWidgetArea)
        self.tabifyDockWidget(self.timeline_dock, self.curves_dock)
        self.tabifyDockWidget(self.curves_dock, self.jobs_dock)
        self.timeline_dock.raise_()
        self.flows = AssetFlows(self)
        self.models = ModelFlows(self)
        self.pace = PaceFlow(self)
        self.audio = AudioFlow(self)
        self.map_panel = MapPanel(self)
        self.map_dock = self._dock("Latent map", self.map_panel, Qt.RightDockWidgetArea)
        self.tabifyDockWidget(self.directions_dock, self.map_dock)
        self.directions_dock.raise_()
        self.model_ready.connect(lambda model: self.map_panel.show_current())
        self._connect_views()
        build_menus(self)
        build_transport(self)
        self.session.subscribe(self._on_session)
        self.reporter.shown.connect(self.show_error)
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
        self.banner = Banner()
        self.canvas = Canvas()
        column.addWidget(self.banner)
        column.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.selection: Selection[str] = Selection()  # the selected assets, shared by the views and the flows
        self.assets = AssetPanel(self.session, self.selection)
        self.directions = DirectionPanel(self.session)
        self.timeline = TimelineView(self.session, self.selection)
        self.curves = CurveEditor(self.session)
        self.preview = PreviewController(self.session, self.inference, self.canvas, self)
        self.playback = PlaybackController(self.session, self.preview, self)
        self.cache_fill = CacheFillController(self.session, self.inference, self.timeline.set_cache_status,
                                              self.preferences.fill_cache, self)

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

    def _connect_views(self) -> None:
        flows = self.flows
        for view in (self.timeline, self.directions, self.assets, self.curves):
            view.error.connect(self.show_error)
        self.timeline.curve_requested.connect(self.edit_curve)
        self.timeline.pace_requested.connect(
            lambda time, even: self.spawn(self.pace.even_pace(time), "Even pace") if even else self.pace.original_pace(time))
        self.canvas.files_dropped.connect(self._dropped)
        self.directions.released.connect(self.preview.refine_now)
        self.directions.new_direction_requested.connect(flows.new_direction)
        self.directions.arithmetic_requested.connect(flows.arithmetic)
        self.assets.embed_requested.connect(flows.choose_images)
        self.assets.random_requested.connect(lambda: self.spawn(flows.random_face(), "Random face"))
        self.assets.place_requested.connect(flows.place_at_playhead)
        self.assets.remove_requested.connect(flows.remove_assets)
        self.assets.cancel_requested.connect(self.inference.cancel_jobs)
        self.assets.compare_toggled.connect(self._update_compare)
        self.selection.subscribe(self._update_compare)

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower())
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ------------------------------------------------------------ startup

    async def _start(self, project_path: Path | None, model_spec: str | None, first_face: bool) -> None:
        if project_path is not None:
            self.workspace.open(Path(project_path))
            model_spec = model_spec or self.session.project.model.spec or None
        elif self.workspace.recover_untitled():
            first_face = False
        model = await self.models.load(model_spec or self.preferences.model or default_model_spec())
        if model is None:
            return
        if not self.session.project.model.content_hash and not self.session.project.assets:
            if first_face:
                await self.models.start_document(model)
            else:
                self.session.replace_project(self.workspace.new_document(model), None)

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

    def _dropped(self, paths: list[Path]) -> None:
        """A project dropped on the canvas opens (the first, asking about unsaved changes); images are embedded."""
        projects = [Path(p) for p in paths if Path(p).suffix.lower() == SUFFIX]
        images = [Path(p) for p in paths if Path(p).suffix.lower() != SUFFIX]
        if images:
            self.spawn(self.flows.embed_files(images), "Embed")
            if projects:
                self.show_status("A project opens when it is dropped on its own; the images are being embedded.")
        elif projects:
            self.open_project(projects[0])

    def show_error(self, message: str) -> None:
        self.banner.show_message(message)
        self.statusBar().showMessage(message, BANNER_MS)
        log.warning("%s", message)

    def show_warning(self, message: str) -> None:
        """Something done that the artist should know about (not a failure): the banner only, so the status bar
        keeps what was just done."""
        self.banner.show_message(message)
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

    # ------------------------------------------------------------ view updates

    def _on_session(self, event: str) -> None:
        if event in (FILE, DOCUMENT):
            self._update_title()
        if event in (PLAYHEAD, DOCUMENT):
            s = self.session
            self.frame_label.setText(f"  frame {s.frame} / {s.frame_count - 1}   {s.time:.2f} s   "
                                     f"{s.project.settings.fps} fps")
        if event == DOCUMENT and ASSETS in event.parts:
            self._update_compare()
        dialog = self._export_dialog  # open beside the window: its frame range follows the timeline's length
        if event == DOCUMENT and SETTINGS in event.parts and dialog is not None and shiboken6.isValid(dialog):
            dialog.follow_timeline()

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.session.title}[*] — Latent Studio {__version__}")
        self.setWindowModified(self.session.modified)
        self.undo_action.setEnabled(self.session.undo_stack.can_undo)
        self.redo_action.setEnabled(self.session.undo_stack.can_redo)
        self.undo_action.setText(f"&Undo {self.session.undo_stack.undo_label or ''}".strip())
        self.redo_action.setText(f"&Redo {self.session.undo_stack.redo_label or ''}".strip())

    def _update_compare(self, *_) -> None:
        asset = self.session.project.assets.get(self.selection.active or "")
        if self.assets.compare.isChecked() and asset is not None and asset.original:
            psnr = f" · PSNR {describe_psnr(asset.psnr)}" if asset.psnr is not None else ""
            self.canvas.set_compare(png_to_qimage(asset.original), png_to_qimage(asset.thumbnail),
                                    f"{asset.name}: original | reconstruction{psnr}  (drag to move the divider)")
        else:
            self.canvas.set_compare(None, None)

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
            self.spawn(self.flows.random_face(random.randrange(2**31), place=True, undoable=False), "New project")

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

    def fill_file_menus(self) -> None:
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
        self._export_dialog = ExportDialog(self.session, self.inference, self, self.preferences,
                                           seconds_per_step=lambda: self.preview.seconds_per_step,
                                           cache_status=lambda: self.timeline.cache_status)
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

    def preferences_dialog(self) -> None:
        dialog = PreferencesDialog(self.preferences, self)
        if dialog.exec() == PreferencesDialog.Accepted:
            apply_theme(QApplication.instance(), self.preferences.theme)

    def edit_curve(self, direction_id: str) -> None:
        """Show a direction's strength curve in the Curves panel."""
        self.curves.show_track(direction_id)
        self.curves_dock.show()
        self.curves_dock.raise_()

    def set_fill_cache(self, enabled: bool) -> None:
        self.preferences.fill_cache = enabled
        self.cache_fill.set_enabled(enabled)

    def open_log_folder(self) -> None:
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
            self.reset_layout()

    def reset_layout(self) -> None:
        """View > Reset layout: every panel shown and docked where it starts (assets left, directions and the
        latent map right, timeline, curves and jobs below)."""
        bottom = Qt.BottomDockWidgetArea
        for dock, area in ((self.assets_dock, Qt.LeftDockWidgetArea), (self.directions_dock, Qt.RightDockWidgetArea),
                           (self.timeline_dock, bottom), (self.curves_dock, bottom), (self.jobs_dock, bottom)):
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.show()
        self.addDockWidget(Qt.RightDockWidgetArea, self.map_dock)
        self.map_dock.setFloating(False)
        self.map_dock.show()
        self.tabifyDockWidget(self.directions_dock, self.map_dock)
        self.directions_dock.raise_()
        self.tabifyDockWidget(self.timeline_dock, self.curves_dock)
        self.tabifyDockWidget(self.curves_dock, self.jobs_dock)
        self.timeline_dock.raise_()
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
        self.audio.close()
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
