"""What the assets panel's buttons do: embed images, random faces, latent arithmetic, place, remove, directions.

The flows that wait on a job are coroutines on the qasync loop: each submits
its work with a snapshot of what it reads, awaits the job's future, then
applies the result as one undo step. A cancel is what the user asked for,
not an error; any other failure goes to the error reporter.
"""

from __future__ import annotations

import random
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from latent_studio.app.projects import (
    arithmetic_asset,
    choose_group_edit,
    direction_from_groups,
    image_asset,
    place_face,
    seed_asset,
)
from latent_studio.core.edits import AddAsset, AddDirection, Batch, RemoveAsset
from latent_studio.core.errors import Cancelled
from latent_studio.core.metrics import describe_psnr
from latent_studio.core.project import snapshot
from latent_studio.media.face_align import FaceLandmarks
from latent_studio.ui.align_dialog import FaceAlignDialog
from latent_studio.ui.dialogs import ArithmeticDialog, DirectionFromGroups, checked_ids
from latent_studio.ui.errors import EDIT_ERRORS, describe
from latent_studio.ui.inference import QtInference

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"


class AssetFlows:
    """The asset flows of one window (its session, model thread, assets panel and messages)."""

    def __init__(self, window) -> None:
        self.window = window
        self.session = window.session
        self.inference = window.inference
        self.assets = window.assets

    def show_status(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 8000)

    def _still_open(self, document, what: str) -> bool:
        """Whether ``document`` is still the open project: a job's result belongs to the project it was started in,
        never to one opened while it ran."""
        if self.session.project is document:
            return True
        self.show_status(f"{what} finished after another project was opened; nothing was added to it.")
        return False

    # ------------------------------------------------------------ flows that await jobs

    async def embed_files(self, paths: list[Path], landmarks: FaceLandmarks | None = None) -> list[str]:
        """Embed each image on the job lane; each becomes an asset (the first face also goes on the timeline).

        ``landmarks`` (one photo): its face is aligned from them instead of centre-cropped."""
        added, document = [], self.session.project
        for path in paths:
            asset = await self._embed_one(Path(path), landmarks)
            if asset is not None and not self._still_open(document, f"Embedding {Path(path).name}"):
                break
            if asset is None or not self.window.apply(AddAsset(asset, f"Embed {path.name}")):
                continue
            added.append(asset.id)
            self.window.selection.select([asset.id])
            guidance = asset.metadata.get("guidance", "1")
            guided = (f"; under guidance {guidance} inversion is not exact, so it was found by fixed-point iterations "
                      "of the guided step" if guidance != "1" else "")
            self.show_status(f"Embedded {path.name}: reconstruction PSNR {describe_psnr(asset.psnr)}{guided}")
            if "out_of_domain" in asset.metadata:
                self.window.show_warning(asset.metadata["out_of_domain"])
            if not self.session.project.anchors:
                self.place_at_playhead()
        return added

    async def _embed_one(self, path: Path, landmarks: FaceLandmarks | None = None):
        settings = self.session.project.settings  # embedded under the project's prompt and guidance, if any
        steps = settings.final_steps

        def work(context):
            return image_asset(context.model, path, steps, cancel=context.cancel, settings=settings, landmarks=landmarks,
                               progress=lambda done, total: context.progress(done, total, f"Embedding {path.name}"))

        job = self.inference.submit(f"Embed {path.name}", work)
        self.window.job_status.log.set_retry(job.id, lambda: self.window.spawn(self.embed_files([path], landmarks),
                                                                              "Embed"))
        self.window.job_status.watch(job.id, lambda p: self.assets.show_progress(p.message or p.name, p.done, p.total))
        self.assets.show_progress(f"Embedding {path.name}…", 0, 1)
        try:
            return await QtInference.wait(job)
        except Cancelled:
            self.show_status(f"Embedding {path.name} was cancelled; nothing was added.")
        except Exception as exc:
            self.window.reporter.report(exc, f"Embedding {path.name}")
        finally:
            self.assets.show_progress("")
        return None

    async def random_face(self, seed: int | None = None, place: bool = False, undoable: bool = True) -> str | None:
        seed = random.randrange(2**31) if seed is None else seed
        document = self.session.project
        settings = document.settings
        job = self.inference.submit(f"Random face {seed}", lambda context: seed_asset(context.model, seed, settings=settings))
        try:
            asset = await QtInference.wait(job)
        except Exception as exc:
            self.window.reporter.report(exc, "New random face")
            return None
        if not self._still_open(document, "The random face") or not self.window.apply(AddAsset(asset, "Random face")):
            return None
        self.window.selection.select([asset.id])
        if place or not self.session.project.anchors:
            self.place_at_playhead()
        if not undoable:  # the face a new project opens with is part of the new document, not an edit
            self.session.forget_history()
        return asset.id

    async def arithmetic_face(self, a: str, b: str, c: str) -> str | None:
        document = self.session.project
        project = snapshot(document)  # the worker reads a copy; the user keeps editing the original
        job = self.inference.submit("Latent arithmetic", lambda context: arithmetic_asset(context.model, project, a, b, c))
        asset = await QtInference.wait(job)
        if self._still_open(document, "Latent arithmetic") and self.window.apply(AddAsset(asset, "Latent arithmetic")):
            self.window.selection.select([asset.id])
            return asset.id
        return None

    # ------------------------------------------------------------ buttons

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.window, "Embed images", str(Path.home()), IMAGE_FILTER)
        if paths:
            self.window.spawn(self.embed_files([Path(p) for p in paths]), "Embed")

    def choose_face_to_align(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Embed a face with alignment", str(Path.home()), IMAGE_FILTER)
        if path:
            self.align_and_embed(Path(path))

    def align_and_embed(self, path: Path) -> FaceAlignDialog | None:
        """Place the eyes and the mouth on the photo, then embed the aligned face (face models need it)."""
        model = self.inference.model
        if model is None:
            self.window.show_error("The model is still loading; try again when a face is on the canvas.")
            return None
        try:
            dialog = FaceAlignDialog(path, model.image_size[0], self.window)
        except EDIT_ERRORS as exc:
            self.window.show_error(describe(exc))
            return None
        dialog.accepted.connect(lambda: self.window.spawn(self.embed_files([path], dialog.landmarks()), "Embed"))
        dialog.open()
        return dialog

    def place_at_playhead(self) -> None:
        asset_id = self.window.selection.active
        if asset_id is None:
            self.window.show_error("Select a face in Assets first.")
            return
        try:
            self.window.apply(place_face(self.session.project, asset_id, self.session.time))
        except EDIT_ERRORS as exc:
            self.window.show_error(describe(exc))

    def remove_assets(self) -> None:
        ids = self.window.selection.items
        if ids:
            label = "Remove asset" if len(ids) == 1 else f"Remove {len(ids)} assets"
            self.window.apply(Batch([RemoveAsset(i) for i in ids], label))

    def new_direction(self) -> None:
        if len(self.session.project.assets) < 2:
            self.window.show_error("A direction needs at least two assets: one with the feature and one without.")
            return
        dialog = DirectionFromGroups(self.session.project, self.window)
        if dialog.exec() != DirectionFromGroups.Accepted:
            return
        with_ids, without_ids = checked_ids(dialog.with_feature), checked_ids(dialog.without_feature)
        try:
            entry = direction_from_groups(self.session.project, dialog.name.text(), with_ids, without_ids)
        except EDIT_ERRORS as exc:
            self.window.show_error(describe(exc))
            return
        self.window.spawn(self.add_direction(entry, with_ids, without_ids), "New direction")

    async def add_direction(self, entry, with_ids: list[str], without_ids: list[str]) -> str | None:
        """Try the new direction on the groups' faces (a job: progress, cancel), then add it in one undo step,
        decoding beside its source when that keeps its change (engine/edit_method.py)."""
        document = self.session.project
        project = snapshot(document)
        job = self.inference.submit(f"New direction {entry.name}", lambda context: choose_group_edit(
            context.model, project, entry, with_ids, without_ids, cancel=context.cancel,
            progress=lambda done, total: context.progress(done, total, f"Trying {entry.name} on your faces")))
        try:
            entry = await QtInference.wait(job)
        except Cancelled:
            self.show_status(f"New direction {entry.name} was cancelled; nothing was added.")
            return None
        if not self._still_open(document, f"New direction {entry.name}") or \
                not self.window.apply(AddDirection(entry, f"New direction {entry.name}")):
            return None
        how = ("beside the unedited face, so the rest of the picture stays" if entry.source_attention_from is not None
               else "plainly, since keeping the face's look would undo it")
        self.show_status(f"Added {entry.name}; it decodes {how}.")
        return entry.id

    def arithmetic(self) -> None:
        if not self.session.project.assets:
            self.window.show_error("Latent arithmetic needs assets: embed images or make random faces first.")
            return
        dialog = ArithmeticDialog(self.session.project, self.window)
        if dialog.exec() == ArithmeticDialog.Accepted:
            self.window.spawn(self.arithmetic_face(*dialog.ids), "Latent arithmetic")
