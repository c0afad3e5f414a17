"""Loading and switching the model: the job, the status bar line, the canvas placeholder when it fails."""

from __future__ import annotations

from latent_studio.app.projects import model_mismatch
from latent_studio.engine.models import load_model
from latent_studio.ui.dialogs import ModelPicker
from latent_studio.ui.errors import describe
from latent_studio.ui.inference import QtInference

FIRST_FACE_SEED = 7  # the face a new untitled project opens on


class ModelFlows:
    def __init__(self, window) -> None:
        self.window = window
        self.inference = window.inference

    def describe(self) -> str:
        model = self.inference.model
        return f"{model.source.spec} ({model.short_hash}) on {model.placement.describe()}" if model else "none loaded"

    async def load(self, spec: str):
        """Load ``spec`` on the model's thread; None (and a plain sentence on the canvas) when it cannot be."""
        window = self.window
        window.job_status.show_model(f"Model: loading {spec}…")
        device = None if window.preferences.device == "auto" else window.preferences.device
        job = self.inference.load_model(lambda: load_model(spec, device=device), f"Load {spec}")
        window.job_status.log.set_retry(job.id, lambda: window.spawn(self.switch(spec), f"Loading model {spec}"))
        try:
            model = await QtInference.wait(job)
        except Exception as exc:
            message = describe(exc)
            window.reporter.report(exc, f"Loading model {spec}")
            self.show_loaded()  # the model loaded before, if any, is still the one that renders
            if self.inference.model is None:
                window.canvas.show_placeholder(f"No model is loaded.\n\n{message}\n\nRetry it in the Jobs panel, "
                                               "or choose one in Model > Choose model…")
            window.jobs_dock.raise_()
            window.model_failed.emit(message)
            return None
        self.show_loaded()
        mismatch = model_mismatch(window.session.project, model)
        if mismatch:
            window.show_error(f"{mismatch} Model > Choose model… to switch.")
        else:
            window.workspace.offer_direction_update(model)
        window.model_ready.emit(model)
        window.preview.update_preview()
        return model

    def update_directions(self) -> None:
        """Model > Update directions: the model's current directions on this project's sliders (undoable)."""
        if self.inference.model is None:
            self.window.show_error("No model is loaded. Choose one in Model > Choose model… first.")
            return
        self.window.workspace.offer_direction_update(self.inference.model, ask=False)

    def show_loaded(self) -> None:
        """The status bar names the model that actually renders."""
        model = self.inference.model
        if model is None:
            self.window.job_status.show_model("Model: none")
        else:
            self.window.job_status.show_model(f"Model: {model.source.spec} ({model.short_hash})",
                                              model.placement.describe())

    def choose(self) -> None:
        picker = ModelPicker(self.inference.model.source.spec if self.inference.model else "", self.window)
        if picker.exec() == ModelPicker.Accepted and picker.spec:
            self.window.spawn(self.switch(picker.spec), "Choose model")

    async def switch(self, spec: str) -> None:
        """Load another model; an empty project starts over on it with its first face."""
        model = await self.load(spec)
        if model is None:
            return
        self.window.preferences.model = spec
        if not self.window.session.project.assets:
            await self.start_document(model)

    async def start_document(self, model) -> None:
        self.window.session.replace_project(self.window.workspace.new_document(model), None)
        await self.window.flows.random_face(FIRST_FACE_SEED, place=True, undoable=False)
