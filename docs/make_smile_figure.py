"""docs/smile_before_after.png: the example projects' four faces (rows) smiling at +0.5 and +1, with the smile
fitted on 24 identities that shipped before (columns 2-3) and with the shipped one (columns 4-5), each decoded
beside its face as the app decodes it; column 1 is the face.

    python docs/make_smile_figure.py BEFORE_SMILE.safetensors

BEFORE_SMILE.safetensors is the smile file from before the refit, e.g.
`git show 421371f:resources/models/toy-heads/directions/02_smile.safetensors > before.safetensors`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks" / "experiments" / "directions"))

from held_heads import example_grid  # noqa: E402

from latent_studio.core.directions import load_direction  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402


def main() -> None:
    model = load_model("toy-heads", device="cpu")
    smiles = (load_direction(sys.argv[1]), load_direction(model.source.home / "directions" / "02_smile.safetensors"))
    with tempfile.TemporaryDirectory() as folder:
        grid = Path(folder) / "grid.png"
        example_grid(model, str(grid), lambda face: smiles, (0.5, 1.0), 50)
        image = Image.open(grid)
        image.resize((image.width * 3, image.height * 3), Image.NEAREST).save("docs/smile_before_after.png")


if __name__ == "__main__":
    main()
