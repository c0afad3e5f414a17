"""docs/paste_back.png: the head-turn example's face pasted back into a photo (issue 17's paste-back).

    python docs/make_paste_back_figure.py [BACKGROUND.png]

The "photo" is the example's embedded head, drawn large and tilted into a
background picture; its alignment is known exactly (the square it was drawn
into), so this shows the inverse alignment and the feathered mask, not a face
detector. Five frames of the head turn, exported with paste-back at the
photo's size, side by side.
"""

from __future__ import annotations

import io
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from latent_studio.app.export import ExportOptions, export_project
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import load_model
from latent_studio.media.export import export_format
from latent_studio.media.face_align import Alignment

SIDE, TILT, CORNER = 220, math.radians(8), (150.0, 40.0)  # the head's square in the photo


def photo_with_head(head: np.ndarray, background: Image.Image) -> tuple[bytes, Alignment]:
    """The head drawn into the background on a tilted square, and that square as the alignment."""
    across = np.array([math.cos(TILT), math.sin(TILT)]) * SIDE
    down = np.array([-math.sin(TILT), math.cos(TILT)]) * SIDE
    q0 = np.array(CORNER)
    quad = (q0, q0 + down, q0 + down + across, q0 + across)
    alignment = Alignment(background.size, tuple((float(x), float(y)) for x, y in quad))
    # PIL's QUAD maps the output square onto the quad; we want the inverse: draw the head into the photo
    matrix = np.vstack([alignment.quad_to_photo(head.shape[0]), [0, 0, 1]])
    a, b, c, d, e, f = np.linalg.inv(matrix)[:2].ravel()
    data = (a, b, c - 0.5 * (a + b), d, e, f - 0.5 * (d + e))
    drawn = Image.fromarray(head).transform(background.size, Image.AFFINE, data, Image.BICUBIC)
    inside = Image.new("L", head.shape[:2][::-1], 255).transform(background.size, Image.AFFINE, data, Image.BILINEAR)
    photo = Image.composite(drawn, background, inside)
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    return buffer.getvalue(), alignment


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "coffee.png"
    background = Image.open(sys.argv[1] if len(sys.argv) > 1 else default).convert("RGB").resize((520, 340))
    model = load_model("toy-heads", device="cpu")
    project = load_project(resources_dir() / "examples" / "head_turn.lsproj")
    face = project.assets[project.anchors[0].value]
    head = np.asarray(Image.open(io.BytesIO(face.original)).convert("RGB"))
    photo, alignment = photo_with_head(head, background)
    project.assets[face.id] = replace(face, photo=photo, metadata={**face.metadata, **alignment.as_metadata()})
    project.settings = replace(project.settings, paste_back=True)
    count = project.settings.frame_count
    frames = [round(i * (count - 1) / 4) for i in range(5)]
    tiles = []
    with tempfile.TemporaryDirectory() as folder:
        for index in frames:
            out = Path(folder) / f"f{index}"
            export_project(project, model, out, ExportOptions(export_format("png"), first_frame=index, last_frame=index))
            tiles.append(np.asarray(Image.open(next(out.glob("frame_*.png"))).convert("RGB")))
    strip = np.concatenate([np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))] + tiles, axis=1)
    target = Path(__file__).with_name("paste_back.png")
    Image.fromarray(strip).resize((strip.shape[1] // 2, strip.shape[0] // 2), Image.LANCZOS).save(target)
    print(f"wrote {target} (the photo, then frames {frames} pasted back)")


if __name__ == "__main__":
    main()
