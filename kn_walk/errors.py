"""Errors users see: one line saying what went wrong, one line saying what to do."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class KnwalkError(Exception):
    """A failure reported to the user without a traceback.

    ``message`` says what went wrong, ``hint`` what to do about it.
    ``exit_code`` is 1 for failures and 2 for usage errors. ``detail`` is what a
    user who asks for more sees too (``--debug``, or a command's ``--dry-run``):
    e.g. the field path and text the server would answer with.
    """

    def __init__(
        self, message: str, hint: str = "", *, exit_code: int = EXIT_FAILURE, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.detail = detail
        #: set by a command that shows ``detail`` without ``--debug`` (``--dry-run``)
        self.show_detail = False

    def __str__(self) -> str:
        return self.message


class UsageError(KnwalkError):
    """Bad input on the command line: exit code 2."""

    def __init__(self, message: str, hint: str = "", *, detail: str = "") -> None:
        super().__init__(message, hint, exit_code=EXIT_USAGE, detail=detail)


class ApiError(KnwalkError):
    """The Kubernetes API refused a request.

    ``message`` is the ``Status.message`` the server sent (never a traceback);
    ``status`` is the HTTP code and ``reason`` the ``Status.reason`` (``NotFound``,
    ``Conflict``, ...), so callers can tell a 409 to re-read from a 404 to report.
    """

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        status: int = 0,
        reason: str = "",
        exit_code: int = EXIT_FAILURE,
    ) -> None:
        super().__init__(message, hint, exit_code=exit_code)
        self.status = status
        self.reason = reason

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


class WaitTimeout(KnwalkError):
    """A watch-based wait passed its deadline; ``last`` is the last state seen (or None)."""

    def __init__(self, message: str, hint: str = "", *, last: object = None) -> None:
        super().__init__(message, hint)
        self.last = last
