"""Small dialogs: choose a model, make a direction from two groups, latent arithmetic, About."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from latent_studio import __version__
from latent_studio.core.project import Project
from latent_studio.core.resources import bundled_models


class ModelPicker(QDialog):
    """A bundled model, a local folder or checkpoint file, or a Hugging Face id; ``spec`` is what `--model` would take."""

    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose model")
        layout = QGridLayout(self)
        self.kind = QButtonGroup(self)
        self.bundled_choice = QRadioButton("Bundled model")
        self.folder_choice = QRadioButton("Local folder or file")
        self.hub_choice = QRadioButton("Hugging Face id")
        self.bundled = QComboBox()
        self.bundled.addItems(list(bundled_models()))
        self.folder = QLineEdit(placeholderText="a diffusers model folder, or a Stable Diffusion .safetensors file")
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        browse_file = QPushButton("File…")
        browse_file.setToolTip("A Stable Diffusion 1.x, 2.x or XL checkpoint in one .safetensors file")
        browse_file.clicked.connect(self._browse_file)
        self.hub = QLineEdit(placeholderText="owner/name (or owner/name/FILE.safetensors), e.g. google/ddpm-celebahq-256")
        for field in (self.folder, self.hub):  # wide enough to read the hint in full
            field.setMinimumWidth(field.fontMetrics().horizontalAdvance(field.placeholderText()) + 24)
        for row, (radio, field) in enumerate(((self.bundled_choice, self.bundled), (self.folder_choice, self.folder),
                                              (self.hub_choice, self.hub))):
            self.kind.addButton(radio, row)
            layout.addWidget(radio, row, 0)
            layout.addWidget(field, row, 1)
        layout.addWidget(browse, 1, 2)
        layout.addWidget(browse_file, 1, 3)
        note = QLabel("A Hugging Face model is downloaded once into the Hugging Face cache. Offline (HF_HUB_OFFLINE=1) "
                      "only cached models load; the message says what to do otherwise.")
        note.setWordWrap(True)
        note.setObjectName("hint")
        layout.addWidget(note, 3, 0, 1, 4)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons, 4, 0, 1, 4)
        if current in bundled_models() or not current:
            self.bundled_choice.setChecked(True)
            self.bundled.setCurrentText(current)
        elif "/" in current and not current.startswith((".", "/", "~")) and not Path(current).exists():  # a hub id
            self.hub_choice.setChecked(True)
            self.hub.setText(current)
        else:
            self.folder_choice.setChecked(True)
            self.folder.setText(current)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder")
        if folder:
            self.folder.setText(folder)
            self.folder_choice.setChecked(True)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.folder.setText(path)
            self.folder_choice.setChecked(True)

    @property
    def spec(self) -> str:
        choice = self.kind.checkedId()
        return [self.bundled.currentText(), self.folder.text().strip(), self.hub.text().strip()][max(0, choice)]


def _asset_list(project: Project) -> QListWidget:
    widget = QListWidget()
    for asset in project.assets.values():
        item = QListWidgetItem(asset.name)
        item.setData(Qt.UserRole, asset.id)
        item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
        item.setCheckState(Qt.Unchecked)
        widget.addItem(item)
    return widget


def checked_ids(widget: QListWidget) -> list[str]:
    return [widget.item(i).data(Qt.UserRole) for i in range(widget.count()) if widget.item(i).checkState() == Qt.Checked]


class DirectionFromGroups(QDialog):
    """Tick the assets that show a feature and those that do not; the direction is the mean difference."""

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New direction from two groups")
        layout = QVBoxLayout(self)
        self.name = QLineEdit(placeholderText="e.g. Glasses")
        form = QFormLayout()
        form.addRow("Name", self.name)
        layout.addLayout(form)
        lists = QHBoxLayout()
        self.with_feature, self.without_feature = _asset_list(project), _asset_list(project)
        for title, widget in (("With the feature", self.with_feature), ("Without it", self.without_feature)):
            column = QVBoxLayout()
            column.addWidget(QLabel(title))
            column.addWidget(widget)
            lists.addLayout(column)
        layout.addLayout(lists)
        hint = QLabel("Strength 1 moves a face by the whole difference between the two groups' mean latents.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class ArithmeticDialog(QDialog):
    """a - b + c: e.g. "with glasses" - "without glasses" + a face."""

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Latent arithmetic")
        form = QFormLayout(self)
        self.a, self.b, self.c = QComboBox(), QComboBox(), QComboBox()
        for combo in (self.a, self.b, self.c):
            for asset in project.assets.values():
                combo.addItem(asset.name, asset.id)
        form.addRow(QLabel("A new face = A − B + C, brought back to the noise sphere."))
        form.addRow("A (e.g. with glasses)", self.a)
        form.addRow("B (e.g. without glasses)", self.b)
        form.addRow("C (the face to change)", self.c)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @property
    def ids(self) -> tuple[str, str, str]:
        return self.a.currentData(), self.b.currentData(), self.c.currentData()


def about_text(model_line: str) -> str:
    import diffusers
    import numpy
    import torch

    return (
        f"<h3>Latent Studio {__version__}</h3>"
        "<p>Creative latent editing with diffusion models: embed faces, move them along directions, "
        "keyframe and export video.</p>"
        f"<p>Model: {model_line}</p>"
        f"<p>Python {platform.python_version()} · Qt {qVersion()} · PySide6 {pyside_version} · torch {torch.__version__} · "
        f"diffusers {diffusers.__version__} · numpy {numpy.__version__}<br>{platform.platform()} ({sys.platform})</p>"
    )


def show_about(parent: QWidget, model_line: str) -> None:
    QMessageBox.about(parent, "About Latent Studio", about_text(model_line))
