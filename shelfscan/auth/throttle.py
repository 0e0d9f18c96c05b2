"""Login throttling per account and per client address, with lock-out and back-off.

Failures are counted in a sliding window (``window_s``). Once an account has
``account_threshold`` failures since its last success, or an address ``address_threshold``
failures, further attempts are refused until ``base_delay_s * 2**(extra failures)`` (capped at
``max_delay_s``) after the latest failure — refused *before* the password is checked, so a
locked account cannot be guessed at all. The per-address limit is higher: many people share a
store's or an office's address. Rows live in ``login_attempts`` (so every process agrees);
a lock-out can be used to keep a known user out for at most ``max_delay_s`` — the price of
not letting passwords be guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shelfscan.auth.errors import Throttled
from shelfscan.auth.models import LoginAttempt
from shelfscan.db.base import utcnow


@dataclass(frozen=True)
class ThrottlePolicy:
    window_s: float = 900.0
    account_threshold: int = 5
    address_threshold: int = 20
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0


def _lock_until(failures: int, threshold: int, last: datetime, policy: ThrottlePolicy) -> datetime:
    extra = failures - threshold
    delay = min(policy.base_delay_s * (2 ** min(extra, 20)), policy.max_delay_s)
    return last + timedelta(seconds=delay)


def _failures(session: Session, *conditions) -> tuple[int, datetime | None]:  # type: ignore[no-untyped-def]
    count, last = session.execute(
        select(func.count(LoginAttempt.id), func.max(LoginAttempt.at)).where(
            LoginAttempt.succeeded.is_(False), *conditions
        )
    ).one()
    if last is not None and last.tzinfo is None:  # SQLite aggregates bypass the column type
        from datetime import UTC

        last = last.replace(tzinfo=UTC)
    return int(count), last


def check(
    session: Session,
    username: str,
    client_address: str | None,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> None:
    """Raise :class:`Throttled` while the account or the address is locked out."""
    now = now or utcnow()
    since = now - timedelta(seconds=policy.window_s)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)
        )
    )
    if last_success is not None and last_success.tzinfo is None:
        from datetime import UTC

        last_success = last_success.replace(tzinfo=UTC)
    account_since = max(since, last_success) if last_success else since
    count, last = _failures(
        session, LoginAttempt.username == username, LoginAttempt.at > account_since
    )
    if count >= policy.account_threshold and last is not None:
        until = _lock_until(count, policy.account_threshold, last, policy)
        if until > now:
            raise Throttled(
                "too many failed logins for this account; try again later",
                retry_after_s=max(1, int((until - now).total_seconds()) + 1),
            )
    if client_address:
        count, last = _failures(
            session, LoginAttempt.client_address == client_address, LoginAttempt.at > since
        )
        if count >= policy.address_threshold and last is not None:
            until = _lock_until(count, policy.address_threshold, last, policy)
            if until > now:
                raise Throttled(
                    "too many failed logins from this address; try again later",
                    retry_after_s=max(1, int((until - now).total_seconds()) + 1),
                )


def note(
    session: Session,
    username: str,
    client_address: str | None,
    succeeded: bool,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    session.add(
        LoginAttempt(
            username=username,
            client_address=client_address,
            succeeded=succeeded,
            reason=reason,
            at=now or utcnow(),
        )
    )
    session.flush()
