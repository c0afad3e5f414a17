"""One sentence for the person using the app, from any error (the window and the workspace share it)."""

from __future__ import annotations

from latent_studio.core.errors import Cancelled, UserError
from latent_studio.core.keyframes import KeyframeError

EDIT_ERRORS = (UserError, KeyframeError)  # a refused edit: say why, change nothing


def describe(error: BaseException) -> str:
    """One sentence for the user: our own errors speak for themselves; anything else is a bug to report."""
    if isinstance(error, EDIT_ERRORS):
        text = str(error)
        first = text.split(" ", 1)[0].rstrip(":,;.")
        if any(mark in first for mark in "./\\"):  # a file name or path: "trunc.lsproj" must not become "Trunc.lsproj"
            return text
        return text[:1].upper() + text[1:]
    if isinstance(error, Cancelled):
        return "Cancelled."
    return f"Something went wrong ({type(error).__name__}: {error}). This is a bug; the details are in the log file."
