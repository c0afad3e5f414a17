"""The Latent map panel: the project's faces among N sampled ones, placed in 2-D (app.latent_map), to explore.

Compute runs as a job (progress and cancel in the Jobs panel). On the map:
hover enlarges a face, a click on a sampled face makes it an asset, a click
on one of the project's faces selects it, and a path dragged across the map
lays the faces along it on the anchor track (one undo step). Colour by a
direction rings each face by its position along it. Maps are kept per model
for the session; Export PNG writes the picture the CLI's ``map`` draws.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latent_studio.app.latent_map import (
    LatentMap,
    build_map,
    draw_map,
    faces_along,
    from_saved,
    path_edit,
    reproject,
    sampled_asset,
    strengths_along,
    to_saved,
)
from latent_studio.app.session import DOCUMENT
from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.edits import AddAsset
from latent_studio.core.errors import Cancelled
from latent_studio.core.project import snapshot
from latent_studio.engine.latent_map import METHODS
from latent_studio.ui.canvas import to_qimage
from latent_studio.ui.inference import QtInference
from latent_studio.ui.theme import ACCENT

SAMPLE_SIZE, ASSET_SIZE, HOVER_SIZE = 26, 40, 96  # thumbnails on the map, in pixels
MARGIN = 28
CLICK = 6  # pixels the pointer may move and still count as a click
PATH_STEP = 48  # one face per this many pixels of a drawn path (at least two)
HINT = "Click a sampled face to add it · drag a path to lay faces on the timeline"


def strength_colour(value: float) -> QColor:
    """-1 blue, 0 grey, +1 red (the project's own faces are framed in the accent colour)."""
    value = float(np.clip(value, -1.0, 1.0))
    grey, blue, red = np.array([150, 150, 150]), np.array([70, 130, 240]), np.array([230, 60, 80])
    colour = grey + (red - grey) * value if value >= 0 else grey + (blue - grey) * -value
    return QColor(*colour.astype(int))


class MapView(QWidget):
    clicked = Signal(int)  # a point's index
    path_drawn = Signal(object, int)  # the path in map coordinates (N, 2), and how many faces it should pick

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.latent_map: LatentMap | None = None
        self.images: list[QImage] = []
        self.colours: list[QColor] | None = None
        self.hovered: int | None = None
        self._press: QPointF | None = None
        self._path: list[QPointF] = []
        self.message = "Compute a map to see this project's faces among sampled ones."
        self.setMouseTracking(True)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_map(self, latent_map: LatentMap | None) -> None:
        self.latent_map = latent_map
        self.images = [] if latent_map is None else [to_qimage(image) for image in latent_map.images]
        self.colours, self.hovered = None, None
        self.update()

    def set_colours(self, values: np.ndarray | None) -> None:
        if values is None or self.latent_map is None:
            self.colours = None
        else:
            scale = max(float(np.percentile(np.abs(values), 95)), 1e-9)
            self.colours = [strength_colour(v / scale) for v in values]
        self.update()

    # ------------------------------------------------------------ geometry

    def point_at(self, index: int) -> QPointF:
        x, y = self.latent_map.positions[index]
        return QPointF(MARGIN + x * (self.width() - 2 * MARGIN), MARGIN + y * (self.height() - 2 * MARGIN))

    def to_map(self, point: QPointF) -> tuple[float, float]:
        return ((point.x() - MARGIN) / max(1.0, self.width() - 2 * MARGIN),
                (point.y() - MARGIN) / max(1.0, self.height() - 2 * MARGIN))

    def index_at(self, point: QPointF) -> int | None:
        if self.latent_map is None:
            return None
        best = None
        for i in range(len(self.images)):
            half = (ASSET_SIZE if self.latent_map.labels[i] else SAMPLE_SIZE) / 2
            centre = self.point_at(i)
            if abs(centre.x() - point.x()) <= half and abs(centre.y() - point.y()) <= half:
                best = i if best is None or self.latent_map.labels[i] else best  # the project's faces sit on top
        return best

    # ------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        if self.latent_map is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignCenter | Qt.TextWordWrap, self.message)
            return
        order = sorted(range(len(self.images)), key=lambda i: self.latent_map.labels[i] is not None)
        for i in order:
            self._paint_face(painter, i, ASSET_SIZE if self.latent_map.labels[i] else SAMPLE_SIZE)
        if self.hovered is not None:
            self._paint_face(painter, self.hovered, HOVER_SIZE)
        if len(self._path) > 1:
            path = QPainterPath(self._path[0])
            for point in self._path[1:]:
                path.lineTo(point)
            painter.setPen(QPen(ACCENT, 2))
            painter.drawPath(path)

    def _paint_face(self, painter: QPainter, i: int, size: int) -> None:
        centre = self.point_at(i)
        rect = QRectF(centre.x() - size / 2, centre.y() - size / 2, size, size)
        painter.drawImage(rect, self.images[i])
        label = self.latent_map.labels[i]
        if self.colours is not None:
            painter.setPen(QPen(self.colours[i], 3))
            painter.drawRect(rect.adjusted(-2, -2, 2, 2))
        if label:
            painter.setPen(QPen(ACCENT, 2))
            painter.drawRect(rect.adjusted(-1, -1, 1, 1))
            painter.setPen(QColor(240, 240, 240))
            painter.drawText(QPointF(rect.left(), rect.bottom() + 13), label)

    # ------------------------------------------------------------ mouse

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self.latent_map is not None:
            self._press = event.position()
            self._path = [event.position()]

    def mouseMoveEvent(self, event) -> None:
        if self._press is not None:
            self._path.append(event.position())
            self.update()
            return
        hovered = self.index_at(event.position())
        if hovered != self.hovered:
            self.hovered = hovered
            seed = None if hovered is None else self.latent_map.seeds[hovered]
            self.setToolTip("" if hovered is None else f"{self.latent_map.labels[hovered]} (click to select)"
                            if seed is None else f"Seed {seed}: click to add it as an asset")
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._press is None:
            return
        start, path = self._press, self._path
        self._press, self._path = None, []
        length = sum(((b.x() - a.x()) ** 2 + (b.y() - a.y()) ** 2) ** 0.5 for a, b in zip(path, path[1:]))
        if length <= CLICK:
            index = self.index_at(start)
            if index is not None:
                self.clicked.emit(index)
        else:
            points = np.array([self.to_map(p) for p in path])
            self.path_drawn.emit(points, max(2, int(length // PATH_STEP) + 1))
        self.update()

    def leaveEvent(self, event) -> None:
        self.hovered = None
        self.update()


class MapPanel(QWidget):
    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.session = window.session
        self.maps: dict[str, LatentMap] = {}  # per model content hash, for this session
        self.samples = QSpinBox(minimum=10, maximum=2000, value=200, singleStep=50)
        self.samples.setToolTip("How many sampled faces to place beside the project's")
        self.method = QComboBox()
        for method in METHODS:
            if method == "pca" or importlib.util.find_spec(method) is not None:  # UMAP when umap-learn is installed
                self.method.addItem(method.upper(), method)
        self.compute_button = QPushButton("Compute map")
        self.colour = QComboBox()
        self.export_button = QPushButton("Export PNG…")
        self.view = MapView()
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        row1, row2 = QHBoxLayout(), QHBoxLayout()
        row1.addWidget(QLabel("Samples"))
        row1.addWidget(self.samples)
        row1.addWidget(self.method)
        row1.addWidget(self.compute_button, 1)
        row2.addWidget(QLabel("Colour by"))
        row2.addWidget(self.colour, 1)
        row2.addWidget(self.export_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(row1)
        column.addLayout(row2)
        column.addWidget(self.view, 1)
        column.addWidget(self.hint)
        self.compute_button.clicked.connect(lambda: window.spawn(self.compute(), "Latent map"))
        self.export_button.clicked.connect(self.export_png)
        self.colour.currentIndexChanged.connect(self._colour_changed)
        self.view.clicked.connect(self._clicked)
        self.view.path_drawn.connect(self._path_drawn)
        self._project = self.session.project  # the maps in memory belong to this document
        self.session.subscribe(self._on_session)
        self._fill_colours()
        self.show_current()

    def _on_session(self, event: str) -> None:
        if event != DOCUMENT:
            return  # the playhead moves every frame while playing: nothing here depends on it
        if self.session.project is not self._project:  # another document: its own saved map, if any
            self._project = self.session.project
            self.maps.clear()
            self.show_current()
        self._fill_colours()

    def _model_hash(self) -> str:
        model = self.window.inference.model
        return model.content_hash if model is not None else ""

    def show_current(self) -> None:
        """The map for the loaded model: computed this session, or the one saved with the project."""
        model, saved = self.window.inference.model, self.session.project.latent_map
        if model is not None and model.content_hash not in self.maps and saved is not None:
            restored = from_saved(saved, self.session.project, model)
            if restored is not None:
                self.maps[model.content_hash] = restored
        self.view.set_map(self.maps.get(self._model_hash()))
        self.export_button.setEnabled(self.view.latent_map is not None)
        self._colour_changed()

    async def compute(self) -> LatentMap | None:
        document = self.session.project  # the map belongs to this project, even if another is opened meanwhile
        project, count, method = snapshot(document), self.samples.value(), self.method.currentData()
        self.compute_button.setEnabled(False)
        self.view.message = f"Placing {count} sampled faces…"
        self.view.update()
        latent_map = None
        try:
            job = self.window.inference.submit("Latent map", lambda context: build_map(
                context.model, project, count, method="pca", progress=context.progress, cancel=context.cancel))
            latent_map = await QtInference.wait(job)
            if not self._keep(latent_map, document):
                return None
            if method != "pca":  # PCA first: a view at once
                self.hint.setText(f"{method.upper()} is placing the faces; this is PCA's view meanwhile.")
                job = self.window.inference.submit(f"Latent map ({method.upper()})",
                                                   lambda context: reproject(latent_map, method))
                latent_map = await QtInference.wait(job)
                if not self._keep(latent_map, document):
                    return None
        except Cancelled:  # what the artist asked for: not an error
            self.hint.setText("The map was cancelled; Compute starts it again.")
        finally:
            self.compute_button.setEnabled(True)
            self.view.message = "Compute a map to see this project's faces among sampled ones."
            self.view.update()
        return latent_map

    def _keep(self, latent_map: LatentMap, document) -> bool:
        """Show it, and keep it with the project it was computed for (saved with the next save; computing is not an
        edit). False when another project has been opened since: the map is not this one's."""
        if self.session.project is not document:
            self.hint.setText("The map finished after another project was opened, so it was set aside; Compute "
                              "makes this project's.")
            return False
        self.maps[latent_map.model_hash] = latent_map
        self.session.project.latent_map = to_saved(latent_map)
        self.show_current()
        return True

    def _fill_colours(self) -> None:
        current = self.colour.currentData()
        names = [(d.id, d.name) for d in self.session.project.directions.values()]
        if [self.colour.itemData(i) for i in range(1, self.colour.count())] == [i for i, _ in names]:
            return
        self.colour.blockSignals(True)
        self.colour.clear()
        self.colour.addItem("nothing", None)
        for direction_id, name in names:
            self.colour.addItem(name, direction_id)
        index = self.colour.findData(current)
        self.colour.setCurrentIndex(max(0, index))
        self.colour.blockSignals(False)

    def _colour_changed(self, *_) -> None:
        direction_id = self.colour.currentData()
        latent_map = self.view.latent_map
        if direction_id is None or latent_map is None or direction_id not in self.session.project.directions:
            self.view.set_colours(None)
            self.hint.setText(HINT)
            return
        direction = self.session.project.directions[direction_id]
        self.view.set_colours(strengths_along(latent_map, direction))
        self.hint.setText(f"Blue: low {direction.name}, red: high. {HINT}")

    def _clicked(self, index: int) -> None:
        latent_map = self.view.latent_map
        asset_id = latent_map.asset_ids[index]
        if asset_id is not None:
            if asset_id in self.session.project.assets:
                self.window.selection.select([asset_id])
            return
        asset = sampled_asset(latent_map, index)
        if self.window.apply(AddAsset(asset, "Add a face from the map")):
            self.window.selection.select([asset.id])

    def _path_drawn(self, path: np.ndarray, count: int) -> None:
        latent_map = self.view.latent_map
        indices = faces_along(latent_map, path, count)
        try:
            edit = path_edit(self.session.project, latent_map, indices)
        except Exception as exc:  # too few faces or frames: one sentence
            self.window.show_error(str(exc))
            return
        self.window.apply(edit)

    def export_png(self) -> Path | None:
        if self.view.latent_map is None:
            return None
        name, _ = QFileDialog.getSaveFileName(self, "Export the map", str(Path.home() / "latent-map.png"), "PNG (*.png)")
        if not name:
            return None
        return self.save_png(Path(name))

    def save_png(self, path: Path) -> Path:
        buffer = io.BytesIO()
        draw_map(self.view.latent_map).save(buffer, "PNG")
        atomic_write_bytes(path, buffer.getvalue())  # never a half-written file
        return path
