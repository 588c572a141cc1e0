"""The emulator's errors: what it answers to clients, and what it raises to the code that runs it.

:class:`EEError` is answered to the client as an Earth Engine error body (``{"error": {code, message, status}}``).
:class:`EmulatorError` and its subclasses are raised to the caller (a bad catalog, argument or file), each with a
one-line message that names the file, argument or value and says what was expected.
"""

from __future__ import annotations

from typing import Any

# HTTP status -> google.rpc status name, as Earth Engine reports them.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class EmulatorError(Exception):
    """A problem with the emulator's input or environment, reported as one line (whitespace collapsed)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InputError(EmulatorError):
    """A file, argument or value given to the emulator is missing, unreadable or of the wrong form."""


class DataError(EmulatorError):
    """Emulator data was readable but inconsistent (a malformed catalog record, a band-count mismatch...)."""


class EEError(Exception):
    """An error answered to the client as an Earth Engine error body.

    Attributes:
        message: The message the client library raises as ``ee.EEException``.
        code: HTTP status code.
        status: google.rpc status name (``INVALID_ARGUMENT``...).
    """

    def __init__(self, message: str, code: int = 400, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        """Return the JSON error body."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class NotImplementedAlgorithm(EEError):
    """An algorithm exists in Earth Engine but the emulator does not implement it (HTTP 400, never silent)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Earth Engine algorithm {name} is not implemented by the gee-flood emulator")
        self.name = name


def status_name(code: int) -> str:
    """Return the google.rpc status name for an HTTP status code."""
    return _STATUS_NAMES.get(code, "UNKNOWN")
