"""Preferences kept in QSettings: device, steps for new projects, theme, recent files, window layout, export choices."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from latent_studio.ui.theme import THEMES

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_RECENT = 8


class Preferences:
    """Typed access to the user's QSettings (tests hand in a QSettings on a temporary file)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings("Latent Studio", "Latent Studio")

    def _get(self, key: str, default, kind):
        value = self.settings.value(key, default)
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    @property
    def device(self) -> str:
        value = self._get("device", "auto", str)
        return value if value in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.settings.setValue("device", value)

    @property
    def preview_steps(self) -> int:
        return max(1, min(1000, self._get("preview_steps", 10, int)))

    @preview_steps.setter
    def preview_steps(self, value: int) -> None:
        self.settings.setValue("preview_steps", int(value))

    @property
    def final_steps(self) -> int:
        return max(1, min(1000, self._get("final_steps", 50, int)))

    @final_steps.setter
    def final_steps(self, value: int) -> None:
        self.settings.setValue("final_steps", int(value))

    @property
    def fill_cache(self) -> bool:
        """Render final frames in idle time, so playback shows them (View > Fill the cache when idle)."""
        return self._get("fill_cache", "true", str).lower() in ("true", "1")

    @fill_cache.setter
    def fill_cache(self, value: bool) -> None:
        self.settings.setValue("fill_cache", "true" if value else "false")

    @property
    def theme(self) -> str:
        value = self._get("theme", "dark", str)
        return value if value in THEMES else "dark"

    @theme.setter
    def theme(self, value: str) -> None:
        self.settings.setValue("theme", value)

    @property
    def model(self) -> str:
        """The model the app opens on (a bundled name, a folder or a Hugging Face id); empty: the default."""
        return self._get("model", "", str)

    @model.setter
    def model(self, value: str) -> None:
        self.settings.setValue("model", value)

    @property
    def recent_files(self) -> list[Path]:
        value = self.settings.value("recent_files", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in items if p]

    def export_choices(self, project: Path | None) -> dict:
        """What the export dialog last used for this project (or, for a new one, the last export anywhere)."""
        for key in ([_export_key(project)] if project else []) + ["export/last"]:
            try:
                choices = json.loads(self._get(key, "", str) or "null")
            except ValueError:
                continue
            if isinstance(choices, dict):
                return choices
        return {}

    def remember_export(self, project: Path | None, choices: dict) -> None:
        text = json.dumps(choices, sort_keys=True)
        if project:
            self.settings.setValue(_export_key(project), text)
        self.settings.setValue("export/last", text)

    def add_recent(self, path: Path) -> None:
        items = [str(Path(path).resolve())] + [str(p) for p in self.recent_files if str(p) != str(Path(path).resolve())]
        self.settings.setValue("recent_files", items[:MAX_RECENT])

    def sync(self) -> None:
        self.settings.sync()


class PreferencesDialog(QDialog):
    def __init__(self, preferences: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.preferences = preferences
        form = QFormLayout(self)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(preferences.device)
        self.preview_steps = QSpinBox(minimum=1, maximum=200, value=preferences.preview_steps)
        self.final_steps = QSpinBox(minimum=1, maximum=1000, value=preferences.final_steps)
        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(preferences.theme)
        form.addRow("Device", self.device)
        form.addRow("Preview steps (new projects)", self.preview_steps)
        form.addRow("Final steps (new projects)", self.final_steps)
        form.addRow("Theme", self.theme)
        note = QLabel("A new device takes effect when a model is next loaded.")
        note.setObjectName("hint")
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def accept(self) -> None:
        p = self.preferences
        p.device = self.device.currentText()
        p.preview_steps = self.preview_steps.value()
        p.final_steps = self.final_steps.value()
        p.theme = self.theme.currentText()
        p.sync()
        super().accept()


def _export_key(project: Path) -> str:
    """One settings key per project file (a digest: paths hold characters QSettings keys must not)."""
    return "export/" + hashlib.blake2b(str(Path(project).resolve()).encode(), digest_size=8).hexdigest()
