"""Bearer secrets: API keys, device tokens, session tokens and enrolment codes.

Each secret is ``<kind>_<prefix>_<random>``: the prefix (random, not secret) finds the row and
is what lists and logs show; the whole secret is checked against a stored SHA-256.

Why SHA-256 and not Argon2 as for passwords: these secrets carry 192+ bits from the operating
system's CSPRNG, so a leaked hash cannot be brute-forced whatever the hash speed; a slow hash
only protects *low-entropy* secrets (what people choose). A fast hash keeps every API request
cheap — an Argon2 verify per request would cost tens of milliseconds and be a denial-of-service
lever. Enrolment codes are short (typed on a phone), so they are one-time, expire within
minutes, and the enrolment route is throttled like a login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum


class SecretKind(StrEnum):
    API_KEY = "ssk"
    DEVICE = "ssd"
    SESSION = "sss"


PREFIX_CHARS = 8
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: prefixes get read aloud


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly made secret: ``token`` is shown once; ``prefix`` and ``digest`` are stored."""

    token: str
    prefix: str
    digest: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)


def issue(kind: SecretKind) -> IssuedSecret:
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_CHARS))
    token = f"{kind.value}_{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedSecret(token=token, prefix=prefix, digest=digest(token))


def parse(token: str) -> tuple[SecretKind, str] | None:
    """``(kind, prefix)`` of a well-formed secret, else None (not one of ours)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or len(parts[1]) != PREFIX_CHARS or len(parts[2]) < 20:
        return None
    try:
        return SecretKind(parts[0]), parts[1]
    except ValueError:
        return None


ENROLMENT_CODE_LENGTH = 10
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def enrolment_code() -> str:
    """A code short enough to type on a phone (10 characters of 32: 50 bits)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_enrolment_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def csrf_token() -> str:
    return secrets.token_urlsafe(32)
