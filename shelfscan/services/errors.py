"""The one error type of the service layer: what went wrong, for people and for programs.

Every refusal the services (and the routes' parsing) raise is a :class:`ShelfscanError` with a
machine-readable ``code``, a ``message`` naming what was wrong and where, the HTTP status it
answers with and, when one input is to blame, the ``field``. The app's exception handlers
(:mod:`shelfscan.api.errors`) render it: ``{"error": {"code", "message", "field"}}`` on
shelfscan's own API, Azure's ``{"error": {code, message, target, details, innererror}}`` with
an ``x-ms-error-code`` header on the Azure-compatible routes. Nothing here imports a web
framework, so the CLI and the workers raise and catch the same types.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShelfscanError(Exception):
    """A request refused for a reason the caller can act on.

    ``inner_code``, ``details`` and ``header_code`` only matter in Azure's error shape: the
    specific cause under a general ``code`` (``InvalidRequest`` / ``UnsupportedApiVersion``),
    one entry per bad argument, and the code the ``x-ms-error-code`` header carries (default:
    the inner code, else the code).
    """

    http_status: ClassVar[int] = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        http_status: int | None = None,
        inner_code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        header_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if http_status is not None:
            self.http_status = http_status  # type: ignore[misc]  # the instance's own status
        self.inner_code = inner_code
        self.details = details or []
        self.header_code = header_code or inner_code or code

    @property
    def status_code(self) -> int:
        """The HTTP status (the name the upload validation and older callers use)."""
        return self.http_status

    def as_dict(self) -> dict[str, Any]:
        """shelfscan's error body: ``{"code", "message", "field"}``."""
        return {"code": self.code, "message": self.message, "field": self.field}


class BadRequest(ShelfscanError):
    """Malformed or contradictory input (400)."""

    http_status = 400


class NotFound(ShelfscanError):
    """A store, bay, scan, planogram, version, run or file does not exist (404)."""

    http_status = 404


class Conflict(ShelfscanError):
    """The request contradicts what is stored or the state something is in (409)."""

    http_status = 409


class TooLarge(ShelfscanError):
    """A body, file or count over its limit (413)."""

    http_status = 413


class Invalid(ShelfscanError):
    """Well-formed input whose values are unacceptable (422)."""

    http_status = 422


class Unavailable(ShelfscanError):
    """A dependency (the detection model, storage) cannot serve the request now (503)."""

    http_status = 503
