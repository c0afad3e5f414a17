"""Unsupervised discovery: the model's main ways of varying, found from its own samples without labels."""

import numpy as np
import pytest

from latent_studio.core.errors import UserError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.discovery import discover_directions, strip


def test_discovery_returns_k_orthogonal_calibrated_directions_and_is_deterministic(trained_model):
    found = discover_directions(trained_model, count=3, samples=48, steps=2)
    assert [d.name for d in found.directions] == ["Component 1", "Component 2", "Component 3"]
    units = np.stack([d.vector.ravel() / np.linalg.norm(d.vector) for d in found.directions])
    np.testing.assert_allclose(units @ units.T, np.eye(3), atol=1e-5)  # orthonormal directions
    assert np.all(np.diff(found.explained) <= 0) and 0 < found.explained.sum() <= 1  # in order of variance
    assert all(float(d.info["std per latent unit"]) > 0 for d in found.directions)  # each moves its component
    again = discover_directions(trained_model, count=3, samples=48, steps=2)
    for a, b in zip(found.directions, again.directions):
        np.testing.assert_array_equal(a.vector, b.vector)


def test_a_strip_moves_one_face_along_a_direction(trained_model):
    direction = discover_directions(trained_model, count=1, samples=16, steps=2).directions[0]
    pictures = strip(trained_model, direction, noise_latent(3, trained_model.latent_shape), steps=2)
    assert pictures.shape == (5, 16, 16, 3)
    assert np.abs(pictures[0].astype(int) - pictures[-1]).mean() > 1  # the ends differ


def test_too_few_faces_is_one_sentence(trained_model):
    with pytest.raises(UserError, match="too few to find 6 directions"):
        discover_directions(trained_model, count=6, samples=10)


def test_discover_on_the_command_line_writes_a_gallery_and_the_directions(trained_model_dir, tmp_path, capsys):
    from PIL import Image

    from latent_studio.cli import main
    from latent_studio.core.directions import load_direction

    out = tmp_path / "gallery.png"
    args = ["discover", "--model", str(trained_model_dir), "--device", "cpu", "-o", str(out), "--count", "2",
            "--samples", "32", "--save", str(tmp_path / "dirs")]
    assert main(args) == 0, capsys.readouterr().err
    with Image.open(out) as picture:
        assert picture.size[1] == 2 * (96 + 8)  # a row per direction
    direction = load_direction(tmp_path / "dirs" / "component_2.safetensors")
    assert direction.name == "Component 2" and direction.unit == "std"
    assert main(args) == 2 and "already exists" in capsys.readouterr().err  # never overwrites without --force
