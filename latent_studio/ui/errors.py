"""Errors reach the user in the window (a banner that does not block) and a log file; none escapes the event loop."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from latent_studio.app.messages import EDIT_ERRORS, describe
from latent_studio.core.errors import Cancelled

__all__ = ["EDIT_ERRORS", "ErrorReporter", "apply_edit", "describe", "log", "setup_logging"]

log = logging.getLogger("latent_studio")


def setup_logging(folder: Path) -> Path:
    """Log to a rotating file in the app's data folder; returns the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "latent-studio.log"
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in log.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return path


def apply_edit(session, command, report: Callable[[str], None]) -> bool:
    """Apply an edit through the session; a refused one is reported in one sentence and changes nothing."""
    try:
        session.apply(command)
    except EDIT_ERRORS as exc:
        report(describe(exc))
        return False
    return True


class ErrorReporter(QObject):
    """Collects every error: logs it with its traceback and signals the window to show one line."""

    shown = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.messages: list[str] = []
        self._previous_hook = None

    def report(self, error: BaseException | str, context: str = "") -> None:
        if isinstance(error, BaseException):
            message = describe(error)
            if isinstance(error, (*EDIT_ERRORS, Cancelled)):
                log.warning("%s%s", f"{context}: " if context else "", message)
            else:
                log.error("%s%s", f"{context}: " if context else "",
                          "".join(traceback.format_exception(type(error), error, error.__traceback__)))
        else:
            message = error
            log.warning("%s", message)
        text = f"{context}: {message}" if context else message
        self.messages.append(text)
        self.shown.emit(text)

    def install(self) -> None:
        """Route exceptions raised in Qt slots (which PySide6 passes to sys.excepthook) here."""
        self._previous_hook = sys.excepthook
        sys.excepthook = self._hook

    def uninstall(self) -> None:
        if self._previous_hook is not None:
            sys.excepthook = self._previous_hook
            self._previous_hook = None

    def _hook(self, kind, error, tb) -> None:
        if error is None or not isinstance(error, Exception):
            (self._previous_hook or sys.__excepthook__)(kind, error, tb)
            return
        self.report(error.with_traceback(tb))
