"""User-facing errors.

Every problem a user can cause (a wrong config key, a corrupt data set, a checkpoint of another model) raises
:class:`MspgsenError` with one sentence that says what is wrong and what to do. The CLI prints that sentence
and exits with status 2 instead of a traceback; library users can catch the class.
"""
from __future__ import annotations


class MspgsenError(Exception):
    """An error caused by the user's input, with a message meant to be read by a person."""


class ConfigError(MspgsenError):
    """The configuration names an unknown key, holds a value of the wrong type, or an impossible combination."""


class DataError(MspgsenError):
    """A data source is missing, empty, unreadable or of the wrong shape."""


class CheckpointError(MspgsenError):
    """A checkpoint is missing, corrupt, or belongs to another model or an incompatible version."""


class TrainingDiverged(MspgsenError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Interrupted(MspgsenError):
    """The user stopped the program (Ctrl-C, SIGTERM); ``code`` is the exit status scripts expect (130, 143)."""

    def __init__(self, message: str, code: int = 130) -> None:
        super().__init__(message)
        self.code = code
