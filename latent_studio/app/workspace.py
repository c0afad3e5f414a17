"""The document's lifecycle without widgets: new, open (with crash recovery), save, save as, examples, autosave.

The window owns one Workspace and answers its questions through a Prompter
(dialogs); tests and other front ends hand in their own. Everything that
decides what happens to the person's files lives here, so it can be tested
without a screen.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Protocol

from latent_studio.app.messages import EDIT_ERRORS, describe
from latent_studio.app.projects import empty_project, model_mismatch, outdated_model_directions, update_offer
from latent_studio.app.session import Session, project_path, untitled_recovery_file
from latent_studio.core.edits import ReplaceDirections
from latent_studio.core.project import Project, Settings
from latent_studio.core.project_file import SUFFIX, pending_recovery
from latent_studio.core.resources import resources_dir

log = logging.getLogger("latent_studio")


def is_bundled_example(path: Path) -> bool:
    """True for a project file among the installation's examples."""
    root = resources_dir()
    return root is not None and Path(path).resolve().parent == (root / "examples").resolve()


class Prompter(Protocol):
    """What the workspace asks the person (the window's dialogs, or a script in tests)."""

    def ask(self, title: str, text: str) -> bool: ...

    def ask_save(self) -> str: ...  # "save", "discard" or "cancel"

    def confirm_replace(self, title: str, text: str) -> bool: ...

    def choose_save_path(self, start: Path) -> Path | None: ...

    def show_error(self, message: str) -> None: ...

    def show_status(self, message: str) -> None: ...


def _when(path: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


class Workspace:
    def __init__(self, session: Session, data_dir: Path, prompter: Prompter, *,
                 new_settings: Callable[[], Settings], remember: Callable[[Path], None]) -> None:
        self.session = session
        self.data_dir = Path(data_dir)
        self.prompter = prompter
        self.new_settings = new_settings  # the settings a new project starts with (the user's preferences)
        self.remember = remember  # a project opened or saved (recent files)
        self._declined_updates: set[tuple[Path | None, frozenset[str]]] = set()  # direction updates said no to

    # ------------------------------------------------------------ new and recovered documents

    def new_document(self, model) -> Project:
        return empty_project(model, self.new_settings())

    def new_recovery_file(self) -> Path:
        return untitled_recovery_file(self.data_dir / "recovery")

    def untitled_recovery_candidates(self) -> list[Path]:
        folder = self.data_dir / "recovery"
        if not folder.is_dir():
            return []
        return sorted(folder.glob(f"untitled-*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)

    def recover_untitled(self) -> bool:
        """At start: offer the newest unsaved untitled work; True when it was restored (declined: removed)."""
        recovered = self.untitled_recovery_candidates()
        if not recovered:
            return False
        if self.prompter.ask("Recover unsaved work?",
                             f"Latent Studio found unsaved work from {_when(recovered[0])}. Restore it?"):
            return self._open_recovered_untitled(recovered[0])
        for path in recovered:
            path.unlink(missing_ok=True)
        return False

    def _open_recovered_untitled(self, path: Path) -> bool:
        try:
            project = Session.open(path, recovered_from=path).project
        except EDIT_ERRORS as exc:
            self.prompter.show_error(f"The recovered work could not be read: {describe(exc)}")
            return False
        self.session.replace_project(project, None, untitled_recovery=path)
        self.session.mark_unsaved()
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (saved, discarded, or nothing to save)."""
        if not self.session.modified:
            return True
        answer = self.prompter.ask_save()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_project(self, model) -> bool:
        """Start an empty project on ``model`` once the current one is saved or given up; False if kept."""
        if not self.maybe_save():
            return False
        self.session.close()
        self.session.replace_project(self.new_document(model), None, untitled_recovery=self.new_recovery_file())
        return True

    # ------------------------------------------------------------ open

    def open(self, path: Path, model=None, ask_first: bool = True) -> bool:
        """Open a project (offering its recovery file after a crash); says in one sentence when it cannot.

        A bundled example opened by its path (``latent-studio .../examples/head_turn.lsproj``) opens as an
        example: autosave and Save never write into the installation."""
        if ask_first and not self.maybe_save():
            return False
        recovered = pending_recovery(path)
        use_recovery = recovered is not None and self.prompter.ask(
            "Recover unsaved work?",
            f"{path.name} has unsaved changes from {_when(recovered)} that were not saved (the app may have "
            "crashed). Restore them?")
        try:
            opened = Session.open(path, recovered if use_recovery else None)
        except EDIT_ERRORS as exc:
            self.prompter.show_error(describe(exc))
            return False
        self.session.close()
        self.session.replace_project(opened.project, opened.path, disk_stamp=opened.disk_stamp)
        if use_recovery:
            self.session.mark_unsaved()
        if is_bundled_example(path):
            self.session.name_untitled(f"{path.stem} (example)")
        else:
            self.remember(path)
        mismatch = model_mismatch(opened.project, model, path.name) if model is not None else None
        if mismatch:
            self.prompter.show_error(f"{mismatch} Model > Choose model… to switch.")
        elif model is not None:
            self.offer_direction_update(model, path.name)
        return True

    def offer_direction_update(self, model, name: str | None = None, ask: bool = True) -> bool:
        """Put the model's refit directions on the sliders of a project that has older copies, as one undo
        step; asked first (once per project and set of directions) unless the person chose it from the menu."""
        name = name or (self.session.path.name if self.session.path is not None else "This project")
        newer = outdated_model_directions(self.session.project, model)
        if not newer:
            if not ask:
                mismatch = model_mismatch(self.session.project, model, name)
                self.prompter.show_status(mismatch or "The project's directions are the ones the model ships.")
            return False
        offer = (self.session.path, frozenset(d.id for d in newer))
        if ask and (offer in self._declined_updates or not self.prompter.ask("Update directions?", update_offer(newer, name))):
            self._declined_updates.add(offer)
            return False
        names = ", ".join(d.name for d in newer)
        self.session.apply(ReplaceDirections(newer, label=f"Update {names}"))
        self.prompter.show_status(f"Updated {names} to the model's current directions; Edit > Undo puts the old ones back.")
        return True

    def open_example(self, path: Path, model=None) -> bool:
        """Examples open as unsaved copies named after the example: saving never writes into the installation."""
        if not self.open(path, model):
            return False
        if self.session.path is not None:  # an example from elsewhere than the installation
            self.session.name_untitled(f"{path.stem} (example)")
        return True

    # ------------------------------------------------------------ save

    def save(self) -> bool:
        if self.session.path is None:
            return self.save_as()
        if self.session.changed_on_disk() and not self.prompter.confirm_replace(
                "Project changed on disk",
                f"{self.session.path.name} was changed on disk after you opened it (by another program or another "
                "Latent Studio window). Replace it with the version open here?\n\nNo: save under another name."):
            return self.save_as()
        return self._save_to(self.session.path)

    def save_as(self) -> bool:
        stem = (self.session.untitled_name or "untitled").removesuffix(" (example)")
        chosen = self.prompter.choose_save_path(self.session.path or Path.home() / f"{stem}{SUFFIX}")
        if chosen is None:
            return False
        path = project_path(chosen)  # the dialog confirmed replacing `chosen`; the suffix may name another file
        if path != chosen and path.exists() and not self.prompter.confirm_replace(
                "Replace project?", f"{path.name} already exists. Replace it?"):
            return False
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        try:
            saved = self.session.save(path, replace_changed=True)  # the person confirmed any replacing
        except (OSError, *EDIT_ERRORS) as exc:
            self.prompter.show_error(f"The project was not saved: {describe(exc) if not isinstance(exc, OSError) else exc}. "
                                     "Your work is still open; try another folder.")
            return False
        self.remember(saved)
        self.prompter.show_status(f"Saved {saved}")
        return True

    def autosave(self) -> None:
        try:
            written = self.session.autosave()
        except Exception as exc:  # autosave must never interrupt work
            log.warning("autosave failed: %s", exc)
            return
        if written:
            log.info("autosaved to %s", written)
