"""User-facing errors.

Every problem a user can cause (a missing file, a wrong band count, a malformed date) is raised as a
:class:`GeeFloodError` with a one-line message that names the file, argument or value and says what was expected.
The CLI prints that line and exits non-zero; it never shows a traceback for these. In Python they are also the
built-in exceptions they are (:class:`ValueError`, :class:`TypeError`, :class:`FileNotFoundError`), so
``except ValueError`` catches a bad value from gee-flood as from any library.
"""

from __future__ import annotations


class GeeFloodError(Exception):
    """A problem with the user's input or environment, reported as one line."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InputError(GeeFloodError, ValueError):
    """A file, argument or value is missing, unreadable or of the wrong form (also a :class:`ValueError`)."""


class InputTypeError(InputError, TypeError):
    """An argument of a type that is not accepted (also a :class:`TypeError`)."""


class InputNotFoundError(InputError, FileNotFoundError):
    """A file that does not exist (also a :class:`FileNotFoundError`)."""


class DataError(GeeFloodError, ValueError):
    """Data was readable but inconsistent (wrong shape, bounds mismatch, all-NaN...); also a :class:`ValueError`."""


class NotBuiltError(GeeFloodError):
    """A command that exists in the CLI surface but is not implemented yet."""

    exit_code = 3


class RemoteError(GeeFloodError):
    """A remote service (Earth Engine, Cloud Storage, HTTP) refused or failed a request."""


class GeeFloodWarning(UserWarning):
    """Something the user should know that does not stop the command (an ignored option, a suspect input).

    Raised with :func:`warnings.warn`; the command line prints it as one ``warning: <message>`` line (library
    warnings are not shown there: see :mod:`gee_flood._boundary`).
    """
