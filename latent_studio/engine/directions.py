"""The directions that ship inside a model's folder (``directions/*.safetensors``)."""

from __future__ import annotations

from latent_studio.core.directions import Direction, load_direction
from latent_studio.engine.models import LoadedModel

FOLDER = "directions"


def model_directions(model: LoadedModel) -> list[Direction]:
    """Every direction bundled with the model, checked against its content hash, in file-name order."""
    folder = model.source.home / FOLDER
    if not folder.is_dir():
        return []
    return [load_direction(path, model.content_hash) for path in sorted(folder.glob("*.safetensors"))]
