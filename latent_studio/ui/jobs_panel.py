"""The Jobs panel: every job with its state, progress and time left; Cancel on a running or waiting one,
Retry on a failed one that can be tried again (a model load, an embedding)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from latent_studio.app.jobs import FAILED, JobLog

COLUMNS = ("Job", "State", "Progress", "Time left", "", "Details")
ACTION_COLUMN = 4


class JobsPanel(QWidget):
    def __init__(self, log: JobLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = log
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        for column, width in enumerate((260, 80, 80, 110, 70)):
            self.tree.setColumnWidth(column, width)
        layout.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.clear = QPushButton("Clear finished", toolTip="Remove the jobs that have ended from this list")
        self.clear.clicked.connect(log.clear_finished)
        row.addWidget(self.clear)
        layout.addLayout(row)
        self._shown: list[tuple] = []  # (job id, state, has retry) of each row, newest first
        log.subscribe(self.refresh)
        self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Rows rebuilt when jobs come, go or change state; otherwise only their progress texts (cheap, per tick)."""
        if not self.isVisible() and self._shown:
            return  # a hidden tab is brought up to date when it is shown
        records = self.log.newest_first()
        shown = [(r.job.id, r.state, r.retry is not None) for r in records]
        if shown == self._shown:
            for row, record in enumerate(records):
                item = self.tree.topLevelItem(row)
                item.setText(2, record.progress_text)
                item.setText(3, record.time_left)
                item.setText(5, record.message)
            return
        self._shown = shown
        self.tree.clear()
        for record in records:
            item = QTreeWidgetItem([record.name, record.state, record.progress_text, record.time_left, "",
                                    record.message])
            item.setToolTip(0, record.name)
            item.setToolTip(5, record.message)
            self.tree.addTopLevelItem(item)
            button = None
            if record.cancellable:
                button = QToolButton(text="Cancel", toolTip=f"Cancel “{record.name}”")
                button.clicked.connect(lambda _=False, job=record.job: job.cancel())
            elif record.state == FAILED and record.retry is not None:
                button = QToolButton(text="Retry", toolTip=f"Try “{record.name}” again")
                button.clicked.connect(lambda _=False, retry=record.retry: retry())
            if button is not None:
                self.tree.setItemWidget(item, ACTION_COLUMN, button)
        self.clear.setEnabled(any(r.state not in ("waiting", "running") for r in self.log.records.values()))
