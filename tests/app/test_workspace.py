"""The document lifecycle without a window: recovery at start, open, save, save as, examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from latent_studio.app.session import Session
from latent_studio.app.workspace import Workspace
from latent_studio.core.edits import SetBaseStrength
from latent_studio.core.project import Settings, StrengthTrack
from latent_studio.core.project_file import recovery_path, save_project, save_recovery
from tests.app.test_session import make_project


class ScriptedPrompter:
    """Answers as scripted and records what the person was told."""

    def __init__(self, ask=True, save_answer="discard", replace=True, save_path=None) -> None:
        self.answers = {"ask": ask, "ask_save": save_answer, "replace": replace, "path": save_path}
        self.errors, self.statuses, self.questions = [], [], []

    def ask(self, title, text):
        self.questions.append(text)
        return self.answers["ask"]

    def ask_save(self):
        return self.answers["ask_save"]

    def confirm_replace(self, title, text):
        self.questions.append(text)
        return self.answers["replace"]

    def choose_save_path(self, start):
        return self.answers["path"]

    def show_error(self, message):
        self.errors.append(message)

    def show_status(self, message):
        self.statuses.append(message)


@pytest.fixture
def make_workspace(tmp_path):
    def make(**answers) -> tuple[Workspace, ScriptedPrompter, list[Path]]:
        prompter, remembered = ScriptedPrompter(**answers), []
        session = Session(make_project(), untitled_recovery=tmp_path / "data" / "recovery" / "untitled-1.lsproj")
        workspace = Workspace(session, tmp_path / "data", prompter, new_settings=Settings, remember=remembered.append)
        return workspace, prompter, remembered

    return make


def edit(workspace: Workspace) -> None:
    workspace.session.apply(SetBaseStrength("d", 0.5))


def test_unsaved_untitled_work_is_offered_at_start_and_removed_when_declined(make_workspace, tmp_path):
    workspace, _, _ = make_workspace()
    leftover = tmp_path / "data" / "recovery" / "untitled-9.lsproj"
    leftover.parent.mkdir(parents=True)
    save_project(make_project(), leftover)
    declined, _, _ = make_workspace(ask=False)
    assert not declined.recover_untitled() and not leftover.exists()
    save_project(make_project(), leftover)
    assert workspace.recover_untitled()
    assert workspace.session.modified and workspace.session.path is None and workspace.session.recovery_file == leftover


def test_open_offers_the_recovery_file_of_a_crash(make_workspace, tmp_path):
    target = tmp_path / "work.lsproj"
    save_project(make_project(), target)
    changed = make_project()
    changed.strengths["d"] = StrengthTrack(base=0.75)  # the unsaved change the crash left behind
    save_recovery(changed, target)
    os.utime(recovery_path(target), (target.stat().st_mtime + 5,) * 2)
    workspace, prompter, remembered = make_workspace(ask=True)
    assert workspace.open(target)
    assert workspace.session.project.strengths["d"].base == 0.75 and workspace.session.modified
    assert remembered == [target] and "unsaved changes" in prompter.questions[0]


def test_a_broken_file_is_one_sentence_and_the_open_document_stays(make_workspace, tmp_path):
    broken = tmp_path / "broken.lsproj"
    broken.write_bytes(b"not a project")
    workspace, prompter, _ = make_workspace()
    before = workspace.session.project
    assert not workspace.open(broken)
    assert workspace.session.project is before and len(prompter.errors) == 1 and "\n" not in prompter.errors[0]


def test_save_as_adds_the_suffix_and_asks_before_replacing_that_other_file(make_workspace, tmp_path):
    (tmp_path / "scene.lsproj").write_bytes(b"someone else's project")
    workspace, prompter, remembered = make_workspace(replace=False, save_path=tmp_path / "scene")
    assert not workspace.save_as()
    assert (tmp_path / "scene.lsproj").read_bytes() == b"someone else's project"
    prompter.answers["replace"] = True
    assert workspace.save_as() and remembered == [tmp_path / "scene.lsproj"]
    assert workspace.session.path == tmp_path / "scene.lsproj" and prompter.statuses


def test_saving_over_a_file_changed_on_disk_needs_a_yes(make_workspace, tmp_path):
    target = tmp_path / "work.lsproj"
    workspace, prompter, _ = make_workspace(replace=False, save_path=None)
    workspace.session.save(target)
    edit(workspace)
    target.write_bytes(target.read_bytes() + b" ")  # another program wrote it
    os.utime(target, (target.stat().st_mtime + 5,) * 2)
    assert not workspace.save()  # "no: save under another name", then that dialog was cancelled
    assert target.read_bytes().endswith(b" ") and workspace.session.modified


def test_dropping_a_modified_document_follows_the_answer(make_workspace):
    for answer, kept in (("cancel", False), ("discard", True)):
        workspace, _, _ = make_workspace(save_answer=answer)
        edit(workspace)
        assert workspace.maybe_save() is kept


def test_an_example_opens_as_an_unsaved_copy_named_after_it(make_workspace, tmp_path):
    example = tmp_path / "head_turn.lsproj"
    save_project(make_project(), example)
    workspace, _, _ = make_workspace()
    assert workspace.open_example(example)
    assert workspace.session.path is None and workspace.session.untitled_name == "head_turn (example)"
    assert "head_turn (example)" in workspace.session.title


def test_a_bundled_example_opened_by_its_path_is_never_written_to(make_workspace, monkeypatch, tmp_path):
    from latent_studio.app import workspace as workspace_module

    installed = tmp_path / "resources"
    (installed / "examples").mkdir(parents=True)
    example = installed / "examples" / "head_turn.lsproj"
    save_project(make_project(), example)
    before = example.read_bytes()
    monkeypatch.setattr(workspace_module, "resources_dir", lambda: installed)
    workspace, _, _ = make_workspace()
    assert workspace.open(example)  # as `latent-studio path/to/examples/head_turn.lsproj` does
    assert workspace.session.path is None and workspace.session.untitled_name == "head_turn (example)"
    edit(workspace)
    workspace.autosave()
    assert sorted(p.name for p in example.parent.iterdir()) == ["head_turn.lsproj"]  # no recovery file beside it
    assert example.read_bytes() == before


def test_a_message_starting_with_a_file_name_keeps_its_spelling():
    from latent_studio.app.messages import describe
    from latent_studio.core.errors import UserError

    assert describe(UserError("trunc.lsproj: not a Latent Studio project")) == "trunc.lsproj: not a Latent Studio project"
    assert describe(UserError("/tmp/a b/x.png is missing")) == "/tmp/a b/x.png is missing"
    assert describe(UserError("the frame range runs backwards")) == "The frame range runs backwards"
