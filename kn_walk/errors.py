"""Errors users see: one line saying what went wrong, one line saying what to do."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class KnwalkError(Exception):
    """A failure reported to the user without a traceback.

    ``message`` says what went wrong, ``hint`` what to do about it.
    ``exit_code`` is 1 for failures and 2 for usage errors.
    """

    def __init__(self, message: str, hint: str = "", *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(KnwalkError):
    """Bad input on the command line: exit code 2."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint, exit_code=EXIT_USAGE)
