"""The two error classes: the user's mistakes and the library's own bugs.

`AppMultError` carries the file and line it concerns, so the command line can print it as
one ``file:line: problem`` line; `InternalError` is a bug of the library and surfaces with
its traceback.
"""

from __future__ import annotations

__all__ = ["AppMultError", "AppMultWarning", "InternalError"]


class AppMultError(Exception):
    """Bad input or a request that cannot be met; the message says what to change."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return where + self.message


class AppMultWarning(UserWarning):
    """Something in the input was repaired the way other tools repair it (e.g. ABC)."""


class InternalError(Exception):
    """A bug of appmult-char itself, never the user's fault."""
