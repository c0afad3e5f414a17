"""Directions found for an artist: the head turn labelled by the face detector."""

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ai_edge_litert")

from latent_studio.app.discovery import DETECT_SIZE, discover_head_turn  # noqa: E402
from latent_studio.core.errors import UserError  # noqa: E402
from latent_studio.core.seeds import noise_latent  # noqa: E402
from latent_studio.engine.decode import decode  # noqa: E402
from latent_studio.engine.draft_decoder import DRAFT_PASS  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402
from latent_studio.media.face_detect import detect_faces  # noqa: E402


def mean_turn(model, latents) -> float:
    turns = []
    for picture in decode(model, latents, DRAFT_PASS):
        found = detect_faces(Image.fromarray(picture).resize((DETECT_SIZE, DETECT_SIZE), Image.Resampling.BICUBIC))
        if found:
            turns.append(found[0].turn)
    return float(np.mean(turns))


def test_the_head_turn_found_with_the_detector_turns_heads_the_way_it_says():
    model = load_model("toy-heads", device="cpu")
    direction = discover_head_turn(model, samples=96)
    found, total = direction.info["found"].split(" of ")
    assert int(found) >= 72 and total == "96" and direction.unit == "eye widths"
    low, high = direction.strength_range
    assert low == -high and high > 0
    faces = np.stack([noise_latent(900 + i, model.latent_shape) for i in range(12)])
    assert mean_turn(model, faces + high * direction.vector) > mean_turn(model, faces + low * direction.vector) + 0.1


def test_a_model_whose_samples_are_not_faces_gets_one_sentence(trained_model):
    with pytest.raises(UserError, match=r"found faces in only \d+ of 32 samples"):
        discover_head_turn(trained_model, samples=32)
