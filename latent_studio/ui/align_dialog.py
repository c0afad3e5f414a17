"""Embed a face with alignment: drag markers onto the eyes and the mouth, see the aligned crop, then embed.

Face models were trained on aligned faces (FFHQ, CelebA-HQ); this dialog
places three markers on the photo (left eye, right eye, mouth; they start
where a centred portrait has them) and shows, beside it, the square the
model will see, updated as a marker moves (``media.face_align``). A problem
(the face too small, the points too close) is one sentence under the
preview, and Embed waits until it is solved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from latent_studio.core.errors import UserError
from latent_studio.media.face_align import FaceLandmarks, align_face, open_photo
from latent_studio.media.face_detect import NoFaceFound, find_face
from latent_studio.ui.canvas import to_qimage

MARKERS = (("eye_left", "left eye", QColor(235, 80, 80)), ("eye_right", "right eye", QColor(80, 200, 110)),
           ("mouth", "mouth", QColor(90, 140, 240)))
START = {"eye_left": (0.38, 0.42), "eye_right": (0.62, 0.42), "mouth": (0.5, 0.68)}  # of a centred square crop
VIEW = 520  # the photo's longer side on screen
PREVIEW = 192
GRAB = 12


class MarkerView(QWidget):
    """The photo with three draggable markers; positions are kept in the photo's pixels."""

    moved = Signal()

    def __init__(self, photo: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo = to_qimage(photo)
        height, width = photo.shape[:2]
        self.scale = VIEW / max(width, height)
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        self.points = {name: QPointF(left + fx * side, top + fy * side) for name, (fx, fy) in START.items()}
        self._held: str | None = None
        self.setFixedSize(QSize(round(width * self.scale), round(height * self.scale)))
        self.setMouseTracking(True)

    def landmarks(self) -> FaceLandmarks:
        return FaceLandmarks(*((self.points[name].x(), self.points[name].y()) for name, _, _ in MARKERS))

    def set_point(self, name: str, x: float, y: float) -> None:
        self.points[name] = QPointF(x, y)
        self.update()
        self.moved.emit()

    def screen(self, name: str) -> QPointF:
        return self.points[name] * self.scale

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.drawImage(QRectF(self.rect()), self.photo)
        for name, label, colour in MARKERS:
            centre = self.screen(name)
            painter.setPen(QPen(QColor(255, 255, 255), 3))
            painter.drawEllipse(centre, 8, 8)
            painter.setPen(QPen(colour, 2))
            painter.drawEllipse(centre, 8, 8)
            painter.drawLine(centre - QPointF(4, 0), centre + QPointF(4, 0))
            painter.drawLine(centre - QPointF(0, 4), centre + QPointF(0, 4))
            painter.setPen(QColor(255, 255, 255))
            width = painter.fontMetrics().horizontalAdvance(label)
            # each label on its own side, so that close eyes do not write over each other
            offset = {"eye_left": QPointF(-11 - width, -9), "eye_right": QPointF(11, -9),
                      "mouth": QPointF(-width / 2, 22)}[name]
            painter.drawText(centre + offset, label)
        painter.end()

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        nearest = min(MARKERS, key=lambda m: (self.screen(m[0]) - pos).manhattanLength())[0]
        if (self.screen(nearest) - pos).manhattanLength() <= GRAB * 2:
            self._held = nearest

    def mouseMoveEvent(self, event) -> None:
        if self._held is not None:
            pos = event.position()
            x = min(max(pos.x(), 0.0), self.width() - 1.0) / self.scale
            y = min(max(pos.y(), 0.0), self.height() - 1.0) / self.scale
            self.set_point(self._held, x, y)

    def mouseReleaseEvent(self, event) -> None:
        self._held = None


class FaceAlignDialog(QDialog):
    def __init__(self, path: Path, size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Align the face in {Path(path).name}")
        self.size = size
        self.photo = open_photo(path)
        self.markers = MarkerView(np.asarray(self.photo.convert("RGB")))
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignCenter)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #e05050")
        self.problem.setFixedWidth(PREVIEW)
        found = self.place_detected()
        hint = QLabel(f"{found} Drag the markers onto the centres of the eyes and of the mouth. The square on the "
                      "right is what the model will see.")
        hint.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(QLabel("Aligned"))
        side.addWidget(self.preview)
        side.addWidget(self.problem)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.markers)
        row.addLayout(side)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.embed_button = self.buttons.addButton("Embed", QDialogButtonBox.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(row)
        layout.addWidget(self.buttons)
        self.markers.moved.connect(self.update_preview)
        self.update_preview()

    def place_detected(self) -> str:
        """Put the markers where the face detector finds the eyes and the mouth; a sentence says how it went."""
        try:
            landmarks = find_face(self.photo)
        except NoFaceFound as exc:
            return str(exc).split(";")[0] + "."  # "No face was found in this photo." or "Finding faces needs LiteRT…"
        for (name, _, _), (x, y) in zip(MARKERS, (landmarks.eye_left, landmarks.eye_right, landmarks.mouth),
                                        strict=True):
            self.markers.set_point(name, x, y)
        return "The markers are where the face detector found the eyes and the mouth."

    def landmarks(self) -> FaceLandmarks:
        return self.markers.landmarks()

    def update_preview(self) -> None:
        try:
            face, _ = align_face(self.photo, self.landmarks(), self.size)
        except UserError as exc:
            self.problem.setText(str(exc))
            self.preview.setPixmap(QPixmap())
            self.embed_button.setEnabled(False)
            return
        self.problem.setText("")
        self.preview.setPixmap(QPixmap.fromImage(to_qimage(face)).scaled(PREVIEW, PREVIEW, Qt.KeepAspectRatio,
                                                                       Qt.SmoothTransformation))
        self.embed_button.setEnabled(True)
