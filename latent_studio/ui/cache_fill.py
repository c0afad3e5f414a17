"""Hands the document to the idle-time cache filler and shows what is cached on the timeline.

A burst of edits (a slider drag) is one target, handed over once the edits
pause; moving the playhead only says where to fill from next. The statuses
come back from the worker as a queued signal and reach the timeline only if
they describe the document as it is now.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from latent_studio.app.cache_fill import CacheFiller, CacheStatus
from latent_studio.app.session import DOCUMENT, PLAYHEAD, Session
from latent_studio.core.edits import SETTINGS
from latent_studio.core.project import Settings, snapshot
from latent_studio.ui.inference import QtInference

SETTLE_MS = 400  # edits this far apart are one burst


def _frames_settings(settings: Settings) -> Settings:
    """The settings that decide the frames and their count: all but the in and out points, the audio and
    paste-back (which only exports read)."""
    return replace(settings, in_frame=0, out_frame=-1, audio_path="", audio_offset=0.0, paste_back=False)


class CacheFillController(QObject):
    status_ready = Signal(object)  # CacheStatus, emitted on the worker thread, received on the GUI thread

    def __init__(self, session: Session, inference: QtInference, show_status, enabled: bool,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.enabled = enabled
        self._show_status = show_status  # e.g. TimelineView.set_cache_status
        self._generation = 0
        self._frames_settings: Settings | None = None  # the settings the shown status was made under, less in/out
        self.filler = CacheFiller(inference.executor, self.status_ready.emit)
        self.status_ready.connect(self._on_status, Qt.QueuedConnection)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.retarget)
        inference.executor.set_idle_work(self.filler)
        session.subscribe(self._on_session)

    def set_enabled(self, enabled: bool) -> None:
        """Fill the cache when idle (the cached ranges are shown either way)."""
        self.enabled = enabled
        self.retarget()

    def retarget(self) -> None:
        """Hand the document as it is now to the filler."""
        self._settle.stop()
        project = self.session.project
        self._frames_settings = _frames_settings(project.settings)
        self._generation = self.filler.set_target(snapshot(project) if project.anchors else None, self.session.frame,
                                                  self.enabled)
        if not project.anchors:
            self._show_status(None)

    def _on_session(self, event: str) -> None:
        if event == DOCUMENT:
            frames_as_before = self._frames_settings == _frames_settings(self.session.project.settings)
            if not (event.parts <= {SETTINGS} and frames_as_before):  # e.g. only the in and out points moved
                self._show_status(None)  # it described the old document: say nothing until the new one is known
            self._settle.start()
        elif event == PLAYHEAD:
            self.filler.move_playhead(self.session.frame)

    def _on_status(self, status: CacheStatus) -> None:
        if status.generation == self._generation and not self._settle.isActive():
            self._show_status(status)
