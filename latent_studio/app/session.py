"""The open document: project, undo stack, file, playhead and autosave, with events views subscribe to.

Every change goes through ``apply`` (an undo command), so undo covers every
edit and each listener hears about it. Listeners are called synchronously
with one of the event names below; the UI calls the session from its own
thread only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from latent_studio.core.edits import ALL_PARTS, changed_assets, changed_parts
from latent_studio.core.errors import OutputError
from latent_studio.core.project import FrameSpec, Project, evaluate
from latent_studio.core.project_file import SUFFIX, discard_recovery, load_project, recovery_path, save_project, save_recovery
from latent_studio.core.undo import Command, UndoStack

DOCUMENT = "document"  # the project changed (edit, undo, redo, or a whole new project)
PLAYHEAD = "playhead"  # the current frame moved
FILE = "file"  # the file name or the saved/modified state changed


class Event(str):
    """An event's name (compare it with DOCUMENT, PLAYHEAD, FILE) that also says what changed.

    For DOCUMENT: ``parts`` (core.edits.ASSETS, DIRECTIONS, TRACKS, SETTINGS)
    and ``asset_ids``, the assets added, removed or changed; a whole new
    document changes every part. A view redraws only what it shows.
    """

    parts: frozenset[str]
    asset_ids: frozenset[str]

    def __new__(cls, name: str, parts: frozenset[str] = frozenset(), asset_ids: frozenset[str] = frozenset()):
        event = super().__new__(cls, name)
        event.parts, event.asset_ids = frozenset(parts), frozenset(asset_ids)
        return event


Listener = Callable[[Event], None]


class ProjectChangedOnDisk(OutputError):
    """Save would replace a version of the file that another program or window wrote after we read it."""


def file_stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What tells one version of a file from another (inode, size, mtime); None when there is none."""
    try:
        info = Path(path).stat() if path else None
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns) if info else None


def project_path(path: Path) -> Path:
    """The file a project is written to: the name given, with the project suffix added when missing."""
    path = Path(path)
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


class Session:
    def __init__(self, project: Project, path: Path | None = None, untitled_recovery: Path | None = None) -> None:
        self.project = project
        self.path = Path(path) if path else None
        self._disk_stamp = file_stamp(self.path)  # the version of the file this document came from
        self.untitled_name: str | None = None  # what an unsaved copy is called (an example), instead of "Untitled"
        self.undo_stack: UndoStack[Project] = UndoStack(project)
        self.frame = 0
        self._untitled_recovery = untitled_recovery  # where an unsaved, untitled project autosaves
        self._listeners: list[Listener] = []
        self._autosaved_at_change = 0
        self._changes = 0

    # ------------------------------------------------------------ events

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, name: str, parts: frozenset[str] = frozenset(), asset_ids: frozenset[str] = frozenset()) -> None:
        event = Event(name, parts, asset_ids)
        for listener in list(self._listeners):
            listener(event)

    # ------------------------------------------------------------ editing

    def apply(self, command: Command[Project]) -> None:
        """Apply and record one edit; a command that raises leaves the project unchanged."""
        was_clean = self.undo_stack.is_clean
        self.undo_stack.push(command)
        self._changed(was_clean)

    def end_gesture(self) -> None:
        self.undo_stack.end_gesture()

    def undo(self) -> str | None:
        was_clean = self.undo_stack.is_clean
        label = self.undo_stack.undo()
        if label is not None:
            self._changed(was_clean)
        return label

    def redo(self) -> str | None:
        was_clean = self.undo_stack.is_clean
        label = self.undo_stack.redo()
        if label is not None:
            self._changed(was_clean)
        return label

    def _changed(self, was_clean: bool) -> None:
        self._changes += 1
        self.set_frame(self.frame)  # the length may have changed
        command = self.undo_stack.last_changed
        self._emit(DOCUMENT, changed_parts(command), changed_assets(command))
        if was_clean != self.undo_stack.is_clean:
            self._emit(FILE)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.is_clean

    # ------------------------------------------------------------ playhead

    @property
    def frame_count(self) -> int:
        return self.project.settings.frame_count

    @property
    def time(self) -> float:
        return self.project.settings.frame_time(self.frame)

    def set_frame(self, frame: int) -> None:
        frame = max(0, min(int(frame), self.frame_count - 1))
        if frame != self.frame:
            self.frame = frame
            self._emit(PLAYHEAD)

    def spec(self) -> FrameSpec | None:
        """The frame at the playhead, or None while the timeline has no anchor."""
        return evaluate(self.project, self.time) if self.project.anchors else None

    # ------------------------------------------------------------ files

    @property
    def title(self) -> str:
        return self.path.name if self.path else (self.untitled_name or "Untitled")

    def changed_on_disk(self) -> bool:
        """True when the file was replaced since this document was opened or saved (a deleted file is not)."""
        now = file_stamp(self.path)
        return now is not None and now != self._disk_stamp

    def save(self, path: Path | None = None, *, replace_changed: bool = False) -> Path:
        """Save (atomically) to ``path`` or the current file; the recovery file goes once the save is done.

        Saving over this document's own file after another program changed it raises
        ProjectChangedOnDisk unless ``replace_changed`` (the user chose to replace it).
        """
        target = Path(path or self.path or "")
        if not target.name:
            raise ValueError("an untitled project needs a path to be saved")
        target = project_path(target)
        same_file = self.path is not None and target.resolve() == self.path.resolve()
        if not replace_changed and same_file and self.changed_on_disk():
            raise ProjectChangedOnDisk(f"{target.name} was changed on disk after it was opened here (by another program "
                                       "or window); nothing was saved. Save under another name, or choose to replace it.")
        save_project(self.project, target)
        self._discard_recovery()
        self.path = target
        self._disk_stamp = file_stamp(target)
        self.untitled_name = None
        self.undo_stack.mark_clean()
        self._autosaved_at_change = self._changes
        self._emit(FILE)
        return target

    @classmethod
    def open(cls, path: Path, recovered_from: Path | None = None) -> "Session":
        """Open a project; with ``recovered_from``, load the autosaved state instead and mark it unsaved."""
        path = Path(path)
        stamp = file_stamp(path)  # before reading: a change made while we read is seen as a change
        project = load_project(recovered_from or path)
        session = cls(project, path)
        session._disk_stamp = stamp
        if recovered_from is not None:
            session.undo_stack.mark_unsaved()  # recovered work is not on disk under its own name yet
        return session

    @property
    def disk_stamp(self) -> tuple[int, int, int] | None:
        return self._disk_stamp

    def replace_project(self, project: Project, path: Path | None = None, untitled_recovery: Path | None = None,
                        disk_stamp: tuple[int, int, int] | None = None) -> None:
        """Start over on another document (New, Open): fresh undo history, playhead at 0.

        ``disk_stamp``: the file's version as it was read (Session.open's), else the file's now.
        """
        self.project = project
        self.path = Path(path) if path else None
        self.untitled_name = None
        self._disk_stamp = disk_stamp or file_stamp(self.path)
        if untitled_recovery is not None:
            self._untitled_recovery = untitled_recovery
        self.undo_stack = UndoStack(project)
        self.frame = 0
        self._changes = self._autosaved_at_change = 0
        self._emit(DOCUMENT, ALL_PARTS, frozenset(project.assets))
        self._emit(PLAYHEAD)
        self._emit(FILE)

    def mark_unsaved(self) -> None:
        """The document differs from its file (restored from a recovery file): Save is needed."""
        self.undo_stack.mark_unsaved()
        self._emit(FILE)

    def name_untitled(self, name: str) -> None:
        """Detach the document from its file under a name of its own (an example's copy)."""
        self.path = None
        self.untitled_name = name
        self._emit(FILE)

    def forget_history(self) -> None:
        """The document as it is now is where it starts (a new project's first face is not an edit to undo)."""
        self.undo_stack = UndoStack(self.project)
        self._changes = self._autosaved_at_change = 0
        self._emit(FILE)

    # ------------------------------------------------------------ autosave

    @property
    def recovery_file(self) -> Path | None:
        if self.path is not None:
            return recovery_path(self.path)
        return self._untitled_recovery

    def autosave(self) -> Path | None:
        """Write unsaved changes to the recovery file if anything changed since the last autosave."""
        if not self.modified or self._changes == self._autosaved_at_change:
            return None
        target = self.recovery_file
        if target is None:
            return None
        if self.path is not None:
            written = save_recovery(self.project, self.path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_project(self.project, target)
            written = target
        self._autosaved_at_change = self._changes
        return written

    def _discard_recovery(self) -> None:
        if self.path is not None:
            discard_recovery(self.path)
        if self._untitled_recovery is not None:
            self._untitled_recovery.unlink(missing_ok=True)

    def close(self) -> None:
        """The user closed the document on purpose: its recovery file is no longer needed."""
        self._discard_recovery()


def untitled_recovery_file(folder: Path) -> Path:
    """A fresh recovery file name for an untitled project, in the app's data folder."""
    return Path(folder) / f"untitled-{time.strftime('%Y%m%d-%H%M%S')}-{time.perf_counter_ns() % 100000:05d}{SUFFIX}"
