"""The canvas: the frame at the playhead, fit or zoomed, nearest or smooth, and a before/after split view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

ZOOM_STEPS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


def to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (H, W, 3) to a QImage that owns its memory."""
    pixels = np.ascontiguousarray(pixels, np.uint8)
    height, width, _ = pixels.shape
    return QImage(pixels.data, width, height, 3 * width, QImage.Format_RGB888).copy()


def png_to_qimage(data: bytes | None) -> QImage | None:
    if not data:
        return None
    image = QImage.fromData(data, "PNG")
    return None if image.isNull() else image


class Canvas(QWidget):
    files_dropped = Signal(list)  # list[Path] of dropped files

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setMinimumSize(256, 256)
        self.setFocusPolicy(Qt.ClickFocus)
        self.image: QImage | None = None
        self.caption = ""
        self.placeholder = "Loading the model…"
        self.zoom: float | None = None  # None: fit the window
        self.smooth = False  # nearest keeps a 64-pixel model's pixels honest; smooth is the viewer's choice
        self.compare: tuple[QImage, QImage, str] | None = None  # original, reconstruction, caption
        self.split = 0.5  # where the before/after divider is, as a fraction of the image width
        self._dragging_split = False

    # ------------------------------------------------------------ content

    def show_frame(self, pixels: np.ndarray, caption: str) -> None:
        self.image = to_qimage(pixels)
        self.caption = caption
        self.update()

    def set_caption(self, caption: str) -> None:
        """Change what the caption says about the picture on screen, without changing the picture."""
        self.caption = caption
        self.update()

    def show_placeholder(self, text: str) -> None:
        self.image = None
        self.placeholder = text
        self.update()

    def set_compare(self, original: QImage | None, reconstruction: QImage | None, caption: str = "") -> None:
        self.compare = (original, reconstruction, caption) if original is not None and reconstruction is not None else None
        self.update()

    def set_zoom(self, zoom: float | None) -> None:
        self.zoom = zoom
        self.update()

    def zoom_by(self, direction: int) -> None:
        current = self.zoom or self._fit_scale()
        steps = [z for z in ZOOM_STEPS if (z > current * 1.01 if direction > 0 else z < current * 0.99)]
        if steps:
            self.set_zoom(steps[0] if direction > 0 else steps[-1])

    def set_smooth(self, smooth: bool) -> None:
        self.smooth = smooth
        self.update()

    # ------------------------------------------------------------ geometry

    def _source(self) -> QImage | None:
        return self.compare[1] if self.compare else self.image

    def _fit_scale(self) -> float:
        image = self._source()
        if image is None or image.width() == 0:
            return 1.0
        return max(0.01, min((self.width() - 16) / image.width(), (self.height() - 40) / image.height()))

    def image_rect(self) -> QRectF:
        image = self._source()
        if image is None:
            return QRectF()
        scale = self.zoom or self._fit_scale()
        w, h = image.width() * scale, image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - 24 - h) / 2, w, h)

    # ------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(22, 22, 24))
        painter.setRenderHint(QPainter.SmoothPixmapTransform, self.smooth)
        rect = self.image_rect()
        if self.compare:
            self._paint_compare(painter, rect)
        elif self.image is not None:
            painter.drawImage(rect, self.image)
        else:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
        caption = self.compare[2] if self.compare else self.caption
        if caption and (self.image is not None or self.compare):
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(QRectF(8, self.height() - 22, self.width() - 16, 20), Qt.AlignLeft | Qt.AlignVCenter, caption)
        painter.end()

    def _paint_compare(self, painter: QPainter, rect: QRectF) -> None:
        original, reconstruction, _ = self.compare
        x = rect.left() + rect.width() * self.split
        left = QRectF(rect.left(), rect.top(), x - rect.left(), rect.height())
        right = QRectF(x, rect.top(), rect.right() - x, rect.height())
        sw, sh = original.width(), original.height()
        painter.drawImage(left, original, QRectF(0, 0, sw * self.split, sh))
        rw = reconstruction.width()
        painter.drawImage(right, reconstruction, QRectF(rw * self.split, 0, rw * (1 - self.split), reconstruction.height()))
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QColor(240, 240, 240))
        painter.drawText(QRectF(rect.left() + 6, rect.top() + 4, 200, 18), Qt.AlignLeft, "Original")
        painter.drawText(QRectF(rect.right() - 206, rect.top() + 4, 200, 18), Qt.AlignRight, "Reconstruction")

    # ------------------------------------------------------------ input

    def mousePressEvent(self, event) -> None:
        if self.compare and event.button() == Qt.LeftButton:
            self._dragging_split = True
            self._move_split(event.position().x())

    def mouseMoveEvent(self, event) -> None:
        if self._dragging_split:
            self._move_split(event.position().x())

    def mouseReleaseEvent(self, event) -> None:
        self._dragging_split = False

    def _move_split(self, x: float) -> None:
        rect = self.image_rect()
        if rect.width() > 0:
            self.split = min(1.0, max(0.0, (x - rect.left()) / rect.width()))
            self.update()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.ControlModifier:
            self.zoom_by(1 if event.angleDelta().y() > 0 else -1)
        else:
            super().wheelEvent(event)

    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
