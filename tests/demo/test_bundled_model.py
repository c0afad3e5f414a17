"""The bundled demo model: loads by name, samples on CPU, ships directions for itself, passes a reduced evaluation."""

import shutil

import numpy as np
import pytest

from latent_studio.cli import main
from latent_studio.core.directions import DirectionFileError, load_direction
from latent_studio.core.resources import bundled_models
from latent_studio.engine.decode import decode
from latent_studio.engine.directions import model_directions
from latent_studio.engine.models import DEFAULT_MODEL, load_model

pytestmark = pytest.mark.skipif(DEFAULT_MODEL not in bundled_models(), reason="the demo model is not bundled")


@pytest.fixture(scope="module")
def demo():
    return load_model(None, device="cpu")


def test_default_model_is_the_bundled_demo_and_samples_faces(demo):
    assert demo.source.kind == "bundled" and demo.source.spec == DEFAULT_MODEL and demo.latent_shape == (3, 64, 64)
    images = decode(demo, np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32), 10)
    assert images.shape == (2, 64, 64, 3) and images.std() > 10  # a picture, not a flat field


def test_shipped_directions_belong_to_the_model_and_refuse_another(demo, tmp_path):
    directions = model_directions(demo)
    assert [d.name for d in directions] == ["Head turn", "Smile", "Glasses", "Hair hue"]
    assert directions[0].unit == "degrees" and directions[0].strength_range == (-60.0, 60.0)
    assert all(d.model_hash == demo.content_hash and d.vector.shape == demo.latent_shape for d in directions)
    first = sorted((demo.source.folder / "directions").glob("*.safetensors"))[0]
    with pytest.raises(DirectionFileError, match="fit it again for this model"):
        load_direction(first, model_hash="f" * 64)


def test_evaluate_demo_runs_in_reduced_mode(tmp_path, capsys):
    model_copy = tmp_path / "toy-heads"
    shutil.copytree(bundled_models()[DEFAULT_MODEL], model_copy)
    code = main(["evaluate-demo", "--reduced", "--model", str(model_copy), "--device", "cpu", "--figures", str(tmp_path),
                 "--update-card"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Fréchet distance" in out and "grainy samples" in out and "Direction 'Head turn'" in out
    assert "\n  inversion " in out and "mean dB" in out
    assert (tmp_path / "demo_samples.png").is_file() and (tmp_path / "demo_head_turn.png").is_file()
    assert "## Evaluation" in (model_copy / "README.md").read_text()


def test_a_head_turn_read_against_its_source_keeps_closer_to_the_face(demo):
    """Light, hair and background stay with the source: the turned face is nearer the original than a plain edit."""
    from latent_studio.core.latent_math import add_directions
    from latent_studio.core.seeds import noise_latent
    from latent_studio.engine.source_attention import decode_attending

    turn = model_directions(demo)[0]
    sources = np.stack([noise_latent(seed, demo.latent_shape) for seed in (3, 4)])
    edits = np.stack([add_directions(s, [(turn.vector, 40.0)]) for s in sources]).astype(np.float32)
    originals = decode(demo, sources, 20).astype(float)
    plain = decode(demo, edits, 20).astype(float)
    attended = decode_attending(demo, edits, sources, [0, 1], 0.0, 20).astype(float)
    for i in range(2):
        assert np.mean((attended[i] - originals[i]) ** 2) < np.mean((plain[i] - originals[i]) ** 2)


def test_the_measured_edit_choice_agrees_with_the_shipped_directions(demo):
    """User directions get the shipped method by measurement (engine/edit_method.py): on toy-heads the trial
    keeps the head turn beside its source and leaves the hair hue plain, as the shipped files do."""
    from dataclasses import replace

    from latent_studio.engine.edit_method import KEEPS, choose_edit_method

    directions = {d.name: replace(d, source_attention_from=None) for d in model_directions(demo)}
    turn = choose_edit_method(demo, directions["Head turn"])
    hue = choose_edit_method(demo, directions["Hair hue"])
    assert turn.source_attention_from == 0.0 and float(turn.info["kept_beside_source"]) >= KEEPS + 0.1
    assert hue.source_attention_from is None and float(hue.info["kept_beside_source"]) <= KEEPS - 0.1
