"""docs/probe_ada.png: Ada, the head-turn example's bare face, turned from -60 to +60 degrees by the shipped head
turn with the glasses probe it had before (top: the mean difference, which read her as wearing glasses) and with
the discriminant probe it ships with (bottom).

    python docs/make_probe_figure.py BEFORE_HEAD_TURN.safetensors

BEFORE_HEAD_TURN.safetensors is the head-turn file from before the discriminant probe, e.g.
`git show dc1e2cb:resources/models/toy-heads/directions/01_head_turn.safetensors > before.safetensors`.
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

STRENGTHS = np.linspace(-60, 60, 9)


def main() -> None:
    model = load_model("toy-heads", device="cpu")
    ada = next(iter(load_project(resources_dir() / "examples" / "head_turn.lsproj").assets.values())).latent
    rows = []
    for path in (sys.argv[1], model.source.home / "directions" / "01_head_turn.safetensors"):
        turn = load_direction(path)
        print(f"{path}: Ada reads {turn.split.presence(ada):.2f} as wearing {turn.split.condition.lower()}")
        edited = np.stack([apply_directions(ada, [(turn, s)]) for s in STRENGTHS])
        frames = decode_edits(model, edited, ada[None].astype(np.float32), [0] * len(STRENGTHS), turn.source_attention_from,
                              50, batch_size=len(STRENGTHS))
        rows.append(np.concatenate(list(frames), axis=1))
    image = np.concatenate(rows, axis=0)
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.NEAREST).save("docs/probe_ada.png")


if __name__ == "__main__":
    main()
