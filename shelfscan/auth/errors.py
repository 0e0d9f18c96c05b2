"""Refusals of access control, as the service layer's error type (rendered by the app's
exception handlers in shelfscan's or Azure's shape)."""

from __future__ import annotations

from shelfscan.services.errors import ShelfscanError


class Unauthenticated(ShelfscanError):
    """No credentials, or credentials that are wrong, expired or revoked (401)."""

    http_status = 401

    def __init__(self, message: str = "authentication required", code: str = "unauthenticated"):
        super().__init__(code, message)


class Forbidden(ShelfscanError):
    """Known caller, wrong role (403)."""

    http_status = 403

    def __init__(self, message: str, code: str = "forbidden"):
        super().__init__(code, message)


class Throttled(ShelfscanError):
    """Too many failed logins for this account or address; ``retry_after_s`` says when."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: int):
        super().__init__("too_many_attempts", message)
        self.retry_after_s = retry_after_s
