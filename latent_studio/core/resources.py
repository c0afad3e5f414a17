"""Where the bundled resources (models, directions, examples, icons) live.

Looked for, in order: $LATENT_STUDIO_RESOURCES; a frozen bundle's folder
(PyInstaller); ``latent_studio/resources`` inside an installed wheel; the
``resources/`` folder of a source checkout (editable installs and tests).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "LATENT_STUDIO_RESOURCES"


def resources_dir() -> Path | None:
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    return None


def _candidates() -> list[Path]:
    found = []
    if os.environ.get(ENV_VAR):
        found.append(Path(os.environ[ENV_VAR]).expanduser())
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        found.append(Path(frozen_root) / "resources")
    package_dir = Path(__file__).resolve().parent.parent
    found.append(package_dir / "resources")
    found.append(package_dir.parent / "resources")
    return found


def bundled_models() -> dict[str, Path]:
    """Name -> folder of every model under resources/models/."""
    root = resources_dir()
    if root is None or not (root / "models").is_dir():
        return {}
    return {
        entry.name: entry
        for entry in sorted((root / "models").iterdir())
        if entry.is_dir() and ((entry / "model_index.json").is_file() or (entry / "config.json").is_file())
    }
