"""An undo stack of commands (pure Python).

A command changes the document through ids, never through held objects, so
undoing it after other edits still finds what it changed. Commands that
carry the same ``gesture`` (one slider drag, one keyframe drag) merge into
the command on top of the stack, so one gesture is one undo step. Adding or
removing a keyframe never merges.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

Document = TypeVar("Document")


class Command(Protocol[Document]):
    label: str
    gesture: str | None  # commands of one gesture merge; None never merges

    def apply(self, document: Document) -> None: ...

    def revert(self, document: Document) -> None: ...

    def merge(self, later: "Command[Document]") -> bool:
        """Absorb ``later`` (already applied) into this command; False if it cannot."""
        ...


class UndoStack(Generic[Document]):
    def __init__(self, document: Document, limit: int = 1000) -> None:
        self.document = document
        self.limit = limit
        self._done: list[Command[Document]] = []
        self._undone: list[Command[Document]] = []
        self._clean_index: int | None = 0  # len(_done) when the document was last saved
        self.last_changed: Command[Document] | None = None  # the command last applied, undone or redone

    def push(self, command: Command[Document]) -> None:
        """Apply ``command`` and record it (merging it into the top command when it continues a gesture)."""
        command.apply(self.document)
        self.last_changed = command
        self._undone.clear()
        top = self._done[-1] if self._done else None
        mergeable = top is not None and command.gesture is not None and top.gesture == command.gesture
        if mergeable and len(self._done) != self._clean_index and top.merge(command):
            return
        if self._clean_index is not None and self._clean_index > len(self._done):
            self._clean_index = None  # the saved state was in the redo branch just dropped
        self._done.append(command)
        if len(self._done) > self.limit:
            self._done.pop(0)
            self._clean_index = None if self._clean_index in (None, 0) else self._clean_index - 1

    def undo(self) -> str | None:
        if not self._done:
            return None
        command = self._done.pop()
        command.revert(self.document)
        self.last_changed = command
        self._undone.append(command)
        return command.label

    def redo(self) -> str | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.apply(self.document)
        self.last_changed = command
        self._done.append(command)
        return command.label

    def end_gesture(self) -> None:
        """Close the current gesture: the next command starts a new undo step even with the same gesture id."""
        if self._done:
            self._done[-1].gesture = None

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_label(self) -> str | None:
        return self._done[-1].label if self._done else None

    @property
    def redo_label(self) -> str | None:
        return self._undone[-1].label if self._undone else None

    def mark_unsaved(self) -> None:
        """No state in the history is the saved one (recovered work, a document never saved)."""
        self._clean_index = None

    def mark_clean(self) -> None:
        self._clean_index = len(self._done)

    @property
    def is_clean(self) -> bool:
        return self._clean_index == len(self._done)
