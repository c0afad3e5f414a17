"""Assets: thumbnails of embedded images, random seeds and made latents, with PSNR; embed, random face, place."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latent_studio.app.remaining import RemainingTime, describe_remaining
from latent_studio.app.selection import Selection
from latent_studio.app.session import DOCUMENT, Session
from latent_studio.core.edits import ASSETS, RenameAsset
from latent_studio.core.metrics import describe_psnr
from latent_studio.core.project import Asset
from latent_studio.ui.canvas import png_to_qimage
from latent_studio.ui.errors import apply_edit

THUMBNAIL = 96


def asset_caption(asset: Asset) -> str:
    if asset.kind == "image":
        return f"{asset.name}\nPSNR {describe_psnr(asset.psnr)}" if asset.psnr is not None else asset.name
    if asset.kind == "seed":
        return f"{asset.name}\nrandom face"
    return f"{asset.name}\nmade latent"


class AssetPanel(QWidget):
    embed_requested = Signal()
    random_requested = Signal()
    place_requested = Signal()
    remove_requested = Signal()
    compare_toggled = Signal(bool)
    cancel_requested = Signal()
    error = Signal(str)

    def __init__(self, session: Session, selection: Selection[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.selection = selection  # shared: the timeline and the flows read it
        self._remaining = RemainingTime()
        self._progress_text = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.IconMode)
        self.list.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.list.setGridSize(QSize(THUMBNAIL + 28, THUMBNAIL + 44))
        self.list.setResizeMode(QListWidget.Adjust)
        self.list.setMovement(QListWidget.Static)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.list.itemSelectionChanged.connect(
            lambda: self.selection.select(item.data(Qt.UserRole) for item in self.list.selectedItems()))
        self.list.itemDoubleClicked.connect(self._ask_rename)
        layout.addWidget(self.list, 1)
        buttons = QGridLayout()  # two rows, so the dock (and the window) fits a 1024-pixel-wide screen
        self.embed = QPushButton("Embed image…", toolTip="Embed photos into the model's latent space (or drop them on the canvas)")
        self.random = QPushButton("Random face", toolTip="A new face from a random seed")
        self.place = QPushButton("Place at playhead", toolTip="Put the selected face on the timeline at the playhead")
        self.compare = QToolButton(text="Before/after", checkable=True,
                                   toolTip="Compare the selected embedded image with its reconstruction on the canvas")
        self.remove = QToolButton(text="Remove", toolTip="Remove the selected assets (and their anchor keyframes)")
        for button, signal in ((self.embed, self.embed_requested), (self.random, self.random_requested),
                               (self.place, self.place_requested), (self.remove, self.remove_requested)):
            button.clicked.connect(signal)
        self.compare.toggled.connect(self.compare_toggled)
        for index, button in enumerate((self.embed, self.random, self.place, self.remove, self.compare)):
            button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
            buttons.addWidget(button, index // 3, index % 3)
        layout.addLayout(buttons)
        progress_row = QHBoxLayout()
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel = QToolButton(text="Cancel")
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(self.cancel_requested)
        progress_row.addWidget(self.status, 1)
        progress_row.addWidget(self.progress, 2)
        progress_row.addWidget(self.cancel)
        layout.addLayout(progress_row)
        session.subscribe(self._on_session)
        selection.subscribe(self._show_selection)
        self.refresh()

    def _on_session(self, event) -> None:
        if event == DOCUMENT and ASSETS in event.parts:
            self.update_assets(event.asset_ids)  # a slider tick changes no asset and re-decodes no thumbnail

    def update_assets(self, asset_ids: frozenset[str]) -> None:
        """Redraw the items of these assets only (added, removed or changed); the rest stay as they are."""
        assets = self.session.project.assets
        self.list.blockSignals(True)
        for row in reversed(range(self.list.count())):
            if self.list.item(row).data(Qt.UserRole) not in assets:
                self.list.takeItem(row)
        shown = {self.list.item(row).data(Qt.UserRole): self.list.item(row) for row in range(self.list.count())}
        for asset_id in asset_ids:
            if asset_id in assets:
                item = shown.get(asset_id)
                if item is None:
                    item = QListWidgetItem()
                    self.list.addItem(item)
                self._draw(item, assets[asset_id])
        self.list.blockSignals(False)
        order = [self.list.item(row).data(Qt.UserRole) for row in range(self.list.count())]
        if order != list(assets):
            self.refresh()  # an undone removal comes back in its old place
        self.selection.keep_only(assets)
        self._update_buttons()

    def refresh(self) -> None:
        """Rebuild every item (a new document, or an order that changed)."""
        self.list.blockSignals(True)
        self.list.clear()
        for asset in self.session.project.assets.values():
            item = QListWidgetItem()
            self.list.addItem(item)
            self._draw(item, asset)
            item.setSelected(asset.id in self.selection)
        self.list.blockSignals(False)
        self.selection.keep_only(self.session.project.assets)
        self._update_buttons()

    def _show_selection(self) -> None:
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setSelected(item.data(Qt.UserRole) in self.selection)
        self.list.blockSignals(False)
        self._update_buttons()

    def _draw(self, item: QListWidgetItem, asset: Asset) -> None:
        item.setText(asset_caption(asset))
        item.setData(Qt.UserRole, asset.id)
        image = png_to_qimage(asset.thumbnail)
        item.setIcon(QIcon(QPixmap.fromImage(image.scaled(THUMBNAIL, THUMBNAIL))) if image is not None else QIcon())
        item.setToolTip(f"{asset.name}\n{asset.source}\nDouble-click to rename")

    def selected_ids(self) -> list[str]:
        return list(self.selection.items)

    def current_id(self) -> str | None:
        return self.selection.active

    def select(self, asset_id: str) -> None:
        self.selection.select([asset_id])

    def _update_buttons(self) -> None:
        ids = self.selected_ids()
        self.place.setEnabled(len(ids) == 1)
        self.remove.setEnabled(bool(ids))
        asset = self.session.project.assets.get(ids[0]) if len(ids) == 1 else None
        self.compare.setEnabled(asset is not None and asset.original is not None)
        if not self.compare.isEnabled() and self.compare.isChecked():
            self.compare.setChecked(False)

    def _ask_rename(self, item: QListWidgetItem) -> None:
        asset = self.session.project.assets.get(item.data(Qt.UserRole))
        if asset is not None:
            name, ok = QInputDialog.getText(self, "Rename asset", "Name:", text=asset.name)
            if ok:
                self.rename(asset.id, name)

    def rename(self, asset_id: str, name: str) -> None:
        name = name.strip()
        asset = self.session.project.assets.get(asset_id)
        if asset is None or not name or name == asset.name:
            return
        apply_edit(self.session, RenameAsset(asset_id, name), self.error.emit)

    def show_progress(self, text: str, done: int | None = None, total: int | None = None) -> None:
        if text != self._progress_text or done is None:
            self._remaining.restart()
        self._progress_text = text
        left = describe_remaining(self._remaining.update(done, total or 1)) if done is not None else ""
        self.status.setText(f"{text} {left}" if left else text)
        busy = done is not None
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        if busy:
            self.progress.setRange(0, max(1, total or 1))
            self.progress.setValue(done)
