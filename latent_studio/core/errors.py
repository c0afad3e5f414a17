"""Errors a user can act on.

Every error raised for bad input derives from ``UserError``; its message is one
or two sentences saying what is wrong and what to do. The CLI prints it without
a traceback; anything else reaching the top is a bug.
"""


class UserError(Exception):
    """Bad input or environment: the message tells the user what to do."""


class ModelError(UserError):
    """A model cannot be found, downloaded or loaded."""


class ImageError(UserError):
    """An input image cannot be read or prepared."""


class LatentFileError(UserError):
    """A latent file is unreadable or does not fit the model."""


class OutputError(UserError):
    """An output path cannot be written."""


class Cancelled(Exception):
    """A long operation was stopped by its cancel token; nothing half-made is returned."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl+C, so every writer removes its temporary output."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
