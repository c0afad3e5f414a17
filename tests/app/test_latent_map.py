"""The latent map: a project's faces among sampled ones, placed in 2-D by what their pictures share, drawn as a PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latent_studio.app.latent_map import build_map, draw_map
from latent_studio.app.projects import empty_project, seed_asset
from latent_studio.cli import main
from latent_studio.core.errors import UserError
from latent_studio.core.project import Settings
from latent_studio.core.project_file import save_project
from latent_studio.engine.latent_map import bottleneck_features, project_2d


@pytest.fixture()
def project(trained_model):
    project = empty_project(trained_model, Settings(preview_steps=3, final_steps=3))
    for seed in (1, 2):
        asset = seed_asset(trained_model, seed, steps=3)
        project.assets[asset.id] = asset
    return project


def test_the_map_places_every_face_and_similar_pictures_land_close(trained_model, project):
    latent_map = build_map(trained_model, project, samples=8)
    assert latent_map.positions.shape == (10, 2) and latent_map.positions.min() >= 0 and latent_map.positions.max() <= 1
    assert latent_map.labels[:2] == [a.name for a in project.assets.values()] and latent_map.labels[2:] == [None] * 8
    assert latent_map.seeds[:2] == [None, None] and len(set(latent_map.seeds[2:])) == 8
    # the same sampled faces every time: a map can be compared with the last one
    np.testing.assert_array_equal(build_map(trained_model, project, samples=8).positions, latent_map.positions)
    picture = draw_map(latent_map, size=400)
    assert picture.size == (400, 400) and np.asarray(picture).std() > 0


def test_pca_keeps_the_largest_spread_and_a_map_needs_three_faces(trained_model):
    features = np.zeros((5, 3), np.float32)
    features[:, 0] = [0, 1, 2, 3, 4]  # all the spread on one feature
    points = project_2d(features)
    assert list(np.argsort(points[:, 0])) in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0])
    with pytest.raises(UserError, match="at least three"):
        project_2d(features[:2])
    latents = np.random.default_rng(0).standard_normal((4, *trained_model.latent_shape)).astype(np.float32)
    assert bottleneck_features(trained_model, latents, steps=4, at=2).shape[0] == 4


def test_latent_studio_map_writes_a_png_and_never_overwrites_without_force(trained_model, trained_model_dir, project,
                                                                           tmp_path, capsys):
    path = tmp_path / "faces.lsproj"
    save_project(project, path)
    out = tmp_path / "map.png"
    args = ["map", str(path), "-o", str(out), "--model", str(trained_model_dir), "--samples", "6"]
    assert main(args) == 0
    with Image.open(out) as picture:
        assert picture.size == (1600, 1600)
    before = out.read_bytes()
    assert main(args) == 2 and "exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_a_path_picks_the_faces_along_it_in_order_and_strengths_follow_a_direction(trained_model, project):
    from latent_studio.app.latent_map import faces_along, path_edit, sampled_asset, strengths_along
    from latent_studio.core.directions import Direction

    latent_map = build_map(trained_model, project, samples=8)
    order = np.argsort(latent_map.positions[:, 0])  # left to right
    path = latent_map.positions[order[[0, len(order) // 2, -1]]]
    picked = faces_along(latent_map, path, 3)
    assert picked == [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
    edit = path_edit(project, latent_map, picked)
    edit.apply(project)
    settings = project.settings
    fps, last = float(settings.rate), settings.frame_count - 1
    expected = [settings.frame_time(min(last, round(t * fps))) for t in (0.0, settings.duration / 2, settings.duration)]
    assert [k.time for k in project.anchors] == expected  # evenly spaced, on frames, the last on the last frame
    for key, i in zip(project.anchors, picked):  # the project's own faces are reused, sampled ones become assets
        assert key.value == latent_map.asset_ids[i] if latent_map.asset_ids[i] else \
            project.assets[key.value].seed == latent_map.seeds[i]
    edit.revert(project)
    assert len(project.assets) == 2 and project.anchors == ()

    vector = latent_map.latents[3]
    direction = Direction("d", vector, "test", (-1.0, 1.0), trained_model.content_hash)
    values = strengths_along(latent_map, direction)
    assert values[3] == pytest.approx(1.0) and np.abs(values[4:]).max() < 0.2  # noise latents are nearly orthogonal
    asset = sampled_asset(latent_map, 3)
    assert asset.seed == latent_map.seeds[3] and np.array_equal(asset.latent, latent_map.latents[3])


def test_a_map_is_saved_with_the_project_and_shows_again_without_decoding(trained_model, project, tmp_path):
    from latent_studio.app.latent_map import from_saved, to_saved
    from latent_studio.core.project_file import load_project

    latent_map = build_map(trained_model, project, samples=6)
    project.latent_map = to_saved(latent_map)
    save_project(project, tmp_path / "p.lsproj")
    loaded = load_project(tmp_path / "p.lsproj")
    again = from_saved(loaded.latent_map, loaded, trained_model)
    np.testing.assert_allclose(again.positions, latent_map.positions, atol=1e-6)
    assert again.seeds == latent_map.seeds and again.labels == latent_map.labels
    np.testing.assert_array_equal(again.latents, latent_map.latents)
    assert again.images.shape == (8, 64, 64, 3)  # the atlas's thumbnails
    removed = next(iter(loaded.assets))
    del loaded.assets[removed]
    assert len(from_saved(loaded.latent_map, loaded, trained_model).labels) == 7  # a removed face is left out
    other = type("Other", (), {"content_hash": "f" * 64, "latent_shape": trained_model.latent_shape})()
    assert from_saved(loaded.latent_map, loaded, other) is None  # another model's map is not shown


def test_umap_places_the_same_faces_from_the_same_features(trained_model, project):
    pytest.importorskip("umap")
    from latent_studio.app.latent_map import reproject

    latent_map = build_map(trained_model, project, samples=18)
    placed = reproject(latent_map, "umap")
    assert placed.method == "umap" and placed.positions.shape == latent_map.positions.shape
    assert placed.positions.min() >= 0 and placed.positions.max() <= 1
    np.testing.assert_array_equal(reproject(latent_map, "umap").positions, placed.positions)  # seeded: repeatable
