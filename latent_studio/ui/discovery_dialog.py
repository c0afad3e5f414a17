"""Model ▸ Discover directions…: the model's main ways of varying, found without labels, as a gallery of strips
around the face at the playhead; the user names the ones worth keeping, and they join the sliders in one undo step.
Model ▸ Discover head turn: a head turn labelled by the face detector, added as a slider."""

from __future__ import annotations

from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from latent_studio.app.discovery import discover_choosing_edits, discover_head_turn, gallery, keep_directions
from latent_studio.core.errors import UserError
from latent_studio.core.project import frame_latent
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.discovery import STRIP_STRENGTHS, Discovery
from latent_studio.ui.canvas import to_qimage
from latent_studio.ui.inference import QtInference

THUMB = 80
COUNT, SAMPLES = 6, 1024
HEAD_TURN_SAMPLES = 512


class DiscoveryGallery(QDialog):
    def __init__(self, discovery: Discovery, strips, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Discovered directions")
        self.discovery = discovery
        column = QVBoxLayout(self)
        column.addWidget(QLabel("Found without labels, in order of how much they change the pictures. Name the "
                                "ones worth keeping; strength 1 is one standard deviation."))
        grid = QGridLayout()
        for c, strength in enumerate(STRIP_STRENGTHS):
            grid.addWidget(QLabel(f"{strength:+g}"), 0, 2 + c)
        self.keep: list[QCheckBox] = []
        self.names: list[QLineEdit] = []
        for row, (direction, pictures, share) in enumerate(zip(discovery.directions, strips, discovery.explained,
                                                              strict=True), start=1):
            keep, name = QCheckBox(f"{100 * share:.0f}%"), QLineEdit(direction.name)
            keep.setToolTip("Keep this direction as a slider")
            self.keep.append(keep)
            self.names.append(name)
            grid.addWidget(keep, row, 0)
            grid.addWidget(name, row, 1)
            for c, image in enumerate(pictures):
                label = QLabel()
                label.setPixmap(QPixmap.fromImage(to_qimage(image)).scaled(THUMB, THUMB))
                grid.addWidget(label, row, 2 + c)
        column.addLayout(grid)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Keep ticked")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)

    def kept(self):
        return [(direction, name.text()) for direction, keep, name in
                zip(self.discovery.directions, self.keep, self.names, strict=True) if keep.isChecked()]


async def discover(window) -> DiscoveryGallery | None:
    """Find the directions as a job (progress and cancel in the Jobs panel), then open the gallery."""
    session = window.session
    project = session.project
    specs = session.spec()
    latent = frame_latent(project, specs) if specs is not None else None

    def work(context):
        model = context.model
        found = discover_choosing_edits(model, COUNT, SAMPLES, progress=context.progress, cancel=context.cancel)
        around = latent if latent is not None else noise_latent(0, model.latent_shape)
        return found, gallery(model, found, around)

    found, strips = await QtInference.wait(window.inference.submit("Discover directions", work))
    dialog = DiscoveryGallery(found, strips, window)

    def keep() -> None:
        try:
            window.apply(keep_directions(dialog.kept()))
        except UserError as exc:  # nothing ticked: one sentence
            window.show_error(str(exc))

    dialog.accepted.connect(keep)
    dialog.open()
    return dialog


async def discover_head_turn_flow(window) -> str | None:
    """Model ▸ Discover head turn: sampled faces labelled by the face detector, a direction fitted through them,
    added as a slider in one undo step; a plain sentence when the model's samples are not faces."""
    job = window.inference.submit("Discover head turn", lambda context: discover_head_turn(
        context.model, HEAD_TURN_SAMPLES, progress=context.progress, cancel=context.cancel))
    direction = await QtInference.wait(job)
    kept = keep_directions([(direction, "Head turn (found)")])
    if not window.apply(kept):
        return None
    window.show_status(f"Added Head turn (found) from {direction.info['found']} sampled faces the detector read; "
                       f"its strength is the nose's offset in eye widths (R² of the fit {direction.info['r2']}).")
    return kept.commands[0].direction.id
