"""Project ▸ Settings…: frame rate, length, output size, upscale filter, steps, the prompt and paste-back, applied as
one undo step."""

from __future__ import annotations

from dataclasses import asdict, fields, replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from latent_studio.core.edits import ChangeSettings
from latent_studio.core.project import (
    FRAME_RATES,
    MAX_DURATION,
    MAX_GUIDANCE,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    UPSCALE_FILTERS,
    ProjectError,
    Settings,
)


class ProjectSettingsDialog(QDialog):
    """Edits a copy of the settings; ``edit()`` is the one command to apply, or None when nothing changed."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Project settings")
        self.setMinimumWidth(440)
        self.original = settings
        form = QFormLayout(self)
        self.fps = QComboBox()
        self.fps.addItems(list(FRAME_RATES))
        self.fps.setCurrentText(settings.fps)
        self.duration = QDoubleSpinBox(minimum=0.1, maximum=MAX_DURATION, decimals=2, singleStep=0.5, suffix=" s")
        self.duration.setValue(settings.duration)
        self.width_box = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, singleStep=2, value=settings.width, suffix=" px")
        self.height_box = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, singleStep=2, value=settings.height, suffix=" px")
        self.upscale = QComboBox()
        self.upscale.addItems(list(UPSCALE_FILTERS))
        self.upscale.setCurrentText(settings.upscale)
        self.preview_steps = QSpinBox(minimum=1, maximum=MAX_STEPS, value=settings.preview_steps)
        self.final_steps = QSpinBox(minimum=1, maximum=MAX_STEPS, value=settings.final_steps)
        self.prompt = QLineEdit(settings.prompt, placeholderText="read by text-conditioned models (Stable Diffusion)")
        self.negative_prompt = QLineEdit(settings.negative_prompt, placeholderText="what guidance steers away from")
        self.guidance = QDoubleSpinBox(minimum=1.0, maximum=MAX_GUIDANCE, decimals=1, singleStep=0.5)
        self.guidance.setValue(settings.guidance)
        self.guidance.setToolTip("1 keeps embedding exact; above 1 follows the prompt harder, and edits decode "
                                 "without source attention")
        self.paste_back = QCheckBox("Paste the face back into its photo")
        self.paste_back.setChecked(settings.paste_back)
        self.paste_back.setToolTip("Export composites each frame into the photo of the first face on the timeline "
                                   "that was embedded with alignment, at the photo's size")
        self.audio_offset = QDoubleSpinBox(minimum=-MAX_DURATION, maximum=MAX_DURATION, decimals=3, singleStep=0.04,
                                           suffix=" s")
        self.audio_offset.setValue(settings.audio_offset)
        self.audio_offset.setEnabled(bool(settings.audio_path))
        self.audio_offset.setToolTip("Where on the timeline the audio's start plays (negative: its first seconds "
                                     "are skipped). File ▸ Import audio… chooses the file.")
        self.frames = QLabel()
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #ff7070")
        form.addRow("Frame rate", self.fps)
        form.addRow("Length", self.duration)
        form.addRow("", self.frames)
        form.addRow("Output width", self.width_box)
        form.addRow("Output height", self.height_box)
        form.addRow("Upscale filter", self.upscale)
        form.addRow("Preview steps", self.preview_steps)
        form.addRow("Final steps", self.final_steps)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative prompt", self.negative_prompt)
        form.addRow("Guidance", self.guidance)
        form.addRow("Audio starts at", self.audio_offset)
        form.addRow("Export", self.paste_back)
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.fps.currentTextChanged.connect(self._update_frames)
        self.duration.valueChanged.connect(self._update_frames)
        self._update_frames()

    def settings(self) -> Settings:
        """The settings as entered (raises ProjectError with a plain sentence when they cannot be used)."""
        return replace(self.original, fps=self.fps.currentText(), duration=round(self.duration.value(), 2),
                       width=self.width_box.value(), height=self.height_box.value(), upscale=self.upscale.currentText(),
                       preview_steps=self.preview_steps.value(), final_steps=self.final_steps.value(),
                       prompt=self.prompt.text().strip(), negative_prompt=self.negative_prompt.text().strip(),
                       guidance=round(self.guidance.value(), 1),
                       paste_back=self.paste_back.isChecked(),
                       audio_offset=round(self.audio_offset.value(), 3))  # the in and out points stay as they are

    def edit(self) -> ChangeSettings | None:
        new = self.settings()
        changes = {f.name: getattr(new, f.name) for f in fields(Settings) if getattr(new, f.name) != getattr(self.original, f.name)}
        return ChangeSettings(changes, label="Project settings") if changes else None

    def accept(self) -> None:
        try:
            self.settings()
        except ProjectError as exc:
            self.problem.setText(str(exc))  # e.g. an odd output size: say so, keep the dialog open
            self.adjustSize()
            return
        super().accept()

    def _update_frames(self) -> None:
        try:
            count = Settings(**{**asdict(self.original), "fps": self.fps.currentText(),
                                "duration": round(self.duration.value(), 2)}).frame_count
        except ProjectError:
            self.frames.setText("")
            return
        self.frames.setText(f"{count} frames")
