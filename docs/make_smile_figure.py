"""docs/smile_before_after.png: the example projects' four faces (rows) smiling at +0.5 and +1, with the smile
fitted on 24 identities that shipped before (columns 2-3) and with the shipped one (columns 4-5), each decoded
beside its face as the app decodes it; column 1 is the face.

    python docs/make_smile_figure.py BEFORE_SMILE.safetensors

BEFORE_SMILE.safetensors is the smile file from before the refit, e.g.
`git show 421371f:resources/models/toy-heads/directions/02_smile.safetensors > before.safetensors`.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

from latent_studio.core.directions import apply_directions, load_direction
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import load_model
from latent_studio.engine.source_attention import decode_edits

STRENGTHS = (0.5, 1.0)


def main() -> None:
    model = load_model("toy-heads", device="cpu")
    smiles = [load_direction(sys.argv[1]), load_direction(model.source.home / "directions" / "02_smile.safetensors")]
    faces = [asset.latent for example in ("head_turn", "morph")
             for asset in load_project(resources_dir() / "examples" / f"{example}.lsproj").assets.values()]
    edits = [[face] + [apply_directions(face, [(smile, s)]) for smile in smiles for s in STRENGTHS] for face in faces]
    per_face = len(edits[0])
    frames = decode_edits(model, np.stack([e for row in edits for e in row]), np.stack(faces),
                          [i for i in range(len(faces)) for _ in range(per_face)], smiles[1].source_attention_from, 50)
    image = np.concatenate([np.concatenate(list(frames[i * per_face:(i + 1) * per_face]), axis=1)
                            for i in range(len(faces))], axis=0)
    Image.fromarray(image).resize((image.shape[1] * 3, image.shape[0] * 3), Image.NEAREST).save("docs/smile_before_after.png")


if __name__ == "__main__":
    main()
