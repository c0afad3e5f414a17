"""A project made before its model's directions were refit gets the new ones only when asked, as one undo step."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from latent_studio.app.projects import direction_entry, empty_project, outdated_model_directions
from latent_studio.app.session import Session
from latent_studio.app.workspace import Workspace
from latent_studio.cli import main
from latent_studio.core.directions import Direction, save_direction
from latent_studio.core.project import Settings, StrengthTrack
from latent_studio.core.project_file import direction_digest, load_project, save_project
from latent_studio.engine.directions import model_directions
from latent_studio.engine.models import load_model
from tests.app.test_workspace import ScriptedPrompter


@pytest.fixture
def model_folder(trained_model_dir, tmp_path):
    """The tiny model with two directions of its own, as a model folder ships them."""
    folder = tmp_path / "model"
    shutil.copytree(trained_model_dir, folder)
    model = load_model(str(folder), device="cpu")
    (folder / "directions").mkdir()
    ones = np.ones(model.latent_shape, np.float32)
    save_direction(folder / "directions" / "01_turn.safetensors",
                   Direction("Turn", ones, "binned", (-60, 60), model.content_hash, unit="degrees"))
    save_direction(folder / "directions" / "02_smile.safetensors", Direction("Smile", -ones, "binned", (-1, 1), model.content_hash))
    return folder


def refit(folder, name: str, **changes) -> None:
    """The model's direction file ``name`` rewritten with ``changes``, as a refit does."""
    model = load_model(str(folder), device="cpu")
    path = next(p for p in (folder / "directions").iterdir() if name in p.name)
    old = next(d for d in model_directions(model) if d.name.lower() == name)
    save_direction(path, dataclasses.replace(old, **changes))


def test_a_project_of_the_bundled_model_reads_as_current_after_a_save(tmp_path):
    """Splits, bends, keeps and holds go through the project file and compare equal to the model's own."""
    model = load_model("toy-heads", device="cpu")
    path = tmp_path / "p.lsproj"
    save_project(empty_project(model), path)
    assert outdated_model_directions(load_project(path), model) == []
    turn = next(d for d in model_directions(model) if d.split is not None)
    assert direction_digest(direction_entry(turn, "model")) == direction_digest(turn)  # ids and origins do not count
    stretched = dataclasses.replace(turn, split=dataclasses.replace(turn.split, softness=turn.split.softness * 2))
    assert direction_digest(stretched) != direction_digest(turn)


def test_only_refit_model_directions_with_their_unit_unchanged_are_offered(model_folder):
    model = load_model(str(model_folder), device="cpu")
    project = empty_project(model)
    user = direction_entry(Direction("Turn", np.zeros(model.latent_shape, np.float32), "difference", (-1, 1),
                                     model.content_hash), origin="user")
    project.directions["mine"] = dataclasses.replace(user, id="mine")  # the artist's own, named like the model's
    assert outdated_model_directions(project, model) == []
    refit(model_folder, "turn", vector=np.full(model.latent_shape, 2.0, np.float32))
    refit(model_folder, "smile", unit="smile units")  # a strength of 0.5 would mean something else
    model = load_model(str(model_folder), device="cpu")
    newer = outdated_model_directions(project, model)
    turn_id = next(d.id for d in project.directions.values() if d.name == "Turn" and d.origin == "model")
    assert [(d.name, d.id, d.origin) for d in newer] == [("Turn", turn_id, "model")]
    assert float(newer[0].vector.flat[0]) == 2.0


def test_opening_an_older_project_asks_and_the_update_is_one_undo_step(model_folder, tmp_path):
    model = load_model(str(model_folder), device="cpu")
    project = empty_project(model)
    turn_id = next(d.id for d in project.directions.values() if d.name == "Turn")
    project.strengths[turn_id] = StrengthTrack(base=30.0)  # a slider set before the update stays
    path = tmp_path / "old.lsproj"
    save_project(project, path)
    refit(model_folder, "turn", vector=np.full(model.latent_shape, 2.0, np.float32))
    model = load_model(str(model_folder), device="cpu")

    prompter = ScriptedPrompter(ask=True)
    workspace = Workspace(Session(empty_project(model)), tmp_path / "data", prompter, new_settings=Settings,
                          remember=lambda p: None)
    assert workspace.open(path, model, ask_first=False)
    assert any("older copies of the model's directions (Turn)" in q for q in prompter.questions)
    updated = workspace.session.project
    assert float(updated.directions[turn_id].vector.flat[0]) == 2.0 and workspace.session.modified
    assert updated.strengths[turn_id].base == 30.0
    assert any("Edit > Undo puts the old ones back" in s for s in prompter.statuses)
    workspace.session.undo()
    assert float(workspace.session.project.directions[turn_id].vector.flat[0]) == 1.0
    assert load_project(path).directions[turn_id].vector.flat[0] == 1.0  # nothing written behind the artist's back


def test_a_declined_update_is_not_asked_again_and_the_menu_still_does_it(model_folder, tmp_path):
    model = load_model(str(model_folder), device="cpu")
    path = tmp_path / "old.lsproj"
    save_project(empty_project(model), path)
    refit(model_folder, "turn", vector=np.full(model.latent_shape, 2.0, np.float32))
    model = load_model(str(model_folder), device="cpu")
    prompter = ScriptedPrompter(ask=False)
    workspace = Workspace(Session(load_project(path)), tmp_path / "data", prompter, new_settings=Settings,
                          remember=lambda p: None)
    assert workspace.open(path, model, ask_first=False) and len(prompter.questions) == 1
    assert not workspace.offer_direction_update(model) and len(prompter.questions) == 1  # a model reload: no nagging
    assert outdated_model_directions(workspace.session.project, model)
    assert workspace.offer_direction_update(model, ask=False)  # Model > Update directions from the model
    assert outdated_model_directions(workspace.session.project, model) == []
    assert not workspace.offer_direction_update(model, ask=False)
    assert prompter.statuses[-1] == "The project's directions are the ones the model ships."


def test_the_cli_writes_an_updated_copy_and_never_the_project(model_folder, tmp_path, capsys):
    model = load_model(str(model_folder), device="cpu")
    path, copy = tmp_path / "old.lsproj", tmp_path / "new.lsproj"
    save_project(empty_project(model), path)
    before = path.read_bytes()
    args = ["--model", str(model_folder), "--device", "cpu"]
    assert main(["update-directions", str(path), "-o", str(copy), *args]) == 0  # nothing to update: a copy all the same
    assert "wrote an unchanged copy" in capsys.readouterr().out
    assert [d.vector.tolist() for d in load_project(copy).directions.values()] == \
        [d.vector.tolist() for d in load_project(path).directions.values()]
    copy.unlink()
    refit(model_folder, "turn", vector=np.full(model.latent_shape, 2.0, np.float32))
    assert main(["update-directions", str(path), "-o", str(path), *args]) == 2
    assert "also this command's input" in capsys.readouterr().err
    assert main(["update-directions", str(path), "-o", str(copy), *args]) == 0
    assert "current Turn" in capsys.readouterr().out
    assert path.read_bytes() == before
    assert outdated_model_directions(load_project(copy), load_model(str(model_folder), device="cpu")) == []


def test_render_says_that_an_older_project_renders_with_its_own_copies(model_folder, tmp_path, capsys):
    path = tmp_path / "old.lsproj"
    args = ["--model", str(model_folder), "--device", "cpu"]
    assert main(["new", str(path), "--seed", "4", "--duration", "0.1", "--fps", "24", "--size", "32x32", "--steps", "2", *args]) == 0
    refit(model_folder, "turn", vector=np.full(load_model(str(model_folder), device="cpu").latent_shape, 2.0, np.float32))
    capsys.readouterr()
    assert main(["render", str(path), "-o", str(tmp_path / "frames"), "--format", "png", "--steps", "1", *args]) == 0
    err = capsys.readouterr().err
    assert "older copies of the model's Turn" in err and "update-directions" in err


def test_a_broken_direction_file_in_the_model_offers_nothing_instead_of_failing(model_folder, tmp_path):
    model = load_model(str(model_folder), device="cpu")
    project = empty_project(model)
    (model_folder / "directions" / "01_turn.safetensors").write_bytes(b"not a direction")
    assert outdated_model_directions(project, load_model(str(model_folder), device="cpu")) == []
