"""Password hashing with Argon2id (pwdlib) and the password rules."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes of "password" is a denial-of-service lever


class PasswordRejected(ValueError):
    """The password breaks a rule; the message says which."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    # pwdlib's Argon2 defaults are Argon2id with RFC 9106's second recommended profile.
    return PasswordHash((Argon2Hasher(),))


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters, not {len(password)}"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"password must be at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches. Without a stored hash a dummy hash is still verified,
    so a missing account takes as long as a wrong password."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False
    try:
        return _hasher().verify(password, password_hash)
    except Exception:  # a corrupt stored hash refuses rather than crashes
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not-a-real-password-for-timing")
