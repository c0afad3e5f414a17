"""The message banner above the canvas: one sentence that never blocks the window, gone on a click or after a while."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

BANNER_MS = 12_000


class Banner(QLabel):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.setVisible(False)
        self.setToolTip("Click to dismiss; the full details are in the log file.")
        self._timer = QTimer(self, singleShot=True, interval=BANNER_MS)
        self._timer.timeout.connect(lambda: self.setVisible(False))

    def show_message(self, message: str) -> None:
        self.setText(f"⚠  {message}")
        self.setVisible(True)
        self._timer.start()

    def mousePressEvent(self, event) -> None:
        self.setVisible(False)
